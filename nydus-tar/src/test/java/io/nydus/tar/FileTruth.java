package io.nydus.tar;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;

/**
 * What {@code stat}, {@code readlink}, {@code sha256sum} and {@code getfattr} report for one file
 * of a source tree: the facts an archive of the tree must reproduce.
 *
 * @param path the path relative to the tree root, normalized as {@link TarPaths#join} writes it
 * @param rawMode st_mode, file type bits included
 * @param sha256 the content digest of a regular file, else empty
 */
record FileTruth(
        Bytes path,
        int rawMode,
        long uid,
        long gid,
        long size,
        long mtimeSeconds,
        int mtimeNanos,
        long devMajor,
        long devMinor,
        long inode,
        Bytes linkTarget,
        String sha256,
        SequencedMap<Bytes, Bytes> xattrs) {

    private static final int FIELDS = 13;

    /**
     * Prints, per file of the tree in $1 and NUL-separated: path, mode (hex), uid, gid, size,
     * mtime seconds, mtime as text (for the nanoseconds), major and minor (hex), inode, symlink
     * target, sha256 of regular files, and getfattr's lines joined with \001.
     */
    private static final String SCRIPT = """
            cd "$1"
            find . -print0 | sort -z | while IFS= read -r -d '' f; do
              printf '%s\\0' "$f"
              stat --printf '%f\\0%u\\0%g\\0%s\\0%Y\\0%y\\0%t\\0%T\\0%i\\0' -- "$f"
              if [ -L "$f" ]; then readlink -n -- "$f"; fi
              printf '\\0'
              if [ -f "$f" ] && [ ! -L "$f" ]; then sha256sum < "$f" | cut -c1-64 | tr -d '\\n'; fi
              printf '\\0'
              { getfattr -d -m - -e hex --absolute-names -h -- "$f" 2>/dev/null || true; } \\
                | { grep -a -v -e '^#' -e '^$' || true; } | tr '\\n' '\\001'
              printf '\\0'
            done
            """;

    /** Returns the truth of every file under {@code root}, the root itself included. */
    static Map<Bytes, FileTruth> readTree(Path root) {
        byte[] output = Shell.run(SCRIPT, root.toString());
        List<byte[]> fields = splitNul(output);
        if (fields.size() % FIELDS != 0) {
            throw new AssertionError("truth script printed " + fields.size() + " fields");
        }
        Map<Bytes, FileTruth> files = new LinkedHashMap<>();
        for (int i = 0; i < fields.size(); i += FIELDS) {
            FileTruth truth = parse(fields.subList(i, i + FIELDS));
            files.put(truth.path(), truth);
        }
        return files;
    }

    /** Returns the type that a tar entry of this file has. */
    EntryType type() {
        return switch (rawMode & 0170000) {
            case 0100000 -> EntryType.FILE;
            case 0040000 -> EntryType.DIRECTORY;
            case 0120000 -> EntryType.SYMLINK;
            case 0020000 -> EntryType.CHAR_DEVICE;
            case 0060000 -> EntryType.BLOCK_DEVICE;
            case 0010000 -> EntryType.FIFO;
            default -> throw new AssertionError("unexpected file type in mode " + rawMode);
        };
    }

    private static FileTruth parse(List<byte[]> f) {
        Bytes path = TarPaths.join(TarPaths.normalize(Bytes.of(f.get(0))));
        String mtimeText = text(f.get(6));
        int dot = mtimeText.indexOf('.');
        int nanos = Integer.parseInt(mtimeText.substring(dot + 1, mtimeText.indexOf(' ', dot)));
        return new FileTruth(
                path,
                Integer.parseInt(text(f.get(1)), 16),
                Long.parseLong(text(f.get(2))),
                Long.parseLong(text(f.get(3))),
                Long.parseLong(text(f.get(4))),
                Long.parseLong(text(f.get(5))),
                nanos,
                Long.parseLong(text(f.get(7)), 16),
                Long.parseLong(text(f.get(8)), 16),
                Long.parseLong(text(f.get(9))),
                Bytes.of(f.get(10)),
                text(f.get(11)),
                parseXattrs(f.get(12)));
    }

    /** Parses getfattr lines "NAME=0xHEX"; NAME escapes bytes as \\ooo. */
    private static SequencedMap<Bytes, Bytes> parseXattrs(byte[] lines) {
        SequencedMap<Bytes, Bytes> xattrs = new LinkedHashMap<>();
        for (String line : text(lines).split("\u0001")) {
            if (line.isEmpty()) {
                continue;
            }
            int equals = line.indexOf('=');
            String name = equals < 0 ? line : line.substring(0, equals);
            String value = equals < 0 ? "" : line.substring(equals + 1);
            if (value.equals("\"\"") || value.equals("0x")) {
                value = "";
            } else if (value.startsWith("0x")) {
                value = value.substring(2);
            } else if (!value.isEmpty()) {
                throw new AssertionError("getfattr value not in hex: " + line);
            }
            xattrs.put(unescapeOctal(name), Bytes.of(HexFormat.of().parseHex(value)));
        }
        return xattrs;
    }

    private static Bytes unescapeOctal(String name) {
        byte[] raw = name.getBytes(StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == '\\' && i + 3 < raw.length && isOctal(raw[i + 1])
                    && isOctal(raw[i + 2]) && isOctal(raw[i + 3])) {
                out.write((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 + (raw[i + 3] - '0'));
                i += 3;
            } else {
                out.write(raw[i]);
            }
        }
        return Bytes.of(out.toByteArray());
    }

    private static boolean isOctal(byte b) {
        return b >= '0' && b <= '7';
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    private static List<byte[]> splitNul(byte[] output) {
        List<byte[]> fields = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < output.length; i++) {
            if (output[i] == 0) {
                byte[] field = new byte[i - start];
                System.arraycopy(output, start, field, 0, field.length);
                fields.add(field);
                start = i + 1;
            }
        }
        return fields;
    }
}
