package io.nydus.storage;

import java.io.InterruptedIOException;

/**
 * Paces prefetch requests to {@code bytesPerSecond}: each request reserves its bytes and waits
 * until the bytes reserved before it have had their share of time. The first request starts at
 * once. A rate of 0 disables the limit.
 */
final class RateLimiter {
    private final long bytesPerSecond;
    private long nextFreeNanos = System.nanoTime();

    RateLimiter(long bytesPerSecond) {
        this.bytesPerSecond = bytesPerSecond;
    }

    boolean limited() {
        return bytesPerSecond > 0;
    }

    /** Waits until {@code bytes} more may be fetched. */
    void acquire(long bytes) throws InterruptedIOException {
        if (bytesPerSecond <= 0) {
            return;
        }
        long start;
        synchronized (this) {
            long now = System.nanoTime();
            start = Math.max(now, nextFreeNanos);
            nextFreeNanos = start + bytes * 1_000_000_000L / bytesPerSecond;
        }
        long wait = start - System.nanoTime();
        if (wait > 0) {
            try {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while pacing prefetch");
            }
        }
    }
}
