package io.nydus.registry;

import java.time.Duration;
import java.util.Optional;

/**
 * How often and how long to retry a failed idempotent request: exponential backoff from
 * {@code initialDelay}, doubling up to {@code maxDelay}, for at most {@code maxAttempts}
 * attempts in all and no new attempt once {@code maxElapsed} has passed since the first.
 */
public record RetryPolicy(int maxAttempts, Duration initialDelay, Duration maxDelay,
        Duration maxElapsed) {

    /** Four attempts, 200 ms to 5 s apart, within one minute. */
    public static final RetryPolicy DEFAULT = new RetryPolicy(4, Duration.ofMillis(200),
            Duration.ofSeconds(5), Duration.ofMinutes(1));
    /** A single attempt. */
    public static final RetryPolicy NONE =
            new RetryPolicy(1, Duration.ZERO, Duration.ZERO, Duration.ZERO);

    /**
     * Returns a policy of {@code attempts} attempts in all, {@code delay} apart, with no time
     * limit beyond that, as upstream's nydusify retries its pushes.
     */
    public static RetryPolicy fixedDelay(int attempts, Duration delay) {
        // The time limit leaves a day for the requests themselves, so the count decides.
        return new RetryPolicy(attempts, delay, delay,
                delay.multipliedBy(Math.max(attempts, 1)).plus(Duration.ofDays(1)));
    }

    public RetryPolicy {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1, found "
                    + maxAttempts);
        }
        if (initialDelay.isNegative() || maxDelay.compareTo(initialDelay) < 0
                || maxElapsed.isNegative()) {
            throw new IllegalArgumentException("invalid retry delays: initial " + initialDelay
                    + ", max " + maxDelay + ", max elapsed " + maxElapsed);
        }
    }

    /** Returns the wait before attempt {@code attempt} (2 for the first retry). */
    public Duration delayBefore(int attempt) {
        int doublings = Math.min(attempt - 2, 30);
        Duration delay = initialDelay.multipliedBy(1L << doublings);
        return delay.compareTo(maxDelay) > 0 ? maxDelay : delay;
    }

    /**
     * Returns the wait before attempt {@code attempt}: the backoff, or the wait that the
     * server requested in {@code Retry-After} where that is longer.
     */
    Duration delayBefore(int attempt, Optional<Duration> requested) {
        Duration backoff = delayBefore(attempt);
        return requested.filter(wait -> wait.compareTo(backoff) > 0).orElse(backoff);
    }

    /** Returns whether attempt {@code attempt} may start after {@code elapsed} plus its delay. */
    boolean allows(int attempt, Duration elapsed) {
        return allows(attempt, elapsed, delayBefore(attempt));
    }

    /**
     * Returns whether attempt {@code attempt} may start after {@code elapsed} plus
     * {@code delay}, so that a server that requests a long wait ends the retries at once.
     */
    boolean allows(int attempt, Duration elapsed, Duration delay) {
        return attempt <= maxAttempts && elapsed.plus(delay).compareTo(maxElapsed) <= 0;
    }
}
