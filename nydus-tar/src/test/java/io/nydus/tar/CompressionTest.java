package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Gzip and zstd streams in their less common forms, detection, and errors of each layer. */
class CompressionTest {

    @TempDir
    static Path work;

    private static byte[] plain;
    private static List<ArchiveChecks.ReadEntry> expected;

    @BeforeAll
    static void makeArchive() throws IOException {
        Path tree = Files.createDirectory(work.resolve("tree"));
        SourceTrees.basic(tree);
        Path tarball = work.resolve("plain.tar");
        Shell.run("tar --format=pax -cf \"$1\" -C \"$2\" .", tarball.toString(), tree.toString());
        plain = Files.readAllBytes(tarball);
        expected = ArchiveChecks.readAll(tarball);
    }

    @Test
    void gzipHeaderFieldsAndTwoMembers() throws IOException {
        int half = plain.length / 2;
        ByteArrayOutputStream gzip = new ByteArrayOutputStream();
        gzip.writeBytes(gzipMemberWithAllHeaderFields(Arrays.copyOfRange(plain, 0, half)));
        gzip.writeBytes(gzipMember(Arrays.copyOfRange(plain, half, plain.length)));

        assertSameEntries(gzip.toByteArray(), Compression.GZIP);
    }

    @Test
    void gzipHeaderFieldsAreReallyThere() {
        byte[] member = gzipMemberWithAllHeaderFields(new byte[] {1, 2, 3});

        assertEquals(0x1e, member[3], "FLG has FHCRC, FEXTRA, FNAME and FCOMMENT");
        String text = new String(member, StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("layer.tar\0"), "FNAME");
        assertTrue(text.contains("a comment\0"), "FCOMMENT");
    }

    @Test
    void zstdFramesFromCommandLine() throws IOException {
        Path first = work.resolve("first");
        Path second = work.resolve("second");
        int cut = plain.length / 3;
        Files.write(first, Arrays.copyOfRange(plain, 0, cut));
        Files.write(second, Arrays.copyOfRange(plain, cut, plain.length));
        Path zstd = work.resolve("two-frames.tar.zst");
        Shell.run("zstd -q -c \"$1\" > \"$3\"; zstd -q -19 -c \"$2\" >> \"$3\"", first.toString(),
                second.toString(), zstd.toString());

        assertSameEntries(Files.readAllBytes(zstd), Compression.ZSTD);
    }

    @Test
    void zstdSkippableFrameFirst() throws IOException {
        ByteArrayOutputStream zstd = new ByteArrayOutputStream();
        zstd.writeBytes(skippableFrame("metadata".getBytes(StandardCharsets.US_ASCII)));
        zstd.writeBytes(com.github.luben.zstd.Zstd.compress(plain));

        assertSameEntries(zstd.toByteArray(), Compression.ZSTD);
    }

