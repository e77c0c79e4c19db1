package io.nydus.builder;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Writes a POSIX.1-2001 (PAX) tar archive. Every entry gets an extended header with its path,
 * owner and nanosecond mtime, so names, link targets and xattr values of any bytes survive.
 * Xattrs are {@code SCHILY.xattr.NAME} records as GNU tar writes them, with '%' and '=' in the
 * name percent-encoded. Paths that are not valid UTF-8 are stored as raw bytes without a
 * {@code hdrcharset} record, as GNU tar stores them, because GNU tar 1.34 warns about that
 * keyword. The ustar header that follows carries what fits into its fields.
 */
final class PaxTarWriter implements AutoCloseable {
    static final int BLOCK = 512;

    /** The ustar type flags this writer emits. */
    enum Type {
        REGULAR('0'), HARDLINK('1'), SYMLINK('2'), CHAR_DEVICE('3'), BLOCK_DEVICE('4'),
        DIRECTORY('5'), FIFO('6');

        private final char flag;

        Type(char flag) {
            this.flag = flag;
        }
    }

    /**
     * One entry's header.
     *
     * @param path the entry's path bytes, without a trailing '/'
     * @param size a regular file's size, holes included
     * @param linkTarget the symlink target or the hardlink's first name, else null
     * @param xattrs name and value pairs
     * @param dataRegions for a sparse regular file, the regions that hold data, in offset
     *     order; null for a file stored in full
     */
    record Header(byte[] path, Type type, int permissions, long uid, long gid,
            long mtimeSeconds, int mtimeNanos, long size, byte[] linkTarget, long devMajor,
            long devMinor, List<byte[][]> xattrs, List<Region> dataRegions) {
    }

    /** A data region of a sparse file. The bytes between regions are zeros. */
    record Region(long offset, long length) {
    }

    private static final long MAX_OCTAL_11 = 077777777777L;
    private static final long MAX_OCTAL_7 = 07777777L;

    private final OutputStream out;
    private long written;
    private long entryRemaining;
    private int paxCount;

    PaxTarWriter(OutputStream out) {
        this.out = out;
    }

    /**
     * Starts an entry. A regular file's {@code size} data bytes must follow, or for a sparse
     * file the bytes of its data regions, one region after the other.
     */
    void putEntry(Header h) throws IOException {
        if (entryRemaining != 0) {
            throw new IllegalStateException(entryRemaining + " data bytes of the previous entry"
                    + " are missing");
        }
        boolean sparse = h.type() == Type.REGULAR && h.dataRegions() != null;
        byte[] map = sparse ? sparseMap(h.dataRegions(), h.size()) : new byte[0];
        long dataSize = sparse ? dataSize(h.dataRegions()) : h.size();
        long stored = h.type() == Type.REGULAR ? map.length + dataSize : 0;
        byte[] name = entryName(h, sparse);
        byte[] pax = paxRecords(h, name, stored, sparse);
        paxCount++;
        byte[] paxName = ("PaxHeaders/" + paxCount).getBytes(StandardCharsets.US_ASCII);
        writeBlock(ustar(paxName, 'x', 0644, 0, 0, Math.max(0, h.mtimeSeconds()), pax.length,
                null, 0, 0));
        writeData(pax, 0, pax.length);
        pad(pax.length);
        writeBlock(ustar(name, h.type().flag, h.permissions(), h.uid(), h.gid(),
                h.mtimeSeconds(), stored, h.linkTarget(), h.devMajor(), h.devMinor()));
        writeData(map, 0, map.length);
        entryRemaining = h.type() == Type.REGULAR ? dataSize : 0;
    }

