package io.nydus.storage.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

class BackendMetricsTest {

    @Test
    void requestSizesFillUpstreamBuckets() {
        BackendMetrics metrics = new BackendMetrics();
        long[] sizes = {0, 1023, 1024, 4095, 4096, 16 << 10, 64 << 10, 128 << 10, 512 << 10,
            (1 << 20) - 1, 1 << 20, 8 << 20};

        for (long size : sizes) {
            metrics.recordRead(size, 3_000_000);
        }
        metrics.recordError(2048, 5_000_000);
        Map<String, Object> snapshot = metrics.snapshot();

        assertArrayEquals(new long[] {2, 3, 1, 1, 1, 1, 2, 2},
                (long[]) snapshot.get("read_count_block_size_dist"));
        assertArrayEquals(new long[] {6, 11, 3, 3, 3, 3, 6, 6},
                (long[]) snapshot.get("read_cumulative_latency_millis_dist"));
        assertEquals(13L, snapshot.get("read_count"));
        assertEquals(1L, snapshot.get("read_errors"));
    }
}
