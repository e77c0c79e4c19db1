package io.nydus.daemon;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The calls on one file or directory since it was first looked up, for
 * {@code /api/v1/metrics/files} with {@code iostats_files}. The JSON form has upstream nydusd's
 * per-inode keys: {@code total_fops}, {@code data_read} (bytes), {@code block_count_read} (reads
 * per size bucket of {@link FsMetrics#SIZE_BOUNDS}), and {@code fop_hits} and
 * {@code fop_errors} indexed by {@link FileOperation#ordinal()}.
 *
 * <p>An image may have hundreds of thousands of files, so the counters are plain atomic longs
 * (about 500 bytes a file) rather than the striped adders of the mount's totals, which take
 * about three times as much. Calls on one file rarely contend.
 */
final class FileIoStats {
    private static final int OPERATIONS = FileOperation.values().length;

    private final AtomicLong totalFops = new AtomicLong();
    private final AtomicLong dataRead = new AtomicLong();
    private final AtomicLongArray blockCountRead =
            new AtomicLongArray(FsMetrics.SIZE_BOUNDS.length + 1);
    private final AtomicLongArray fopHits = new AtomicLongArray(OPERATIONS);
    private final AtomicLongArray fopErrors = new AtomicLongArray(OPERATIONS);

    /** Counts one call of {@code operation}, which replied with data or with an errno. */
    void count(FileOperation operation, boolean succeeded) {
        totalFops.incrementAndGet();
        AtomicLongArray counters = succeeded ? fopHits : fopErrors;
        counters.incrementAndGet(operation.ordinal());
    }

    /** Counts the bytes of a successful read, which {@link #count} counted as a call. */
    void read(long length) {
        dataRead.addAndGet(length);
        blockCountRead.incrementAndGet(FsMetrics.sizeBucket(length));
    }

    Map<String, Object> toJson() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("total_fops", totalFops.get());
        out.put("data_read", dataRead.get());
        out.put("block_count_read", values(blockCountRead));
        out.put("fop_hits", values(fopHits));
        out.put("fop_errors", values(fopErrors));
        return out;
    }

    private static long[] values(AtomicLongArray counters) {
        long[] out = new long[counters.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = counters.get(i);
        }
        return out;
    }
}
