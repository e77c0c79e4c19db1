package io.nydus.posix;

import java.time.Instant;

/**
 * A point in time as seconds since the epoch (negative before 1970) and nanoseconds, the C
 * {@code struct timespec}.
 *
 * <p>The nanoseconds are 0 to 999,999,999, or one of the markers {@code UTIME_NOW} and
 * {@code UTIME_OMIT} that only {@link Posix#utimensat} accepts; see {@link #now()} and
 * {@link #omit()}.
 *
 * @param seconds whole seconds since 1970-01-01T00:00:00Z
 * @param nanos nanoseconds added to {@code seconds}, never negative
 */
public record Timespec(long seconds, int nanos) {

    static final int UTIME_NOW = (1 << 30) - 1;
    static final int UTIME_OMIT = (1 << 30) - 2;
    private static final int NANOS_PER_SECOND = 1_000_000_000;

    /** Validates the nanoseconds. */
    public Timespec {
        boolean marker = seconds == 0 && (nanos == UTIME_NOW || nanos == UTIME_OMIT);
        if (!marker && (nanos < 0 || nanos >= NANOS_PER_SECOND)) {
            throw new IllegalArgumentException(
                    "nanoseconds must be 0 to 999999999, got " + nanos);
        }
    }

    /** Returns the time {@code seconds} after the epoch with no fraction. */
    public static Timespec ofSeconds(long seconds) {
        return new Timespec(seconds, 0);
    }

    /** Returns the time of {@code instant}. */
    public static Timespec of(Instant instant) {
        return new Timespec(instant.getEpochSecond(), instant.getNano());
    }

    /** Returns the marker that makes {@link Posix#utimensat} set the current time. */
    public static Timespec now() {
        return new Timespec(0, UTIME_NOW);
    }

    /** Returns the marker that makes {@link Posix#utimensat} leave a time unchanged. */
    public static Timespec omit() {
        return new Timespec(0, UTIME_OMIT);
    }

    /** Returns whether this is the {@link #now()} or {@link #omit()} marker. */
    public boolean isMarker() {
        return nanos >= NANOS_PER_SECOND;
    }

    /**
     * Returns the time as an instant.
     *
     * @throws IllegalStateException for the {@link #now()} and {@link #omit()} markers
     */
    public Instant toInstant() {
        if (isMarker()) {
            throw new IllegalStateException("a UTIME_NOW or UTIME_OMIT marker is not a time");
        }
        return Instant.ofEpochSecond(seconds, nanos);
    }

    /** Returns the time in ISO-8601 form, such as 1969-12-31T23:59:58.500Z, or the marker name. */
    @Override
    public String toString() {
        if (nanos == UTIME_NOW) {
            return "UTIME_NOW";
        }
        if (nanos == UTIME_OMIT) {
            return "UTIME_OMIT";
        }
        return toInstant().toString();
    }
}
