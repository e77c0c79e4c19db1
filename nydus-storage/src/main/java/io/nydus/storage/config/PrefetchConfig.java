package io.nydus.storage.config;

/**
 * Background fetching of chunks before they are read ({@code fs_prefetch}).
 *
 * @param enable whether prefetch runs at all
 * @param threadsCount worker threads, 1 to 1024
 * @param mergingSize the largest backend request prefetch makes, in bytes
 * @param bandwidthRate the most bytes per second prefetch fetches, 0 for no limit
 * @param prefetchAll whether every chunk of every blob is fetched after the listed files
 * @param demandQuietMs how long, in milliseconds, no on-demand fetch may have run before the
 *     fetch of every chunk goes on ({@code demand_quiet_ms}). A program's start is a burst of
 *     reads whose requests would otherwise queue behind whole-blob requests on the link
 */
public record PrefetchConfig(boolean enable, int threadsCount, int mergingSize,
        long bandwidthRate, boolean prefetchAll, long demandQuietMs) {

    public static final int DEFAULT_THREADS = 8;
    public static final int MAX_THREADS = 1024;
    public static final int DEFAULT_MERGING_SIZE = 1 << 20;
    /** Smaller merging sizes are raised to this, as in upstream nydusd. */
    public static final int MIN_MERGING_SIZE = 128 << 10;
    public static final int MAX_MERGING_SIZE = 256 << 20;
    public static final long DEFAULT_DEMAND_QUIET_MS = 3000;

    public PrefetchConfig {
        if (threadsCount < 1 || threadsCount > MAX_THREADS) {
            throw new ConfigException("fs_prefetch.threads_count " + threadsCount
                    + " is outside 1.." + MAX_THREADS);
        }
        if (mergingSize < 0 || mergingSize > MAX_MERGING_SIZE) {
            throw new ConfigException("fs_prefetch.merging_size " + mergingSize
                    + " is outside 0.." + MAX_MERGING_SIZE);
        }
        mergingSize = Math.max(mergingSize, MIN_MERGING_SIZE);
        if (bandwidthRate < 0) {
            throw new ConfigException("fs_prefetch.bandwidth_rate " + bandwidthRate
                    + " must not be negative");
        }
        if (demandQuietMs < 0) {
            throw new ConfigException("fs_prefetch.demand_quiet_ms " + demandQuietMs
                    + " must not be negative");
        }
    }

    /** A configuration with the default {@code demand_quiet_ms}. */
    public PrefetchConfig(boolean enable, int threadsCount, int mergingSize, long bandwidthRate,
            boolean prefetchAll) {
        this(enable, threadsCount, mergingSize, bandwidthRate, prefetchAll,
                DEFAULT_DEMAND_QUIET_MS);
    }

    /** Returns the defaults of a configuration that has no {@code fs_prefetch} object. */
    public static PrefetchConfig disabled() {
        return new PrefetchConfig(false, DEFAULT_THREADS, DEFAULT_MERGING_SIZE, 0, false);
    }
}
