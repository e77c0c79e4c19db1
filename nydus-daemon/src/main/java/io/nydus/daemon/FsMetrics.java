package io.nydus.daemon;

import io.nydus.rafs.tree.Node;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * File system figures of one mount, with upstream nydusd's meaning: per {@link FileOperation}
 * the successful and the failed calls and the time the successful ones took, the bytes read,
 * the files open now, a read latency histogram and a read size histogram, and, when enabled,
 * per-file counts ({@code iostats_files}), the first read of each file
 * ({@code access_pattern}) and the files read since the last request for them
 * ({@code latest_read_files}). The counters are
 * {@link LongAdder}s, so that the workers that serve requests at once take no lock and share no
 * contended counter.
 */
public final class FsMetrics {
    /** Upper bounds of the latency buckets, in microseconds; the last bucket is unbounded. */
    static final long[] LATENCY_BOUNDS_MICROS = {200, 1_000, 20_000, 50_000, 500_000, 1_000_000,
        2_000_000};
    /**
     * Lower bounds of the read size buckets after the first, in bytes, as upstream's. Bucket 0
     * counts reads below 1 KiB, and bucket i reads of at least bound i - 1 and below bound i.
     * The last bucket counts reads of 1 MiB or more.
     */
    static final long[] SIZE_BOUNDS = {1 << 10, 4 << 10, 16 << 10, 64 << 10, 128 << 10,
        512 << 10, 1 << 20};
    private static final FileOperation[] OPERATIONS = FileOperation.values();

    /** The node id that no file has, passed for a request that names no single file. */
    static final long NO_FILE = 0;

    private final String id;
    private final boolean perFile;
    private final boolean accessPattern;
    private final boolean latestReadFiles;
    private final LongAdder[] hits = adders(OPERATIONS.length);
    private final LongAdder[] errors = adders(OPERATIONS.length);
    private final LongAdder[] latencyNanos = adders(OPERATIONS.length);
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder openFiles = new LongAdder();
    private final LongAdder[] latencyBuckets = adders(LATENCY_BOUNDS_MICROS.length + 1);
    private final LongAdder[] sizeBuckets = adders(SIZE_BOUNDS.length + 1);
    private final Map<Long, FileIoStats> files = new ConcurrentHashMap<>();
    private final Map<Long, AccessRecord> accesses = new ConcurrentHashMap<>();
    private final AtomicLong accessOrder = new AtomicLong();
    private final LatestReadFiles latestReads = new LatestReadFiles();

    /**
     * @param id the mount's id in the API ({@code ?id=})
     * @param perFile whether calls are counted per file ({@code iostats_files})
     * @param accessPattern whether the first read of each file is kept ({@code access_pattern})
     * @param latestReadFiles whether the files read are kept until the API returns them
     *     ({@code latest_read_files})
     */
    public FsMetrics(String id, boolean perFile, boolean accessPattern,
            boolean latestReadFiles) {
        this.id = id;
        this.perFile = perFile;
        this.accessPattern = accessPattern;
        this.latestReadFiles = latestReadFiles;
    }

    private static LongAdder[] adders(int count) {
        LongAdder[] adders = new LongAdder[count];
        for (int i = 0; i < count; i++) {
            adders[i] = new LongAdder();
        }
        return adders;
    }

    public String id() {
        return id;
    }

    /**
     * Counts a successful {@code operation} on node id {@code inode} that started at
     * {@code startNanos} ({@link System#nanoTime()}). An open adds a file to {@code nr_opens}
     * and a release takes one away.
     */
    void succeeded(FileOperation operation, long inode, long startNanos) {
        long nanos = System.nanoTime() - startNanos;
        // nr_opens changes before the hit, so an API request that finds the release counted
        // also finds nr_opens lowered.
        if (operation == FileOperation.OPEN) {
            openFiles.increment();
        } else if (operation == FileOperation.RELEASE) {
            openFiles.decrement();
        }
        hits[operation.ordinal()].increment();
        latencyNanos[operation.ordinal()].add(nanos);
        countFileCall(operation, inode, true);
    }

    /** Counts a call of {@code operation} on node id {@code inode} that replied with an errno. */
    void failed(FileOperation operation, long inode) {
        errors[operation.ordinal()].increment();
        countFileCall(operation, inode, false);
    }

    /**
     * Counts the call on the file's own figures. As in upstream nydusd, a file has figures from
     * its first lookup on, so the root, which is never looked up, has none.
     */
    private void countFileCall(FileOperation operation, long inode, boolean succeeded) {
        if (!perFile) {
            return;
        }
        FileIoStats stats = files.get(inode);
        if (stats != null) {
            stats.count(operation, succeeded);
        }
    }

    /** Starts the per-file figures of node id {@code inode}, which a lookup found. */
    void lookedUp(long inode) {
        if (perFile) {
            files.computeIfAbsent(inode, key -> new FileIoStats());
        }
    }

    /**
     * Counts a successful read of {@code length} bytes of {@code node}, whose node id is
     * {@code inode}, that started at {@code startNanos}. A read at or past the end of the file
     * counts with length 0. A file read without a lookup first, as after a takeover, gets
     * per-file figures here.
     */
    void read(Node node, long inode, long length, long startNanos) {
        long nanos = System.nanoTime() - startNanos;
        hits[FileOperation.READ.ordinal()].increment();
        latencyNanos[FileOperation.READ.ordinal()].add(nanos);
        bytesRead.add(length);
        latencyBuckets[latencyBucket(nanos / 1000)].increment();
        sizeBuckets[sizeBucket(length)].increment();
        if (perFile) {
            FileIoStats stats = files.computeIfAbsent(inode, key -> new FileIoStats());
            stats.count(FileOperation.READ, true);
            stats.read(length);
        }
        if (accessPattern) {
            accesses.computeIfAbsent(inode, key -> new AccessRecord(inode, node.path(),
                    accessOrder.getAndIncrement(), Instant.now())).add();
        }
        if (latestReadFiles) {
            latestReads.add(inode);
        }
    }

