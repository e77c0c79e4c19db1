package io.nydus.daemon;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The calls on one file or directory since it was first looked up, for
 * {@code /api/v1/metrics/files} with {@code iostats_files}. The JSON form has upstream nydusd's
 * per-inode keys: {@code total_fops}, {@code data_read} (bytes), {@code block_count_read} (reads
 * per size bucket of {@link FsMetrics#SIZE_BOUNDS}), and {@code fop_hits} and
 * {@code fop_errors} indexed by {@link FileOperation#ordinal()}.
 */
final class FileIoStats {
    private static final int OPERATIONS = FileOperation.values().length;

    private final LongAdder totalFops = new LongAdder();
    private final LongAdder dataRead = new LongAdder();
    private final LongAdder[] blockCountRead = FsMetrics.adders(FsMetrics.SIZE_BOUNDS.length + 1);
    private final LongAdder[] fopHits = FsMetrics.adders(OPERATIONS);
    private final LongAdder[] fopErrors = FsMetrics.adders(OPERATIONS);

    /** Counts one call of {@code operation}, which replied with data or with an errno. */
    void count(FileOperation operation, boolean succeeded) {
        totalFops.increment();
        LongAdder[] counters = succeeded ? fopHits : fopErrors;
        counters[operation.ordinal()].increment();
    }

    /** Counts the bytes of a successful read, which {@link #count} counted as a call. */
    void read(long length) {
        dataRead.add(length);
        blockCountRead[FsMetrics.sizeBucket(length)].increment();
    }

    Map<String, Object> toJson() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("total_fops", totalFops.sum());
        out.put("data_read", dataRead.sum());
        out.put("block_count_read", FsMetrics.sums(blockCountRead));
        out.put("fop_hits", FsMetrics.sums(fopHits));
        out.put("fop_errors", FsMetrics.sums(fopErrors));
        return out;
    }
}
