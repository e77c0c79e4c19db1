package io.nydus.storage;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Lets a repeated log message through at most once per interval and counts the ones it holds
 * back. A failure that every chunk read hits, such as a full disk under the blob cache, then
 * gives one line a minute instead of one per chunk. Thread-safe.
 */
final class LogThrottle {
    private final long intervalNanos;
    private final LongSupplier clock;
    private final AtomicLong last;
    private final AtomicLong held = new AtomicLong();

    LogThrottle(Duration interval) {
        this(interval, System::nanoTime);
    }

    LogThrottle(Duration interval, LongSupplier nanoClock) {
        this.intervalNanos = interval.toNanos();
        this.clock = nanoClock;
        this.last = new AtomicLong(nanoClock.getAsLong() - intervalNanos);
    }

    /**
     * Returns how many messages were held back since the last one let through when this one
     * may be logged, or -1 when it is held back too.
     */
    long admit() {
        long now = clock.getAsLong();
        long previous = last.get();
        if (now - previous >= intervalNanos && last.compareAndSet(previous, now)) {
            return held.getAndSet(0);
        }
        held.incrementAndGet();
        return -1;
    }
}
