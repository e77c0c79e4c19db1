package io.nydus.nydusify;

import io.nydus.testkit.Commands;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Compresses a layer tarball in less common forms that OCI layers may take. The gzip form is
 * two concatenated members whose headers carry the optional fields. The zstd form is two
 * concatenated frames with skippable frames around them, where zstd:chunked layers keep their
 * metadata. Both formats allow concatenation, and their reference tools decompress such a
 * file to the concatenated input.
 */
final class LayerCompression {
    private static final int FHCRC = 0x02;
    private static final int FEXTRA = 0x04;
    private static final int FNAME = 0x08;
    private static final int FCOMMENT = 0x10;
    private static final int OS_UNIX = 3;
    private static final int SKIPPABLE_MAGIC = 0x184D2A50;

    private LayerCompression() {
    }

    /**
     * Returns {@code data} as two gzip members split at {@code split}. Each member has the
     * FEXTRA, FNAME and FCOMMENT fields, and the first also has FHCRC, the header's CRC-16.
     */
    static byte[] gzipTwoMembers(byte[] data, int split, String name) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(gzipMember(Arrays.copyOfRange(data, 0, split), name + ".part1",
                "first member", true));
        out.writeBytes(gzipMember(Arrays.copyOfRange(data, split, data.length), name + ".part2",
                "second member", false));
        return out.toByteArray();
    }

    /**
     * Returns {@code tar} as two zstd frames split at {@code split}, made by the zstd tool,
     * with a skippable frame before, between and after them.
     */
    static byte[] zstdTwoFrames(Path tar, int split, Path workDir) throws IOException {
        byte[] data = Files.readAllBytes(tar);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(skippableFrame(0, "leading"));
        out.writeBytes(zstd(Arrays.copyOfRange(data, 0, split), workDir.resolve("frame1")));
        out.writeBytes(skippableFrame(7, "between"));
        out.writeBytes(zstd(Arrays.copyOfRange(data, split, data.length),
                workDir.resolve("frame2")));
        out.writeBytes(skippableFrame(15, "trailing"));
        return out.toByteArray();
    }

    /** Returns a skippable frame: one of 16 magic numbers, the data length, the data. */
    private static byte[] skippableFrame(int variant, String text) {
        byte[] data = text.getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream frame = new ByteArrayOutputStream();
        writeLittleEndian(frame, SKIPPABLE_MAGIC + variant, 4);
        writeLittleEndian(frame, data.length, 4);
        frame.writeBytes(data);
        return frame.toByteArray();
    }

    private static byte[] zstd(byte[] data, Path file) throws IOException {
        Files.write(file, data);
        Path compressed = Path.of(file + ".zst");
        Commands.run(List.of("zstd", "-q", "-f", "--check", file.toString(), "-o",
                compressed.toString()), SeedImage.TIMEOUT);
        return Files.readAllBytes(compressed);
    }

    private static byte[] gzipMember(byte[] data, String name, String comment,
            boolean headerCrc) {
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        header.write(0x1f);
        header.write(0x8b);
        header.write(Deflater.DEFLATED);
        header.write(FEXTRA | FNAME | FCOMMENT | (headerCrc ? FHCRC : 0));
        writeLittleEndian(header, 1_700_000_000L, 4);
        header.write(0);
        header.write(OS_UNIX);
        // One extra subfield: the ID "NJ", a 2-byte length and its data.
        byte[] subfield = "NJ\u0005\u0000extra".getBytes(StandardCharsets.ISO_8859_1);
        writeLittleEndian(header, subfield.length, 2);
        header.writeBytes(subfield);
        header.writeBytes(zeroTerminated(name));
        header.writeBytes(zeroTerminated(comment));
        if (headerCrc) {
            writeLittleEndian(header, crc32(header.toByteArray()) & 0xffff, 2);
        }

        ByteArrayOutputStream member = new ByteArrayOutputStream();
        member.writeBytes(header.toByteArray());
        member.writeBytes(deflate(data));
        writeLittleEndian(member, crc32(data), 4);
        writeLittleEndian(member, data.length & 0xffffffffL, 4);
        return member.toByteArray();
    }

    private static byte[] deflate(byte[] data) {
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        try {
            deflater.setInput(data);
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[1 << 16];
            while (!deflater.finished()) {
                out.write(buffer, 0, deflater.deflate(buffer));
            }
            return out.toByteArray();
        } finally {
            deflater.end();
        }
    }

    private static long crc32(byte[] data) {
        CRC32 crc = new CRC32();
        crc.update(data);
        return crc.getValue();
    }

    private static byte[] zeroTerminated(String text) {
        return (text + "\0").getBytes(StandardCharsets.ISO_8859_1);
    }

    private static void writeLittleEndian(ByteArrayOutputStream out, long value, int bytes) {
        for (int i = 0; i < bytes; i++) {
            out.write((int) (value >>> (8 * i)) & 0xff);
        }
    }
}
