package io.nydus.daemon;

import io.nydus.rafs.tree.Node;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Read figures of one mount: totals, a latency histogram and a read-size histogram, and, when
 * enabled, per-file counts and the order in which files were first read.
 */
public final class FsMetrics {
    /** Upper bounds of the latency buckets, in microseconds; the last bucket is unbounded. */
    static final long[] LATENCY_BOUNDS_MICROS = {200, 1_000, 20_000, 50_000, 500_000, 1_000_000,
        2_000_000};
    /** Upper bounds of the read-size buckets, in bytes; the last bucket is unbounded. */
    static final long[] SIZE_BOUNDS = {1 << 10, 4 << 10, 16 << 10, 64 << 10, 128 << 10,
        512 << 10, 1 << 20};

    private final String id;
    private final boolean perFile;
    private final boolean accessPattern;
    private final AtomicLong reads = new AtomicLong();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong opens = new AtomicLong();
    private final AtomicLong latencyNanos = new AtomicLong();
    private final AtomicLongArray latencyBuckets =
            new AtomicLongArray(LATENCY_BOUNDS_MICROS.length + 1);
    private final AtomicLongArray sizeBuckets = new AtomicLongArray(SIZE_BOUNDS.length + 1);
    private final Map<Long, FileStats> files = new ConcurrentHashMap<>();
    private final AtomicLong accessOrder = new AtomicLong();

    /**
     * @param id the mount's id in the API ({@code ?id=})
     * @param perFile whether reads are counted per file ({@code iostats_files})
     * @param accessPattern whether the order of first reads is kept ({@code access_pattern})
     */
    public FsMetrics(String id, boolean perFile, boolean accessPattern) {
        this.id = id;
        this.perFile = perFile;
        this.accessPattern = accessPattern;
    }

    public String id() {
        return id;
    }

    void opened(Node node) {
        opens.incrementAndGet();
    }

    void failed() {
        errors.incrementAndGet();
    }

    void read(Node node, long inode, long offset, long length, long nanos) {
        reads.incrementAndGet();
        bytesRead.addAndGet(length);
        latencyNanos.addAndGet(nanos);
        latencyBuckets.incrementAndGet(bucket(LATENCY_BOUNDS_MICROS, nanos / 1000));
        sizeBuckets.incrementAndGet(bucket(SIZE_BOUNDS, length));
        if (perFile || accessPattern) {
            files.computeIfAbsent(inode, key -> new FileStats(inode, node.path(),
                    accessOrder.getAndIncrement(), System.currentTimeMillis()))
                    .add(length);
        }
    }

    private static int bucket(long[] bounds, long value) {
        for (int i = 0; i < bounds.length; i++) {
            if (value <= bounds[i]) {
                return i;
            }
        }
        return bounds.length;
    }

    public long reads() {
        return reads.get();
    }

    public long bytesRead() {
        return bytesRead.get();
    }

    public long errors() {
        return errors.get();
    }

    /** Returns the global figures under upstream's names, for {@code /api/v1/metrics}. */
    public Map<String, Object> global() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("files_account_enabled", perFile);
        out.put("access_pattern_enabled", accessPattern);
        out.put("data_read", bytesRead.get());
        out.put("read_count", reads.get());
        out.put("read_errors", errors.get());
        out.put("nr_opens", opens.get());
        out.put("read_latency_total_micros", latencyNanos.get() / 1000);
        out.put("read_latency_bounds_micros", LATENCY_BOUNDS_MICROS);
        out.put("read_latency_dist", toArray(latencyBuckets));
        out.put("block_count_read_bounds", SIZE_BOUNDS);
        out.put("block_count_read", toArray(sizeBuckets));
        return out;
    }

    /** Returns per-file figures (empty unless {@code iostats_files}), busiest first. */
    public List<Map<String, Object>> files() {
        if (!perFile) {
            return List.of();
        }
        List<FileStats> all = new ArrayList<>(files.values());
        all.sort(Comparator.comparingLong(FileStats::bytes).reversed());
        List<Map<String, Object>> out = new ArrayList<>();
        for (FileStats stats : all) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("ino", stats.inode());
            row.put("path", stats.path());
            row.put("nr_read", stats.reads());
            row.put("data_read", stats.bytes());
            out.add(row);
        }
        return out;
    }

    /**
     * Returns each file's first access in access order (empty unless {@code access_pattern}),
     * which is what a prefetch list is made from.
     */
    public List<Map<String, Object>> pattern() {
        if (!accessPattern) {
            return List.of();
        }
        List<FileStats> all = new ArrayList<>(files.values());
        all.sort(Comparator.comparingLong(FileStats::order));
        List<Map<String, Object>> out = new ArrayList<>();
        for (FileStats stats : all) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("ino", stats.inode());
            row.put("path", stats.path());
            row.put("nr_read", stats.reads());
            row.put("first_access_time_secs", stats.firstAccessMillis() / 1000);
            row.put("first_access_time_nanos", (stats.firstAccessMillis() % 1000) * 1_000_000);
            out.add(row);
        }
        return out;
    }

    private static long[] toArray(AtomicLongArray values) {
        long[] out = new long[values.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }

    /** Reads of one file since the mount. */
    private static final class FileStats {
        private final long inode;
        private final String path;
        private final long order;
        private final long firstAccessMillis;
        private final AtomicLong reads = new AtomicLong();
        private final AtomicLong bytes = new AtomicLong();

        FileStats(long inode, String path, long order, long firstAccessMillis) {
            this.inode = inode;
            this.path = path;
            this.order = order;
            this.firstAccessMillis = firstAccessMillis;
        }

        void add(long length) {
            reads.incrementAndGet();
            bytes.addAndGet(length);
        }

        long inode() {
            return inode;
        }

        String path() {
            return path;
        }

        long order() {
            return order;
        }

        long firstAccessMillis() {
            return firstAccessMillis;
        }

        long reads() {
            return reads.get();
        }

        long bytes() {
            return bytes.get();
        }
    }
}