    @Test
    void explicitCompressionSkipsDetection() throws IOException {
        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(gzipMember(plain)),
                Compression.GZIP)) {
            assertEquals(Compression.GZIP, reader.compression());
            assertEquals(expected.size(), ArchiveChecks.readAll(reader).size());
        }
    }

    @Test
    void gzipReadAsPlainTarFails() throws IOException {
        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(gzipMember(plain)),
                Compression.NONE)) {
            TarFormatException error = assertThrows(TarFormatException.class, reader::next);
            assertTrue(error.getMessage().contains("invalid header checksum"),
                    error.getMessage());
        }
    }

    @Test
    void emptyGzipIsEmptyArchive() throws IOException {
        byte[] emptyGzip = gzipMember(new byte[0]);

        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(emptyGzip))) {
            assertEquals(Compression.GZIP, reader.compression());
            assertNull(reader.next());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Compression.class, names = {"GZIP", "ZSTD"})
    void compressedArchiveEndsWithoutEndBlocks(Compression compression)
            throws IOException {
        byte[] noEndBlocks = new TarBuilder().file("a", "x").file("b", "y").toBytes();
        byte[] stream = compression == Compression.GZIP
                ? gzipMember(noEndBlocks)
                : com.github.luben.zstd.Zstd.compress(noEndBlocks);
        byte[] cut = Arrays.copyOf(stream, stream.length - 4);

        List<String> names = new ArrayList<>();
        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(stream))) {
            for (TarEntry entry = reader.next(); entry != null; entry = reader.next()) {
                names.add(entry.name().toString());
            }
        }
        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(cut))) {
            TarFormatException error = assertThrows(TarFormatException.class, () -> {
                while (reader.next() != null) {
                    reader.content().readAllBytes();
                }
            });
            String message = error.getMessage();
            assertTrue(message.toLowerCase(Locale.ROOT).contains("truncated"), message);
        }

        assertEquals(List.of("a", "b"), names);
    }

    @Test
    void xzIsRejectedByName() {
        byte[] xz = {(byte) 0xfd, '7', 'z', 'X', 'Z', 0, 0, 4};

        TarFormatException error = assertThrows(TarFormatException.class,
                () -> TarArchive.open(new ByteArrayInputStream(xz)));

        assertTrue(error.getMessage().contains("unsupported tar stream compression xz"),
                error.getMessage());
    }

    @Test
    void invalidGzipHeaderIsFormatError() {
        byte[] broken = gzipMember(plain);
        broken[2] = 7;

        TarFormatException error = assertThrows(TarFormatException.class,
                () -> TarArchive.open(new ByteArrayInputStream(broken)));

        assertTrue(error.getMessage().contains("invalid gzip header"), error.getMessage());
    }

    @Test
    void gzipDataCorruptionNamesOffset() throws IOException {
        byte[] corrupt = gzipMember(plain);
        corrupt[corrupt.length - 6] ^= 0x55;

        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(corrupt))) {
            TarFormatException error = assertThrows(TarFormatException.class,
                    () -> ArchiveChecks.readAll(reader));
            assertTrue(error.getMessage().startsWith("invalid gzip stream in the data from tar offset 0x"),
                    error.getMessage());
        }
    }

    @Test
    void garbageAfterGzipIsError() throws IOException {
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        stream.writeBytes(gzipMember(plain));
        stream.writeBytes(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});

        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(stream.toByteArray()))) {
            TarFormatException error = assertThrows(TarFormatException.class,
                    () -> ArchiveChecks.readAll(reader));
            assertTrue(error.getMessage().contains("gzip"), error.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(Compression.class)
    void sourceErrorPassesThroughUnchanged(Compression compression) throws IOException {
        byte[] stream = switch (compression) {
            case NONE -> plain;
            case GZIP -> gzipMember(plain);
            case ZSTD -> com.github.luben.zstd.Zstd.compress(plain);
        };
        IOException diskError = new IOException("disk read failed");
        InputStream failing = new FilterInputStream(
                new ByteArrayInputStream(stream, 0, stream.length / 2)) {
            @Override
            public int read(byte[] buffer, int offset, int length) throws IOException {
                int count = super.read(buffer, offset, length);
                if (count < 0) {
                    throw diskError;
                }
                return count;
            }
        };

        try (TarReader reader = TarArchive.open(failing)) {
            IOException error = assertThrows(IOException.class,
                    () -> ArchiveChecks.readAll(reader));
            assertSame(diskError, error);
        }
    }

    private static void assertSameEntries(byte[] stream, Compression compression)
            throws IOException {
        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(stream))) {
            assertEquals(compression, reader.compression());
            assertEquals(expected, ArchiveChecks.readAll(reader));
        }
    }

    static byte[] gzipMember(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(out)) {
            gzip.write(data);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out.toByteArray();
    }

    /** Writes a gzip member (RFC 1952) with FEXTRA, FNAME, FCOMMENT and FHCRC set. */
    static byte[] gzipMemberWithAllHeaderFields(byte[] data) {
        ByteArrayOutputStream member = new ByteArrayOutputStream();
        member.writeBytes(new byte[] {0x1f, (byte) 0x8b, 8, 0x1e, 0x78, 0x56, 0x34, 0x12, 0, 3});
        byte[] extra = {'A', 'B', 4, 0, 'd', 'a', 't', 'a'};
        member.write(extra.length);
        member.write(0);
        member.writeBytes(extra);
        member.writeBytes("layer.tar\0".getBytes(StandardCharsets.ISO_8859_1));
        member.writeBytes("a comment\0".getBytes(StandardCharsets.ISO_8859_1));
        CRC32 headerCrc = new CRC32();
        headerCrc.update(member.toByteArray());
        member.write((int) headerCrc.getValue() & 0xff);
        member.write((int) (headerCrc.getValue() >> 8) & 0xff);

        Deflater deflater = new Deflater(6, true);
        deflater.setInput(data);
        deflater.finish();
        byte[] buffer = new byte[64 * 1024];
        while (!deflater.finished()) {
            member.write(buffer, 0, deflater.deflate(buffer));
        }
        deflater.end();

        CRC32 crc = new CRC32();
        crc.update(data);
        ByteBuffer trailer = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        trailer.putInt((int) crc.getValue()).putInt(data.length);
        member.writeBytes(trailer.array());
        return member.toByteArray();
    }

    private static byte[] skippableFrame(byte[] payload) {
        ByteBuffer frame = ByteBuffer.allocate(8 + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        frame.putInt(0x184d2a5a).putInt(payload.length).put(payload);
        return frame.array();
    }
}
