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

    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong retries = new AtomicLong();
    private final AtomicLong latencyMicros = new AtomicLong();
    private final AtomicLongArray latencyBuckets =
            new AtomicLongArray(LATENCY_BUCKETS_MILLIS.size());

    /** Records a finished request of {@code length} bytes that took {@code nanos}. */
    public void recordRead(long length, long nanos) {
        requests.incrementAndGet();
        bytes.addAndGet(length);
        recordLatency(nanos);
    }

    /** Records a request that failed after all retries. */
    public void recordError(long nanos) {
        requests.incrementAndGet();
        errors.incrementAndGet();
        recordLatency(nanos);
    }

    /** Records one retry of a failed request. */
    public void recordRetry() {
        retries.incrementAndGet();
    }

    private void recordLatency(long nanos) {
        latencyMicros.addAndGet(nanos / 1000);
        long millis = nanos / 1_000_000;
        for (int i = 0; i < LATENCY_BUCKETS_MILLIS.size(); i++) {
            if (millis <= LATENCY_BUCKETS_MILLIS.get(i)) {
                latencyBuckets.incrementAndGet(i);
                return;
            }
        }
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
     * and {@code read_latency_dist} (request counts per bucket of
     * {@link #LATENCY_BUCKETS_MILLIS}).
     */
    public Map<String, Object> snapshot() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("read_count", requests.get());
        m.put("read_errors", errors.get());
        m.put("read_amount_total", bytes.get());
        m.put("read_retries", retries.get());
        m.put("read_cumulative_latency_millis_total", latencyMicros.get() / 1000);
        long[] buckets = new long[latencyBuckets.length()];
        for (int i = 0; i < buckets.length; i++) {
            buckets[i] = latencyBuckets.get(i);
        }
        m.put("read_latency_dist", buckets);
        return m;
    }
}
