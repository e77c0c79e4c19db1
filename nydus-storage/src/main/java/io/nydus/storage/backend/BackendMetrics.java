package io.nydus.storage.backend;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Counters of the requests a blob backend serves. Updates are single atomic additions, cheap
 * enough for every chunk request. Names follow upstream nydusd's backend metrics.
 */
public final class BackendMetrics {
    /** Upper bounds of the latency histogram buckets in milliseconds; the last is open. */
    public static final List<Long> LATENCY_BUCKETS_MILLIS = List.of(1L, 20L, 50L, 100L, 500L,
            1000L, 2000L, Long.MAX_VALUE);
    /**
     * Lower bounds of the request size buckets in bytes, upstream's: below 1 KiB, from 1 KiB,
     * 4 KiB, 16 KiB, 64 KiB, 128 KiB, 512 KiB and 1 MiB on.
     */
    public static final List<Long> SIZE_BUCKETS_FROM_BYTES = List.of(0L, 1L << 10, 4L << 10,
            16L << 10, 64L << 10, 128L << 10, 512L << 10, 1L << 20);

    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong retries = new AtomicLong();
    private final AtomicLong latencyMicros = new AtomicLong();
    private final AtomicLongArray latencyBuckets =
            new AtomicLongArray(LATENCY_BUCKETS_MILLIS.size());
    private final AtomicLongArray sizeCounts = new AtomicLongArray(SIZE_BUCKETS_FROM_BYTES.size());
    private final AtomicLongArray sizeLatencyMillis =
            new AtomicLongArray(SIZE_BUCKETS_FROM_BYTES.size());

    /** Records a finished request of {@code length} bytes that took {@code nanos}. */
    public void recordRead(long length, long nanos) {
        requests.incrementAndGet();
        bytes.addAndGet(length);
        recordLatency(length, nanos);
    }

    /** Records a request for {@code length} bytes that failed after all retries. */
    public void recordError(long length, long nanos) {
        requests.incrementAndGet();
        errors.incrementAndGet();
        recordLatency(length, nanos);
    }

    /** Records one retry of a failed request. */
    public void recordRetry() {
        retries.incrementAndGet();
    }

    private void recordLatency(long length, long nanos) {
        latencyMicros.addAndGet(nanos / 1000);
        long millis = nanos / 1_000_000;
        int size = sizeBucket(length);
        sizeCounts.incrementAndGet(size);
        sizeLatencyMillis.addAndGet(size, millis);
        for (int i = 0; i < LATENCY_BUCKETS_MILLIS.size(); i++) {
            if (millis <= LATENCY_BUCKETS_MILLIS.get(i)) {
                latencyBuckets.incrementAndGet(i);
                return;
            }
        }
    }

    private static int sizeBucket(long length) {
        int bucket = 0;
        while (bucket + 1 < SIZE_BUCKETS_FROM_BYTES.size()
                && length >= SIZE_BUCKETS_FROM_BYTES.get(bucket + 1)) {
            bucket++;
        }
        return bucket;
    }

    public long readCount() {
        return requests.get();
    }

    public long readAmountTotal() {
        return bytes.get();
    }

    public long readErrors() {
        return errors.get();
    }

    public long retries() {
        return retries.get();
    }

    /**
     * Returns a snapshot with upstream's names: {@code read_count}, {@code read_errors},
     * {@code read_amount_total}, {@code read_retries}, {@code read_cumulative_latency_millis_total}
     * {@code read_latency_dist} (request counts per bucket of {@link #LATENCY_BUCKETS_MILLIS}),
     * and per bucket of {@link #SIZE_BUCKETS_FROM_BYTES} {@code read_count_block_size_dist}
     * (request counts) and {@code read_cumulative_latency_millis_dist} (their summed latency).
     */
    public Map<String, Object> snapshot() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("read_count", requests.get());
        m.put("read_errors", errors.get());
        m.put("read_amount_total", bytes.get());
        m.put("read_retries", retries.get());
        m.put("read_cumulative_latency_millis_total", latencyMicros.get() / 1000);
        m.put("read_latency_dist", toArray(latencyBuckets));
        m.put("read_count_block_size_dist", toArray(sizeCounts));
        m.put("read_cumulative_latency_millis_dist", toArray(sizeLatencyMillis));
        return m;
    }

    private static long[] toArray(AtomicLongArray counters) {
        long[] values = new long[counters.length()];
        for (int i = 0; i < values.length; i++) {
            values[i] = counters.get(i);
        }
        return values;
    }
}