    /**
     * Returns the name in the entry's headers. A sparse file gets the placeholder
     * "DIR/GNUSparseFile.0/NAME", as GNU tar writes it, and its real path goes into the
     * GNU.sparse.name record. A tar without sparse support then extracts the map and data
     * into the placeholder, not into a wrong file under the real name.
     */
    private static byte[] entryName(Header h, boolean sparse) {
        if (h.type() == Type.DIRECTORY) {
            return append(h.path(), (byte) '/');
        }
        if (!sparse) {
            return h.path();
        }
        int slash = lastSlash(h.path());
        byte[] dir = Arrays.copyOfRange(h.path(), 0, slash + 1);
        byte[] base = Arrays.copyOfRange(h.path(), slash + 1, h.path().length);
        return concat(concat(dir, ascii("GNUSparseFile.0/")), base);
    }

    private static int lastSlash(byte[] path) {
        for (int i = path.length - 1; i >= 0; i--) {
            if (path[i] == '/') {
                return i;
            }
        }
        return -1;
    }

    /**
     * Encodes the GNU sparse 1.0 map that starts a sparse file's data: the number of regions
     * and each region's offset and length as decimal lines, padded to whole blocks. A file
     * that ends in a hole gets a last, empty region at its size, so readers know the size.
     */
    static byte[] sparseMap(List<Region> regions, long realSize) {
        List<Region> all = new java.util.ArrayList<>(regions);
        Region last = all.isEmpty() ? null : all.getLast();
        if (last == null || last.offset() + last.length() < realSize) {
            all.add(new Region(realSize, 0));
        }
        StringBuilder text = new StringBuilder().append(all.size()).append('\n');
        for (Region r : all) {
            text.append(r.offset()).append('\n').append(r.length()).append('\n');
        }
        byte[] bytes = ascii(text.toString());
        int padded = (bytes.length + BLOCK - 1) / BLOCK * BLOCK;
        return Arrays.copyOf(bytes, padded);
    }

    private static long dataSize(List<Region> regions) {
        long sum = 0;
        for (Region r : regions) {
            sum += r.length();
        }
        return sum;
    }

    /** Writes data of the current entry. */
    void write(byte[] data, int offset, int length) throws IOException {
        if (length > entryRemaining) {
            throw new IllegalStateException("entry data exceeds the declared size by "
                    + (length - entryRemaining) + " bytes");
        }
        writeData(data, offset, length);
        entryRemaining -= length;
        if (entryRemaining == 0) {
            pad(written);
        }
    }

    /** Writes the end-of-archive marker and leaves the stream open. */
    @Override
    public void close() throws IOException {
        if (entryRemaining != 0) {
            throw new IllegalStateException("the last entry lacks " + entryRemaining
                    + " data bytes");
        }
        writeData(new byte[2 * BLOCK], 0, 2 * BLOCK);
        out.flush();
    }

    private byte[] paxRecords(Header h, byte[] name, long stored, boolean sparse) {
        ByteArrayOutputStream records = new ByteArrayOutputStream();
        record(records, ascii("path"), name);
        if (sparse) {
            record(records, ascii("GNU.sparse.major"), ascii("1"));
            record(records, ascii("GNU.sparse.minor"), ascii("0"));
            record(records, ascii("GNU.sparse.name"), h.path());
            record(records, ascii("GNU.sparse.realsize"), ascii(Long.toString(h.size())));
        }
        if (h.linkTarget() != null) {
            record(records, ascii("linkpath"), h.linkTarget());
        }
        record(records, ascii("uid"), ascii(Long.toString(h.uid())));
        record(records, ascii("gid"), ascii(Long.toString(h.gid())));
        record(records, ascii("mtime"), ascii(paxTime(h.mtimeSeconds(), h.mtimeNanos())));
        if (stored > MAX_OCTAL_11) {
            record(records, ascii("size"), ascii(Long.toString(stored)));
        }
        if (h.devMajor() > MAX_OCTAL_7 || h.devMinor() > MAX_OCTAL_7) {
            record(records, ascii("SCHILY.devmajor"), ascii(Long.toString(h.devMajor())));
            record(records, ascii("SCHILY.devminor"), ascii(Long.toString(h.devMinor())));
        }
        for (byte[][] xattr : h.xattrs()) {
            record(records, concat(ascii("SCHILY.xattr."), percentEncode(xattr[0])), xattr[1]);
        }
        return records.toByteArray();
    }

