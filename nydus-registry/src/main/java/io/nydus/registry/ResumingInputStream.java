package io.nydus.registry;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A blob download that, when the connection fails mid-body, requests the rest with an HTTP
 * Range request from the first unread byte, as often as the {@link RetryPolicy} allows.
 */
final class ResumingInputStream extends InputStream {

    /** Opens the blob from byte {@code offset} to its end. */
    @FunctionalInterface
    interface Reopener {
        InputStream openFrom(long offset) throws IOException;
    }

    private static final Logger LOG = LoggerFactory.getLogger(ResumingInputStream.class);

    private final RequestTarget target;
    private final Reopener reopener;
    private final RetryPolicy retryPolicy;
    private final long start = System.nanoTime();
    private InputStream current;
    private long position;
    private int attempt = 1;

    ResumingInputStream(InputStream first, RequestTarget target, Reopener reopener,
            RetryPolicy retryPolicy) {
        this.current = first;
        this.target = target;
        this.reopener = reopener;
        this.retryPolicy = retryPolicy;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        while (true) {
            try {
                int n = current.read(buffer, offset, length);
                if (n > 0) {
                    position += n;
                }
                return n;
            } catch (RegistryException e) {
                throw e;
            } catch (IOException e) {
                resume(e);
            }
        }
    }

    private void resume(IOException failure) throws IOException {
        Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
        boolean interrupted = failure.getClass() == InterruptedIOException.class;
        if (interrupted || !retryPolicy.allows(attempt + 1, elapsed)) {
            throw failure;
        }
        attempt++;
        Duration delay = retryPolicy.delayBefore(attempt);
        LOG.warn("resuming {} at byte {} after {}: attempt {} of {} in {} ms", target.describe(),
                position, RegistryException.describe(failure), attempt, retryPolicy.maxAttempts(),
                delay.toMillis());
        closeQuietly();
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to resume "
                    + target.describe());
        }
        current = reopener.openFrom(position);
    }

    private void closeQuietly() {
        try {
            current.close();
        } catch (IOException e) {
            LOG.debug("closing the failed connection of {} failed: {}", target.describe(),
                    e.toString());
        }
    }

    @Override
    public void close() throws IOException {
        current.close();
    }
}
