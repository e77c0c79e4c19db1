package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * The tar reader with its read-ahead thread: errors are reported as soon as their bytes
 * arrive and near where the data ends, and no thread outlives its reader.
 */
class TarReaderReadAheadTest {

    /**
     * A source that returns {@code head} and then blocks until {@link #release} is counted
     * down, ignoring interrupts as a read of a pipe or a FIFO does.
     */
    private static final class StallingSource extends InputStream {
        private final byte[] head;
        private int position;
        final CountDownLatch release = new CountDownLatch(1);

        StallingSource(byte[] head) {
            this.head = head;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] target, int offset, int length) {
            if (position < head.length) {
                int count = Math.min(length, head.length - position);
                System.arraycopy(head, position, target, offset, count);
                position += count;
                return count;
            }
            boolean interrupted = false;
            while (release.getCount() > 0) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            return -1;
        }
    }

    /** Returns a 512-byte block that is not a tar header: its checksum is not a number. */
    private static byte[] garbageHeader() {
        byte[] block = new byte[512];
        new Random(1).nextBytes(block);
        return block;
    }

    @Test
    void corruptHeaderReportedBeforeSourceEnds() {
        StallingSource source = new StallingSource(garbageHeader());
        try {
            // The bad header is reported as soon as its 512 bytes have arrived, whatever the
            // source does next.
            assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
                try (TarReader reader = TarArchive.open(source, Compression.NONE)) {
                    assertThrows(TarFormatException.class, reader::next);
                }
            });
        } finally {
            source.release.countDown();
        }
    }

    @Test
    void closeReturnsPromptlyWithStalledSource() throws IOException {
        // One full read-ahead buffer arrives, so the reader sees the bad header, while the
        // read-ahead thread is blocked in a read that ignores interrupts.
        byte[] head = new byte[512 + 300_000];
        System.arraycopy(garbageHeader(), 0, head, 0, 512);
        StallingSource source = new StallingSource(head);
        try {
            TarReader reader = TarArchive.open(source, Compression.NONE);
            assertThrows(TarFormatException.class, reader::next);
            long started = System.nanoTime();
            reader.close();
            long millis = (System.nanoTime() - started) / 1_000_000;
            assertTrue(millis < 5_000, "close took " + millis + " ms");
        } finally {
            source.release.countDown();
        }
    }

    /** Writes a tar of {@code count} files of 2,000 random bytes named f0000, f0001 and on. */
    private static byte[] smallFilesTar(int count) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random random = new Random(3);
        for (int i = 0; i < count; i++) {
            byte[] data = new byte[2000];
            random.nextBytes(data);
            out.write(header(String.format("f%04d", i), data.length));
            out.write(data);
            out.write(new byte[512 - data.length % 512]);
        }
        out.write(new byte[1024]);
        return out.toByteArray();
    }

    private static byte[] header(String name, int size) {
        byte[] block = new byte[512];
        put(block, 0, name);
        put(block, 100, "0000644");
        put(block, 108, "0000000");
        put(block, 116, "0000000");
        put(block, 124, String.format("%011o", size));
        put(block, 136, "00000000000");
        block[156] = '0';
        put(block, 257, "ustar");
        put(block, 263, "00");
        Arrays.fill(block, 148, 156, (byte) ' ');
        int sum = 0;
        for (byte b : block) {
            sum += b & 0xff;
        }
        put(block, 148, String.format("%06o", sum));
        block[154] = 0;
        return block;
    }

    private static void put(byte[] block, int offset, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(bytes, 0, block, offset, bytes.length);
    }

    /** Returns how many bytes a gzip decoder recovers from a truncated stream. */
    private static long recoverable(byte[] gzip) throws IOException {
        long total = 0;
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gzip))) {
            byte[] buffer = new byte[512];
            int count;
            while ((count = in.read(buffer)) > 0) {
                total += count;
            }
        } catch (EOFException e) {
            // Expected: the stream is truncated.
        }
        return total;
    }

    @Test
    void truncatedGzipNamesEntryWhereDataEnds() throws IOException {
        byte[] tar = smallFilesTar(600);
        ByteArrayOutputStream compressed = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(compressed)) {
            gzip.write(tar);
        }
        byte[] whole = compressed.toByteArray();
        byte[] cut = Arrays.copyOf(whole, whole.length - 20_000);
        long available = recoverable(cut);

        TarFormatException error;
        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(cut))) {
            error = assertThrows(TarFormatException.class, () -> {
                TarEntry entry;
                while ((entry = reader.next()) != null) {
                    reader.content().transferTo(OutputStream.nullOutputStream());
                }
            });
        }
        // The end is reported within 64 KiB (one read of the decompressor) of the bytes that
        // a gzip decoder recovers, so the message names an entry near the one where the data
        // ends. Each entry takes 512 + 2,048 bytes.
        long distance = available - error.offset();
        assertTrue(distance >= 0, "recoverable bytes " + available + ", message: "
                + error.getMessage());
        assertTrue(distance < 65536, "recoverable bytes " + available + ", message: "
                + error.getMessage());
        Matcher entry = Pattern.compile("tar entry (\\d+)").matcher(error.getMessage());
        assertTrue(entry.find(), error.getMessage());
        long minimumEntry = (available - 65536) / 2560;
        assertTrue(Long.parseLong(entry.group(1)) >= minimumEntry, "expected an entry from "
                + minimumEntry + " on, message: " + error.getMessage());
    }

    @Test
    void noReadAheadThreadsLeftAfterEarlyClose() throws Exception {
        byte[] tar = smallFilesTar(200);
        for (int i = 0; i < 200; i++) {
            try (TarReader reader = TarArchive.open(new ByteArrayInputStream(tar))) {
                reader.next();
            }
        }
        Thread.sleep(200);
        long live = Thread.getAllStackTraces().keySet().stream()
                .filter(thread -> thread.getName().equals("tar-read-ahead"))
                .filter(Thread::isAlive)
                .count();
        assertEquals(0, live);
    }
}