    /** Formats seconds and nanoseconds as a PAX decimal time, with a '-' before 1970. */
    static String paxTime(long seconds, int nanos) {
        if (nanos == 0) {
            return Long.toString(seconds);
        }
        // Locale.ROOT, because a default locale such as ar-EG formats non-ASCII digits.
        if (seconds >= 0) {
            return seconds + "." + String.format(Locale.ROOT, "%09d", nanos);
        }
        // -1 s + 0.25 s is -0.75 s, so the whole part moves one toward zero.
        return "-" + (-(seconds + 1)) + "."
                + String.format(Locale.ROOT, "%09d", 1_000_000_000 - nanos);
    }

    /** Appends one "LENGTH KEY=VALUE\n" record, whose length counts its own digits. */
    private static void record(ByteArrayOutputStream out, byte[] key, byte[] value) {
        int body = key.length + value.length + 3;
        int length = body + Integer.toString(body).length();
        if (Integer.toString(length).length() != Integer.toString(body).length()) {
            length++;
        }
        out.writeBytes(ascii(Integer.toString(length)));
        out.write(' ');
        out.writeBytes(key);
        out.write('=');
        out.writeBytes(value);
        out.write('\n');
    }

    private static byte[] percentEncode(byte[] name) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(name.length);
        for (byte b : name) {
            if (b == '%' || b == '=') {
                out.writeBytes(ascii(String.format("%%%02X", b)));
            } else {
                out.write(b);
            }
        }
        return out.toByteArray();
    }

    private static byte[] ustar(byte[] name, char type, int permissions, long uid, long gid,
            long mtime, long size, byte[] linkTarget, long devMajor, long devMinor) {
        byte[] h = new byte[BLOCK];
        putText(h, 0, 100, name);
        putOctal(h, 100, 8, permissions);
        putOctal(h, 108, 8, Math.min(uid, MAX_OCTAL_7));
        putOctal(h, 116, 8, Math.min(gid, MAX_OCTAL_7));
        putOctal(h, 124, 12, Math.min(size, MAX_OCTAL_11));
        putOctal(h, 136, 12, Math.clamp(mtime, 0, MAX_OCTAL_11));
        h[156] = (byte) type;
        if (linkTarget != null) {
            putText(h, 157, 100, linkTarget);
        }
        System.arraycopy(ascii("ustar\0" + "00"), 0, h, 257, 8);
        putOctal(h, 329, 8, Math.min(devMajor, MAX_OCTAL_7));
        putOctal(h, 337, 8, Math.min(devMinor, MAX_OCTAL_7));
        Arrays.fill(h, 148, 156, (byte) ' ');
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xFF;
        }
        putOctal(h, 148, 7, sum);
        return h;
    }

    /** Stores as much of {@code text} as fits; the PAX header has the full value. */
    private static void putText(byte[] h, int offset, int length, byte[] text) {
        System.arraycopy(text, 0, h, offset, Math.min(length, text.length));
    }

    /** Stores {@code value} as zero-padded octal digits followed by a NUL. */
    private static void putOctal(byte[] h, int offset, int length, long value) {
        String digits = Long.toOctalString(value);
        String padded = "0".repeat(length - 1 - digits.length()) + digits;
        System.arraycopy(ascii(padded), 0, h, offset, length - 1);
    }

    private void writeBlock(byte[] block) throws IOException {
        writeData(block, 0, block.length);
    }

    private void writeData(byte[] data, int offset, int length) throws IOException {
        out.write(data, offset, length);
        written += length;
    }

    private void pad(long length) throws IOException {
        int rest = (int) (length % BLOCK);
        if (rest != 0) {
            writeData(new byte[BLOCK - rest], 0, BLOCK - rest);
        }
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] result = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, result, a.length, b.length);
        return result;
    }

    private static byte[] append(byte[] bytes, byte last) {
        byte[] result = Arrays.copyOf(bytes, bytes.length + 1);
        result[bytes.length] = last;
        return result;
    }
}
