package io.nydus.storage;

import java.util.Arrays;

/**
 * The cost of an on-demand fetch on a storage's link, learned from the latest fetches: a fixed
 * part per request (the round trip and the registry's own work) and a part per byte (the link
 * rate). On a fast link with a long round trip, taking a chunk's neighbours into the same
 * request costs less than the request that a later read of them would make. On a slow link it
 * costs more. Scattered reads, such as the page faults of a program's libraries, often touch
 * neighbouring chunks.
 *
 * <p>The two parts are the Theil-Sen line through the samples: the median of the slopes between
 * pairs of fetches of different sizes, and the median of what each sample leaves for the fixed
 * part. Medians keep one slow request, as happens when a fetch waits for another, from moving
 * the estimate.
 *
 * <p>Instances are thread-safe.
 */
final class LinkCost {
    /** How many of the latest fetches the estimate uses. */
    static final int SAMPLES = 32;
    /** Fetches needed before the estimate is used at all. */
    static final int MIN_SAMPLES = 8;
    /** The smallest size difference between two fetches whose slope is counted, in bytes. */
    static final long MIN_SPREAD = 64 << 10;

    private final long[] bytes = new long[SAMPLES];
    private final long[] nanos = new long[SAMPLES];
    private int count;
    private int next;

    /** Records one fetch of {@code size} bytes in one request that took {@code elapsed} ns. */
    synchronized void record(long size, long elapsedNanos) {
        if (size <= 0 || elapsedNanos <= 0) {
            return;
        }
        bytes[next] = size;
        nanos[next] = elapsedNanos;
        next = (next + 1) % SAMPLES;
        count = Math.min(count + 1, SAMPLES);
    }

    /**
     * Returns how many extra bytes one request can take for at most {@code share} of a
     * request's fixed cost, or 0 while the fetches so far do not tell.
     *
     * @param share the part of a request's fixed cost worth spending, such as the chance that
     *     the extra bytes are read later
     */
    synchronized long bytesWorth(double share) {
        double slope = slope();
        if (Double.isNaN(slope)) {
            return 0;
        }
        double fixed = fixedNanos(slope);
        if (fixed <= 0) {
            return 0;
        }
        // A flat or falling line means the bytes cost nothing measurable, so only the caller's
        // own limit bounds the request.
        return slope <= 0 ? Long.MAX_VALUE : (long) Math.min(Long.MAX_VALUE, share * fixed / slope);
    }

    /** Returns the median slope in ns per byte, or NaN with too few samples. */
    private double slope() {
        if (count < MIN_SAMPLES) {
            return Double.NaN;
        }
        double[] slopes = new double[count * (count - 1) / 2];
        int n = 0;
        for (int i = 0; i < count; i++) {
            for (int j = i + 1; j < count; j++) {
                long spread = bytes[j] - bytes[i];
                if (Math.abs(spread) >= MIN_SPREAD) {
                    slopes[n++] = (double) (nanos[j] - nanos[i]) / spread;
                }
            }
        }
        return n < MIN_SAMPLES ? Double.NaN : median(slopes, n);
    }

    private double fixedNanos(double slope) {
        double[] rest = new double[count];
        for (int i = 0; i < count; i++) {
            rest[i] = nanos[i] - slope * bytes[i];
        }
        return median(rest, count);
    }

    private static double median(double[] values, int n) {
        Arrays.sort(values, 0, n);
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }
}
