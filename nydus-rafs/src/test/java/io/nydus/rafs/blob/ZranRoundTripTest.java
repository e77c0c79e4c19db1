package io.nydus.rafs.blob;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Records ZRAN contexts for chunks of gzip streams and inflates each chunk again from its
 * context alone, with zlib through the FFM API.
 */
class ZranRoundTripTest {
    private static final int CHUNK = 64 << 10;

    /** Returns text-like bytes that compress to about a third, so blocks are many. */
    private static byte[] sample(int size, long seed) {
        Random random = new Random(seed);
        String[] words = {"nydus ", "chunk ", "gzip ", "layer ", "blob ", "zran ", "\n"};
        byte[] data = new byte[size];
        for (int i = 0; i < size; ) {
            byte[] w = words[random.nextInt(words.length)].getBytes();
            int n = Math.min(w.length, size - i);
            System.arraycopy(w, 0, data, i, n);
            i += n;
            if (i < size && random.nextInt(50) == 0) {
                data[i++] = (byte) random.nextInt(256);
            }
        }
        return data;
    }

    private static byte[] gzip(byte[] data, int from, int to) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data, from, to - from);
        }
        return out.toByteArray();
    }

    private record Cut(long offset, int length) {
    }

    /** Reads every cut as a chunk, then inflates each from its context and compares. */
    private static List<CiEntryV2> roundTrip(byte[] gz, byte[] plain, List<Cut> cuts)
            throws IOException {
        List<CiEntryV2> entries = new ArrayList<>();
        List<ZranContext> contexts;
        try (ZranGenerator generator = new ZranGenerator(new ByteArrayInputStream(gz), "test",
                CHUNK)) {
            byte[] buffer = new byte[CHUNK];
            for (Cut cut : cuts) {
                generator.skipTo(cut.offset());
                entries.add(generator.readChunk(buffer, cut.length()));
                assertArrayEquals(Arrays.copyOfRange(plain, (int) cut.offset(),
                        (int) cut.offset() + cut.length()), Arrays.copyOf(buffer, cut.length()));
            }
            contexts = generator.contexts();
            ZranGenerator.Digest digest = generator.finish();
            assertEquals(gz.length, digest.size());
            assertEquals(HexFormat.of().formatHex(DigestAlgorithm.SHA256.digest(gz, 0,
                    gz.length)), digest.sha256());
        }
        for (int i = 0; i < cuts.size(); i++) {
            CiEntryV2 e = entries.get(i);
            ZranContext c = contexts.get(e.zranIndex());
            byte[] input = Arrays.copyOfRange(gz, (int) c.inOffset(),
                    (int) (c.inOffset() + c.inLength()));
            byte[] chunk = ZranInflater.inflate(c, input, e.zranOffset(), e.uncompressedSize(),
                    "chunk " + i);
            Cut cut = cuts.get(i);
            assertArrayEquals(Arrays.copyOfRange(plain, (int) cut.offset(),
                    (int) cut.offset() + cut.length()), chunk, "chunk " + i);
        }
        return entries;
    }

    private static List<Cut> cuts(int size, int gap) {
        List<Cut> cuts = new ArrayList<>();
        for (long at = 512; at < size; at += CHUNK + gap) {
            cuts.add(new Cut(at, (int) Math.min(CHUNK, size - at)));
        }
        return cuts;
    }

    @Test
    void singleMemberChunksInflateFromTheirContexts() throws IOException {
        byte[] plain = sample(6 << 20, 1);
        List<CiEntryV2> entries = roundTrip(gzip(plain, 0, plain.length), plain,
                cuts(plain.length, 512));

        assertTrue(entries.getLast().zranIndex() > 1, "a 6 MiB stream needs several contexts");
    }

    @Test
    void chunksAcrossGzipMembersInflate() throws IOException {
        byte[] plain = sample(3 << 20, 2);
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        int[] splits = {0, 100_000, 100_001, 1_500_000, plain.length};
        for (int i = 0; i + 1 < splits.length; i++) {
            gz.write(gzip(plain, splits[i], splits[i + 1]));
        }

        roundTrip(gz.toByteArray(), plain, cuts(plain.length, 0));
    }

    @Test
    void streamEndingInsideChunkIsAnError() throws IOException {
        byte[] plain = sample(1 << 20, 3);
        byte[] gz = gzip(plain, 0, plain.length);
        byte[] cut = Arrays.copyOf(gz, gz.length / 2);

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> roundTrip(cut, plain, cuts(plain.length, 0)));
        assertTrue(e.getMessage().contains("the gzip stream ends"), e.getMessage());
    }

    @Test
    void corruptInputIsAnErrorNotWrongBytes() throws IOException {
        byte[] plain = sample(1 << 20, 4);
        byte[] gz = gzip(plain, 0, plain.length);
        List<CiEntryV2> entries = new ArrayList<>();
        List<ZranContext> contexts;
        try (ZranGenerator generator = new ZranGenerator(new ByteArrayInputStream(gz), "test",
                CHUNK)) {
            entries.add(generator.readChunk(new byte[CHUNK], CHUNK));
            contexts = generator.contexts();
        }
        ZranContext c = contexts.getFirst();
        byte[] input = Arrays.copyOfRange(gz, (int) c.inOffset(), (int) (c.inOffset()
                + c.inLength()));
        Arrays.fill(input, 0, input.length, (byte) 0xFF);

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ZranInflater.inflate(c, input, 0, CHUNK, "chunk 0"));
        assertTrue(e.getMessage().startsWith("chunk 0: "), e.getMessage());
    }

    @Test
    void chunkSpanningMoreThan24BitsIsRejected() throws IOException {
        int chunkSize = 16 << 20;
        byte[] plain = new byte[chunkSize];
        new Random(5).nextBytes(plain);
        byte[] gz = gzip(plain, 0, plain.length);

        try (ZranGenerator generator = new ZranGenerator(new ByteArrayInputStream(gz),
                "layer.tar.gz", chunkSize)) {
            RafsFormatException e = assertThrows(RafsFormatException.class,
                    () -> generator.readChunk(new byte[chunkSize], chunkSize));
            assertTrue(e.getMessage().startsWith("layer.tar.gz: chunk at inflated offset 0 "),
                    e.getMessage());
            assertTrue(e.getMessage().contains("compressed bytes"), e.getMessage());
        }
    }

    @Test
    void contextPastReadLimitIsRejected() throws IOException {
        long matches = (CiTableV2.MAX_OUT_LENGTH + CHUNK) / 258 + 1;
        byte[] gz = oneBlockOfZeros(matches);

        try (ZranGenerator generator = new ZranGenerator(new ByteArrayInputStream(gz),
                "layer.tar.gz", CHUNK)) {
            byte[] buffer = new byte[CHUNK];
            RafsFormatException e = assertThrows(RafsFormatException.class, () -> {
                for (long read = 0; read + CHUNK <= 1 + 258 * matches; read += CHUNK) {
                    generator.readChunk(buffer, CHUNK);
                }
            });
            assertTrue(e.getMessage().startsWith("layer.tar.gz: ZRAN context "),
                    e.getMessage());
            assertTrue(e.getMessage().contains(" at compressed offset 10 "), e.getMessage());
            assertTrue(e.getMessage().contains("limit of " + CiTableV2.MAX_OUT_LENGTH), e.getMessage());
        }
    }

    /**
     * Returns a gzip member whose one fixed Huffman block inflates to a zero byte and
     * {@code matches} copies of 258 zeros, which no block boundary interrupts.
     */
    private static byte[] oneBlockOfZeros(long matches) {
        BitWriter bits = new BitWriter();
        bits.write(1, 1);
        bits.write(1, 2);
        bits.writeCode(0x30, 8);
        for (long i = 0; i < matches; i++) {
            bits.writeCode(0xC5, 8);
            bits.writeCode(0, 5);
        }
        bits.writeCode(0, 7);
        byte[] deflate = bits.toByteArray();
        long size = 1 + 258 * matches;
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        byte[] zeros = new byte[258];
        crc.update(zeros, 0, 1);
        for (long i = 0; i < matches; i++) {
            crc.update(zeros);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff});
        out.writeBytes(deflate);
        writeIntLittleEndian(out, (int) crc.getValue());
        writeIntLittleEndian(out, (int) size);
        return out.toByteArray();
    }

    private static void writeIntLittleEndian(ByteArrayOutputStream out, int value) {
        for (int i = 0; i < 4; i++) {
            out.write(value >>> (8 * i));
        }
    }

    /** Deflate's bit order: fields from the lowest bit up, Huffman codes from their top bit. */
    private static final class BitWriter {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private int buffer;
        private int count;

        void write(int value, int length) {
            for (int i = 0; i < length; i++) {
                put((value >>> i) & 1);
            }
        }

        void writeCode(int code, int length) {
            for (int i = length - 1; i >= 0; i--) {
                put((code >>> i) & 1);
            }
        }

        private void put(int bit) {
            buffer |= bit << count;
            if (++count == 8) {
                out.write(buffer);
                buffer = 0;
                count = 0;
            }
        }

        byte[] toByteArray() {
            if (count > 0) {
                out.write(buffer);
            }
            return out.toByteArray();
        }
    }
}
