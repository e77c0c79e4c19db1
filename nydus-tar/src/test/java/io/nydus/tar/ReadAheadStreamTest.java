package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

class ReadAheadStreamTest {

    private static final Duration LIMIT = Duration.ofSeconds(20);

    /**
     * A source over {@code data} whose reads return a few bytes at a time, with a read of no
     * bytes now and then, and that records reads started after it was closed and reads in
     * progress. Each read takes {@code delayMillis}.
     */
    private static final class ChoppySource extends InputStream {
        private final byte[] data;
        private final long delayMillis;
        private final Random random = new Random(7);
        private int position;
        final AtomicBoolean closed = new AtomicBoolean();
        final AtomicInteger readsAfterClose = new AtomicInteger();
        final AtomicInteger readsInProgress = new AtomicInteger();

        ChoppySource(byte[] data) {
            this(data, 0);
        }

        ChoppySource(byte[] data, long delayMillis) {
            this.data = data;
            this.delayMillis = delayMillis;
        }

        @Override
        public int read() {
            throw new UnsupportedOperationException();
        }

        @Override
        public int read(byte[] target, int offset, int length) {
            if (closed.get()) {
                readsAfterClose.incrementAndGet();
            }
            readsInProgress.incrementAndGet();
            try {
                // Like a disk read, the wait ignores interrupts.
                long end = System.nanoTime() + delayMillis * 1_000_000;
                while (System.nanoTime() < end) {
                    LockSupport.parkNanos(end - System.nanoTime());
                }
                return readNow(target, offset, length);
            } finally {
                readsInProgress.decrementAndGet();
            }
        }

        private int readNow(byte[] target, int offset, int length) {
            if (position == data.length) {
                return -1;
            }
            if (random.nextInt(10) == 0) {
                return 0;
            }
            int count = Math.min(Math.min(length, 1 + random.nextInt(70_000)),
                    data.length - position);
            System.arraycopy(data, position, target, offset, count);
            position += count;
            return count;
        }

        @Override
        public void close() {
            closed.set(true);
        }
    }

    private static byte[] randomBytes(int size) {
        byte[] data = new byte[size];
        new Random(size).nextBytes(data);
        return data;
    }

    /** Reads to the end with reads of varying size, passing reads of no bytes over. */
    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random sizes = new Random(3);
        byte[] buffer = new byte[1 << 20];
        while (true) {
            int count = in.read(buffer, 0, 1 + sizes.nextInt(buffer.length));
            if (count < 0) {
                return out.toByteArray();
            }
            out.write(buffer, 0, count);
        }
    }

    @Test
    void passesEveryByteInOrder() throws IOException {
        byte[] data = randomBytes(5 * 1024 * 1024 + 17);
        ChoppySource source = new ChoppySource(data);
        try (ReadAheadStream in = new ReadAheadStream(source)) {
            assertArrayEquals(data, assertTimeoutPreemptively(LIMIT, () -> readAll(in)));
            assertEquals(-1, in.read(new byte[8], 0, 8), "a read after the end");
        }
        assertTrue(source.closed.get());
    }

    @Test
    void singleByteReadsMatch() throws IOException {
        byte[] data = randomBytes(300_000);
        try (ReadAheadStream in = new ReadAheadStream(new ChoppySource(data))) {
            for (int i = 0; i < data.length; i++) {
                assertEquals(data[i] & 0xff, in.read(), "byte " + i);
            }
            assertEquals(-1, in.read());
        }
    }

    @Test
    void sourceErrorFollowsEarlierBytes() throws IOException {
        byte[] data = randomBytes(700_000);
        IOException failure = new IOException("disk gone");
        InputStream failing = new InputStream() {
            private final InputStream bytes = new ChoppySource(data);

            @Override
            public int read() {
                throw new UnsupportedOperationException();
            }

            @Override
            public int read(byte[] target, int offset, int length) throws IOException {
                int count = bytes.read(target, offset, length);
                if (count < 0) {
                    throw failure;
                }
                return count;
            }
        };
        try (ReadAheadStream in = new ReadAheadStream(failing)) {
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            byte[] buffer = new byte[4096];
            IOException thrown = assertThrows(IOException.class, () -> {
                int count;
                while ((count = in.read(buffer, 0, buffer.length)) >= 0) {
                    seen.write(buffer, 0, count);
                }
            });
            assertSame(failure, thrown);
            assertArrayEquals(data, seen.toByteArray());
            assertSame(failure, assertThrows(IOException.class,
                    () -> in.read(buffer, 0, 1)), "the error stays");
        }
    }

    @Test
    void closeStopsReadingTheSource() throws Exception {
        byte[] data = randomBytes(20 * 1024 * 1024);
        ChoppySource source = new ChoppySource(data, 5);
        ReadAheadStream in = new ReadAheadStream(source);
        assertEquals(100, in.readNBytes(new byte[100], 0, 100));
        assertTimeoutPreemptively(LIMIT, in::close);
        assertEquals(0, source.readsInProgress.get(), "a read was still running after close");
        assertTrue(source.closed.get());
        Thread.sleep(50);
        assertEquals(0, source.readsAfterClose.get(), "the source was read after close");
        assertThrows(IOException.class, () -> in.read(new byte[1], 0, 1));
    }

    @Test
    void closeEndsBlockedSourceRead() {
        CountDownLatch blocked = new CountDownLatch(1);
        CountDownLatch released = new CountDownLatch(1);
        InputStream stalled = new InputStream() {
            @Override
            public int read() {
                throw new UnsupportedOperationException();
            }

            @Override
            public int read(byte[] target, int offset, int length) throws IOException {
                blocked.countDown();
                // Acts as a socket read that only a close of the socket ends.
                while (true) {
                    try {
                        released.await();
                        throw new IOException("socket closed");
                    } catch (InterruptedException e) {
                        // Ignored, as a blocking socket read ignores interrupts.
                    }
                }
            }

            @Override
            public void close() {
                released.countDown();
            }
        };
        assertTimeoutPreemptively(LIMIT, () -> {
            ReadAheadStream in = new ReadAheadStream(stalled);
            blocked.await();
            in.close();
        });
        assertEquals(0, released.getCount(), "the source was not closed");
    }

    @Test
    void interruptedReadRaisesSourceError() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        InputStream silent = new InputStream() {
            @Override
            public int read() {
                throw new UnsupportedOperationException();
            }

            @Override
            public int read(byte[] target, int offset, int length) throws IOException {
                try {
                    never.await();
                } catch (InterruptedException e) {
                    throw new InterruptedIOException("closed");
                }
                return -1;
            }
        };
        try (ReadAheadStream in = new ReadAheadStream(silent)) {
            Thread.currentThread().interrupt();
            SourceStream.SourceException thrown = assertThrows(
                    SourceStream.SourceException.class, () -> in.read(new byte[1], 0, 1));
            assertTrue(thrown.sourceError() instanceof InterruptedIOException);
            assertTrue(Thread.interrupted(), "the interrupt is kept");
        }
        assertFalse(Thread.currentThread().isInterrupted());
    }
}
