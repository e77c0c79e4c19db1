package io.nydus.storage;

import java.time.Duration;

/**
 * The on-demand fetches of a mounted image: how many are in flight and when the last one
 * ended, so that background fetching of whole blobs waits while a program reads. On a slow
 * link a background request in flight delays every read that starts after it.
 */
final class DemandActivity {
    private final long quietNanos;
    private int active;
    private long lastEndNanos;

    /**
     * @param quiet how long no on-demand fetch must have run before background fetching
     *     goes on
     */
    DemandActivity(Duration quiet) {
        this.quietNanos = quiet.toNanos();
        this.lastEndNanos = System.nanoTime();
    }

    synchronized void begin() {
        active++;
    }

    synchronized void end() {
        active--;
        lastEndNanos = System.nanoTime();
        notifyAll();
    }

    /**
     * Waits until no on-demand fetch is in flight and none has ended within the quiet time.
     * The quiet time also runs from the storage's opening, because a program's first reads
     * follow its mount.
     */
    synchronized void awaitQuiet() throws InterruptedException {
        while (true) {
            if (active > 0) {
                wait();
                continue;
            }
            long idle = System.nanoTime() - lastEndNanos;
            if (idle >= quietNanos) {
                return;
            }
            long millis = Math.max(1, (quietNanos - idle) / 1_000_000);
            wait(millis);
        }
    }
}