    /** Returns the latency bucket of {@code micros}: the first whose bound is not below it. */
    static int latencyBucket(long micros) {
        for (int i = 0; i < LATENCY_BOUNDS_MICROS.length; i++) {
            if (micros <= LATENCY_BOUNDS_MICROS[i]) {
                return i;
            }
        }
        return LATENCY_BOUNDS_MICROS.length;
    }

    /** Returns the size bucket of {@code length}: the number of lower bounds it reaches. */
    static int sizeBucket(long length) {
        int bucket = 0;
        while (bucket < SIZE_BOUNDS.length && length >= SIZE_BOUNDS[bucket]) {
            bucket++;
        }
        return bucket;
    }

    /** Returns the successful calls of {@code operation}. */
    public long hits(FileOperation operation) {
        return hits[operation.ordinal()].sum();
    }

    /** Returns the calls of {@code operation} that replied with an errno. */
    public long errors(FileOperation operation) {
        return errors[operation.ordinal()].sum();
    }

    /** Returns the time that the successful calls of {@code operation} took, in microseconds. */
    public long latencyMicros(FileOperation operation) {
        return latencyNanos[operation.ordinal()].sum() / 1000;
    }

    public long bytesRead() {
        return bytesRead.sum();
    }

    /**
     * Returns the files open now: opens less releases. A release of a file that an image
     * replaced at the same mount point had opened would take it below 0, so it stops at 0,
     * which also keeps it a valid unsigned number for upstream's clients.
     */
    public long openFiles() {
        return Math.max(0, openFiles.sum());
    }

    /** Returns the successful reads per latency bucket ({@link #LATENCY_BOUNDS_MICROS}). */
    long[] readLatencyBuckets() {
        return sums(latencyBuckets);
    }

    /** Returns the successful reads per size bucket ({@link #SIZE_BOUNDS}). */
    long[] readSizeBuckets() {
        return sums(sizeBuckets);
    }

    /**
     * Returns the global figures under upstream's names and in upstream's order, for
     * {@code /api/v1/metrics}. The arrays per operation are indexed by
     * {@link FileOperation#ordinal()}.
     */
    public Map<String, Object> global() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("files_account_enabled", perFile);
        out.put("access_pattern_enabled", accessPattern);
        out.put("record_latest_read_files_enabled", latestReadFiles);
        out.put("measure_latency", true);
        out.put("id", id);
        out.put("nr_opens", openFiles());
        out.put("data_read", bytesRead());
        out.put("block_count_read", readSizeBuckets());
        out.put("fop_hits", sums(hits));
        out.put("fop_errors", sums(errors));
        out.put("fop_cumulative_latency_total", latencyMicros());
        out.put("read_latency_dist", readLatencyBuckets());
        return out;
    }

    private long[] latencyMicros() {
        long[] out = new long[OPERATIONS.length];
        for (FileOperation operation : OPERATIONS) {
            out[operation.ordinal()] = latencyMicros(operation);
        }
        return out;
    }

    /**
     * Returns the per-file figures by node id, as upstream nydusd's {@code /api/v1/metrics/files}
     * does, or an empty map unless {@code iostats_files} is on.
     */
    public Map<Long, Map<String, Object>> files() {
        Map<Long, Map<String, Object>> out = new TreeMap<>();
        files.forEach((inode, stats) -> out.put(inode, stats.toJson()));
        return out;
    }

    /**
     * Returns the node ids of the files read since the last call, in upstream's runs of
     * consecutive ids ({@link LatestReadFiles#drain}), and clears them. The list is empty
     * unless {@code latest_read_files} is on.
     */
    public List<List<Long>> latestReadFiles() {
        return latestReads.drain();
    }

    /**
     * Returns each file's first read in the order of first reads (empty unless
     * {@code access_pattern}), which is what a prefetch list is made from. The keys are
     * upstream's, plus the file's {@code path}.
     */
    public List<Map<String, Object>> pattern() {
        List<AccessRecord> all = new ArrayList<>(accesses.values());
        all.sort(Comparator.comparingLong(AccessRecord::order));
        List<Map<String, Object>> out = new ArrayList<>();
        for (AccessRecord record : all) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("ino", record.inode());
            row.put("nr_read", record.reads());
            row.put("first_access_time_secs", record.firstAccess().getEpochSecond());
            row.put("first_access_time_nanos", record.firstAccess().getNano());
            row.put("path", record.path());
            out.add(row);
        }
        return out;
    }

    private static long[] sums(LongAdder[] adders) {
        long[] out = new long[adders.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = adders[i].sum();
        }
        return out;
    }

    /** The first read and the number of reads of one file since the mount. */
    private record AccessRecord(long inode, String path, long order, Instant firstAccess,
            AtomicLong counter) {
        AccessRecord(long inode, String path, long order, Instant firstAccess) {
            this(inode, path, order, firstAccess, new AtomicLong());
        }

        void add() {
            counter.incrementAndGet();
        }

        long reads() {
            return counter.get();
        }
    }
}
