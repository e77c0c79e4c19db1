package io.nydus.storage;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Lets a repeated log message through at most once per interval and counts the ones it
 * suppresses. With an interval of a minute, a failure of every chunk read, such as a full disk
 * under the blob cache, logs one line a minute instead of one per chunk. Thread-safe.
 */
final class LogThrottle {
    private final long intervalNanos;
    private final LongSupplier clock;
    private final AtomicLong last;
    private final AtomicLong suppressed = new AtomicLong();

    LogThrottle(Duration interval) {
        this(interval, System::nanoTime);
    }

    LogThrottle(Duration interval, LongSupplier nanoClock) {
        this.intervalNanos = interval.toNanos();
        this.clock = nanoClock;
        this.last = new AtomicLong(nanoClock.getAsLong() - intervalNanos);
    }

    /**
     * Returns how many messages were suppressed since the last logged one when this one may be
     * logged, or -1 when it is suppressed too.
     */
    long admit() {
        long now = clock.getAsLong();
        long previous = last.get();
        if (now - previous >= intervalNanos && last.compareAndSet(previous, now)) {
            return suppressed.getAndSet(0);
        }
        suppressed.incrementAndGet();
        return -1;
    }
}
