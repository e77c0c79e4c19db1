package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The source reader's record of source failures, apart from failures of requests. */
class SourceReaderTest {

    private static final byte[] DATA = TestBlobs.random(4096, 5);
    private static final RequestTarget TARGET = RequestTarget.blob(
            new Repository("127.0.0.1:5000", "source-reader"), Digest.of(DATA));

    @Test
    void retiredStreamFailureIsIgnored() throws Exception {
        // The second open waits, as a slow reopen or skip does, until the earlier request's
        // read of the stream that the rewind closed has failed.
        CountDownLatch reopening = new CountDownLatch(1);
        CountDownLatch oldStreamRead = new CountDownLatch(1);
        AtomicInteger opens = new AtomicInteger();
        BlobSource source = () -> {
            if (opens.incrementAndGet() > 1) {
                reopening.countDown();
                await(oldStreamRead);
            }
            return closable(new ByteArrayInputStream(DATA));
        };

        try (SourceReader reader = new SourceReader(TARGET, source)) {
            BlobSource part = reader.nextPart();
            InputStream firstAttempt = part.open();
            firstAttempt.readNBytes(100);

            CompletableFuture<InputStream> secondAttempt = CompletableFuture.supplyAsync(() -> {
                try {
                    return part.open();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            assertTrue(reopening.await(10, TimeUnit.SECONDS));
            IOException closed = assertThrows(IOException.class,
                    () -> firstAttempt.readNBytes(100));
            oldStreamRead.countDown();
            InputStream resent = secondAttempt.get(10, TimeUnit.SECONDS);

            assertEquals("stream closed", closed.getMessage());
            assertNull(reader.sourceFailure());
            assertEquals(DATA.length, resent.readAllBytes().length);
        }
    }

    @Test
    void currentStreamFailureIsRecorded() throws Exception {
        IOException failure = new IOException("source checksum mismatch");
        BlobSource source = () -> new InputStream() {
            @Override
            public int read() throws IOException {
                throw failure;
            }
        };

        try (SourceReader reader = new SourceReader(TARGET, source)) {
            InputStream attempt = reader.nextPart().open();

            assertThrows(IOException.class, attempt::read);
            assertEquals(failure, reader.sourceFailure());
        }
    }

    /** Returns a stream whose reads fail once it is closed, as those of a file stream do. */
    private static InputStream closable(InputStream in) {
        return new FilterInputStream(in) {
            private volatile boolean closed;

            @Override
            public int read(byte[] buffer, int offset, int length) throws IOException {
                if (closed) {
                    throw new IOException("stream closed");
                }
                return super.read(buffer, offset, length);
            }

            @Override
            public void close() throws IOException {
                closed = true;
                super.close();
            }
        };
    }

    private static void await(CountDownLatch latch) throws IOException {
        try {
            if (!latch.await(10, TimeUnit.SECONDS)) {
                throw new IOException("the earlier attempt did not read within 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while reopening");
        }
    }
}
