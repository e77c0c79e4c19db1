package io.nydus.storage;

import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.storage.backend.BackendMetrics;
import io.nydus.storage.backend.Backends;
import io.nydus.storage.cache.ChunkStore;
import io.nydus.storage.cache.FileChunkStore;
import io.nydus.storage.cache.MemoryChunkStore;
import io.nydus.storage.config.CacheConfig;
import io.nydus.storage.config.LocalFsConfig;
import io.nydus.storage.config.RegistryConfig;
import io.nydus.storage.config.StorageConfig;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chunks of one mounted image: read on demand from a blob backend, checked against their
 * digests, kept in a blob cache and prefetched in the background.
 *
 * <p>A read of a chunk that is not cached fetches it with one backend range request, extended
 * when the read continues a sequential run with the blob's following chunks that are not
 * cached either, up to {@code amplify_io} bytes. A scattered read takes following chunks only
 * when the link is fast enough for their bytes to cost less than half a request (see {@link
 * LinkCost}), and also within {@code amplify_io}. Every fetched chunk is decompressed and
 * checked against its digest before it is stored or returned, whatever the value of {@code
 * digest_validate}. A cached chunk that this process did not store is checked the first time
 * it is read, and {@code digest_validate} adds a check of cached chunks on every read. On-demand
 * reads run on the caller's thread, not in the prefetch workers' queue, and a chunk that
 * prefetch is already fetching is awaited, not fetched twice.
 *
 * <p>Instances are thread-safe.
 */
public final class ImageStorage implements ChunkSource, Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(ImageStorage.class);
    /**
     * The chunk bytes an image keeps in memory when the configuration has no cache, shared
     * evenly by its blobs. Each blob may still keep one chunk of the image's chunk size.
     */
    public static final long MEMORY_CACHE_BYTES = 64L << 20;
    /** The part of a request's fixed cost that a scattered miss spends on its neighbours. */
    private static final double NEIGHBOUR_SHARE = 0.5;

    private final StorageConfig config;
    private final BlobBackend backend;
    private final BackendMetrics backendMetrics;
    private final CacheMetrics metrics = new CacheMetrics();
    private final List<BlobState> blobs;
    private final ChunkFetcher fetcher;
    private final DemandActivity demand;
    private final LinkCost link = new LinkCost();
    private final Prefetcher prefetcher;
    private volatile boolean closed;

    private ImageStorage(StorageConfig config, BlobBackend backend, BackendMetrics backendMetrics,
            List<BlobState> blobs) {
        this.config = config;
        this.backend = backend;
        this.backendMetrics = backendMetrics;
        this.blobs = blobs;
        this.fetcher = new ChunkFetcher(backend, metrics);
        this.demand = new DemandActivity(Duration.ofMillis(config.prefetch().demandQuietMs()));
        this.prefetcher = new Prefetcher(config.prefetch(), blobs, fetcher, metrics, demand);
    }

    /**
     * Opens the storage of an image.
     *
     * @param config the parsed configuration
     * @param blobs the bootstrap's blob table, in blob index order
     * @param chunkTable the bootstrap's chunk table ({@code DecodedBootstrap.chunkTable()}); it
     *     may lack chunks, which are then taken from the blobs' CI tables when needed
     * @throws IOException if the backend or the cache files cannot be opened
     */
    public static ImageStorage open(StorageConfig config, List<BlobInfo> blobs,
            List<Chunk> chunkTable) throws IOException {
        BackendMetrics backendMetrics = new BackendMetrics();
        BlobBackend backend = Backends.open(config.backend(), backendMetrics);
        return open(config, backend, backendMetrics, blobs, chunkTable);
    }

    /**
     * Opens the storage of the image that {@code bootstrap} describes, with its blob table and
     * chunk table.
     *
     * @throws IOException if the backend or the cache files cannot be opened
     */
    public static ImageStorage open(StorageConfig config, DecodedBootstrap bootstrap)
            throws IOException {
        return open(config, bootstrap.bootstrap().blobs(), bootstrap.chunkTable());
    }

    /**
     * Opens the storage of an image on a backend the caller made; closing the storage closes
     * the backend.
     */
    public static ImageStorage open(StorageConfig config, BlobBackend backend,
            BackendMetrics backendMetrics, List<BlobInfo> blobs, List<Chunk> chunkTable)
            throws IOException {
        checkSupported(blobs, backend);
        Chunk[][] byBlob = chunksByBlob(blobs, chunkTable);
        BlobMetaLoader loader = new BlobMetaLoader(backend);
        List<BlobState> states = new ArrayList<>(blobs.size());
        try {
            for (int i = 0; i < blobs.size(); i++) {
                BlobInfo blob = blobs.get(i);
                ChunkStore store = openStore(config.cache(), blob, blobs.size());
                // Upstream names the file after the blob that contains the table: the ref blob
                // of a ZRAN blob, whose digest converters use for the file they ship.
                String metaName = BlobMetaLoader.metaBlobId(blob) + BlobMetaFile.SUFFIX;
                Path metaFile = config.cache().workDir().map(dir -> dir.resolve(metaName))
                        .orElse(null);
                states.add(new BlobState(i, blob, store, byBlob[i], loader, metaFile));
            }
        } catch (IOException | RuntimeException e) {
            for (BlobState state : states) {
                state.store().close();
            }
            backend.close();
            throw e;
        }
        LOG.info("opened storage of {} blob(s) on {}, cache {}", blobs.size(), backend.describe(),
                config.cache().workDir().map(Object::toString).orElse("in memory"));
        return new ImageStorage(config, backend, backendMetrics, List.copyOf(states));
    }

    /**
     * Rejects blobs whose chunks this storage cannot decode, so that reads do not fail later
     * with misleading digest errors.
     */
    private static void checkSupported(List<BlobInfo> blobs, BlobBackend backend)
            throws IOException {
        int unsupported = BlobFeatures.BATCH | BlobFeatures.ENCRYPTED | BlobFeatures.TARFS
                | BlobFeatures.EXTERNAL;
        for (BlobInfo blob : blobs) {
            boolean separateWithoutZran = blob.has(BlobFeatures.SEPARATE)
                    && !blob.has(BlobFeatures.ZRAN);
            if ((blob.features() & unsupported) != 0 || separateWithoutZran) {
                backend.close();
                // TODO: serve batch, encrypted, tarfs, tar-ref and external blobs.
                throw new IOException("blob " + blob.blobId() + " has features 0x"
                        + Integer.toHexString(blob.features()) + " (batch, encrypted, tarfs,"
                        + " separate meta without ZRAN, or external data), which the storage"
                        + " does not support yet");
            }
        }
    }

    private static Chunk[][] chunksByBlob(List<BlobInfo> blobs, List<Chunk> chunkTable) {
        Chunk[][] byBlob = new Chunk[blobs.size()][];
        for (int i = 0; i < blobs.size(); i++) {
            byBlob[i] = new Chunk[blobs.get(i).chunkCount()];
        }
        for (Chunk chunk : chunkTable) {
            if (chunk.blobIndex() >= blobs.size()
                    || chunk.index() >= byBlob[chunk.blobIndex()].length) {
                throw new IllegalArgumentException("chunk table entry " + chunk + " is outside"
                        + " the blob table of " + blobs.size() + " blob(s)");
            }
            byBlob[chunk.blobIndex()][chunk.index()] = chunk;
        }
        return byBlob;
    }

    private static ChunkStore openStore(CacheConfig cache, BlobInfo blob, int blobCount)
            throws IOException {
        if (cache.type() == CacheConfig.Type.FILE) {
            return FileChunkStore.open(cache.workDir().orElseThrow(), blob);
        }
        long share = Math.max(MEMORY_CACHE_BYTES / blobCount, blob.chunkSize());
        return new MemoryChunkStore(blob.chunkCount(), share);
    }

    @Override
    public void read(Chunk chunk, int offsetInChunk, MemorySegment target) throws IOException {
        BlobState blob = blobOf(chunk);
        checkRange(blob, chunk, offsetInChunk, target.byteSize());
        if (closed) {
            throw closedError(blob, chunk, null);
        }
        try {
            readOpen(blob, chunk, offsetInChunk, target);
        } catch (IOException e) {
            // Closed files and connections fail a read with errors that name no blob or cause.
            throw closed ? closedError(blob, chunk, e) : e;
        }
    }

    /**
     * Returns the error of a read that the closing of this storage failed or would fail, as
     * when its image is unmounted while the kernel still sends reads of its files.
     */
    private static StorageClosedException closedError(BlobState blob, Chunk chunk,
            IOException cause) {
        return new StorageClosedException("cannot read " + ChunkFetcher.describe(blob, chunk)
                + ": the storage of its image is closed", cause);
    }

    private void readOpen(BlobState blob, Chunk chunk, int offsetInChunk, MemorySegment target)
            throws IOException {
        metrics.total.incrementAndGet();
        if (readCached(blob, chunk, offsetInChunk, target)) {
            metrics.wholeHits.incrementAndGet();
            return;
        }
        byte[] data = obtain(blob, chunk);
        MemorySegment.copy(MemorySegment.ofArray(data), offsetInChunk, target, 0,
                target.byteSize());
    }

    private BlobState blobOf(Chunk chunk) throws IOException {
        if (chunk.blobIndex() >= blobs.size()) {
            throw new IOException("chunk " + chunk.index() + " names blob index "
                    + chunk.blobIndex() + ", but the image has " + blobs.size() + " blob(s)");
        }
        return blobs.get(chunk.blobIndex());
    }

    private static void checkRange(BlobState blob, Chunk chunk, int offset, long length)
            throws IOException {
        if (chunk.index() >= blob.chunkCount()
                || chunk.uncompressedOffset() + chunk.uncompressedSize()
                        > blob.info().uncompressedSize()) {
            throw new IOException(ChunkFetcher.describe(blob, chunk) + " lies outside the blob's "
                    + blob.chunkCount() + " chunks and " + blob.info().uncompressedSize()
                    + " uncompressed bytes");
        }
        if (offset < 0 || length < 0 || offset + length > chunk.uncompressedSize()) {
            throw new IllegalArgumentException("read of " + length + " bytes at " + offset
                    + " leaves " + ChunkFetcher.describe(blob, chunk));
        }
    }

    private boolean readCached(BlobState blob, Chunk chunk, int offset, MemorySegment target)
            throws IOException {
        ChunkStore store = blob.store();
        if (!store.isReady(chunk.index())) {
            return false;
        }
        if (!config.digestValidate() && store.isVerified(chunk.index())) {
            try {
                return store.read(chunk, offset, target);
            } catch (EOFException e) {
                return dropShortChunk(blob, chunk, e);
            }
        }
        byte[] data = readChecked(blob, chunk);
        if (data == null) {
            return false;
        }
        MemorySegment.copy(MemorySegment.ofArray(data), offset, target, 0, target.byteSize());
        return true;
    }

    /**
     * Returns a cached chunk's whole data, or null if it is not cached or its stored bytes are
     * short or damaged, in which case it is marked for fetching again. Bytes that this process
     * has not stored or checked yet are checked against the digest first, even without {@code
     * digest_validate}: the cache files may have been changed while no daemon ran.
     */
    private byte[] readChecked(BlobState blob, Chunk chunk) throws IOException {
        ChunkStore store = blob.store();
        byte[] data;
        try {
            data = store.readAll(chunk);
        } catch (EOFException e) {
            dropShortChunk(blob, chunk, e);
            return null;
        }
        if (data == null || (!config.digestValidate() && store.isVerified(chunk.index()))) {
            return data;
        }
        try {
            ChunkFetcher.verify(blob, chunk, data, "cached");
        } catch (IOException e) {
            metrics.cacheDigestErrors.incrementAndGet();
            LOG.warn("{}; fetching the chunk again", e.getMessage());
            ErrorEvents.DAEMON.add(e.getMessage());
            store.invalidate(chunk.index());
            return null;
        }
        store.markVerified(chunk.index());
        return data;
    }

    /** Marks a chunk whose cache file ends inside it for fetching again; returns false. */
    private boolean dropShortChunk(BlobState blob, Chunk chunk, EOFException e)
            throws IOException {
        String message = "the blob cache of " + ChunkFetcher.describe(blob, chunk)
                + " ends inside the chunk (" + e.getMessage() + ")";
        LOG.warn("{}; fetching the chunk again", message);
        ErrorEvents.DAEMON.add(message);
        metrics.cacheDigestErrors.incrementAndGet();
        blob.store().invalidate(chunk.index());
        return false;
    }

    /**
     * Waits for the fetch in flight of {@code chunk}. Returns null where that fetch was a
     * prefetch that failed, so that the caller fetches the chunk itself. A prefetch request
     * merges many chunks, and its failure must not fail this read.
     */
    private static byte[] awaitFetch(BlobState blob, Chunk chunk,
            CompletableFuture<byte[]> running) throws IOException {
        try {
            return ChunkFetcher.await(running);
        } catch (IOException e) {
            if (!(running instanceof ChunkFetcher.PrefetchResult)) {
                throw e;
            }
            LOG.debug("prefetch of {} failed, so the waiting read fetches it: {}",
                    ChunkFetcher.describe(blob, chunk), e.getMessage());
            return null;
        }
    }

    /** Returns the chunk's checked data, fetching it or waiting for a fetch in flight. */
    private byte[] obtain(BlobState blob, Chunk chunk) throws IOException {
        while (true) {
            ChunkFetcher.Claim claim = fetcher.claim(blob, chunk);
            if (claim == null) {
                CompletableFuture<byte[]> running = fetcher.inFlight(blob, chunk.index());
                if (running != null) {
                    // A read that waits for a background fetch is a read all the same: the
                    // fetch of whole blobs gives way to it.
                    demand.begin();
                    byte[] data;
                    try {
                        data = awaitFetch(blob, chunk, running);
                    } finally {
                        demand.end();
                    }
                    if (data != null) {
                        metrics.partialHits.incrementAndGet();
                        return data;
                    }
                }
                continue;
            }
            List<ChunkFetcher.Claim> claims;
            try {
                byte[] cached = readChecked(blob, chunk);
                if (cached != null) {
                    fetcher.release(blob, List.of(claim), new byte[][] {cached});
                    metrics.wholeHits.incrementAndGet();
                    return cached;
                }
                metrics.misses.incrementAndGet();
                claims = amplify(blob, claim);
            } catch (IOException | RuntimeException e) {
                // Readers that wait for this claim would otherwise wait forever. Released
                // without data, they claim the chunk themselves.
                fetcher.release(blob, List.of(claim), null);
                throw e;
            }
            demand.begin();
            long start = System.nanoTime();
            int requests;
            try {
                requests = fetcher.fetch(blob, claims, 0, Math.max(config.amplifyIo(), 1));
            } finally {
                demand.end();
            }
            if (requests == 1 && claim.result().isDone()
                    && !claim.result().isCompletedExceptionally()) {
                link.record(ChunkFetcher.span(claims.getFirst().chunk(),
                        claims.getLast().chunk()), System.nanoTime() - start);
            }
            return ChunkFetcher.await(claim.result());
        }
    }

    /**
     * Extends a claim with the blob's following chunks that are neither cached nor in flight,
     * while they stay contiguous and within {@code amplify_io} bytes. As with readahead, the
     * extension grows with the sequential run that the miss continues (at most the bytes the
     * run has fetched so far), and a miss that continues no run is not extended: scattered
     * reads, such as the page faults of a mapped library, would otherwise fetch chunks that
     * are never read.
     */
    private List<ChunkFetcher.Claim> amplify(BlobState blob, ChunkFetcher.Claim first)
            throws IOException {
        List<ChunkFetcher.Claim> claims = new ArrayList<>();
        claims.add(first);
        long run = blob.sequentialRun(first.chunk().index());
        long limit = run > 0 ? Math.min(config.amplifyIo(), run) : neighbourLimit(first.chunk());
        Chunk previous = first.chunk();
        long start = previous.compressedOffset();
        try {
            for (int i = previous.index() + 1; limit > 0 && i < blob.chunkCount(); i++) {
                // A chunk that no file of the image uses is not worth reading the blob's digest
                // array for.
                Chunk next = blob.knownChunk(i);
                if (next == null || next.compressedOffset() != previous.compressedOffset()
                        + previous.compressedSize()
                        || next.compressedOffset() + next.compressedSize() - start > limit
                        || blob.store().isReady(i)) {
                    break;
                }
                ChunkFetcher.Claim claim = fetcher.claim(blob, next);
                if (claim == null) {
                    break;
                }
                claims.add(claim);
                previous = next;
            }
        } catch (IOException | RuntimeException e) {
            // The caller releases the first claim.
            fetcher.release(blob, claims.subList(1, claims.size()), null);
            throw e;
        }
        blob.fetched(previous.index(), ChunkFetcher.span(first.chunk(), previous), run > 0);
        return claims;
    }

    /**
     * Returns how far a scattered miss of {@code chunk} reaches into the following chunks,
     * within {@code amplify_io}. The extra bytes may cost half a request's fixed cost, which is
     * about what they save when half of them are read later.
     */
    private long neighbourLimit(Chunk chunk) {
        long worth = link.bytesWorth(NEIGHBOUR_SHARE);
        if (worth == 0) {
            return 0;
        }
        return Math.min(config.amplifyIo(), chunk.compressedSize() + Math.min(worth,
                config.amplifyIo()));
    }

    /**
     * Starts fetching {@code chunks} (the chunks of the files to prefetch, in order) in the
     * background and, when {@code fs_prefetch.prefetch_all} is set, then every other chunk of
     * every blob. Does nothing when prefetch is disabled.
     *
     * @return a future that completes when this prefetch has finished or the storage is
     *     closed. It never completes exceptionally, because errors are logged and counted
     */
    public CompletableFuture<Void> prefetch(List<Chunk> chunks) {
        return prefetch(chunks, false);
    }

    /**
     * Starts fetching {@code chunks} as {@link #prefetch(List)} does. When {@code yielding},
     * they wait like the fetch of every chunk while on-demand reads run and for {@code
     * demand_quiet_ms} after them.
     */
    public CompletableFuture<Void> prefetch(List<Chunk> chunks, boolean yielding) {
        return prefetcher.start(chunks, config.prefetch().prefetchAll(), yielding);
    }

    /**
     * Starts fetching every chunk of every blob in the background, even when {@code
     * fs_prefetch.enable} is false.
     */
    public CompletableFuture<Void> prefetchAll() {
        return prefetcher.startAll();
    }

    /** Returns the backend this storage reads from. */
    public BlobBackend backend() {
        return backend;
    }

    /**
     * Returns the backend metrics with upstream nydusd's names ({@code backend_type},
     * {@code read_count}, {@code read_errors}, {@code read_amount_total}, ...).
     */
    public Map<String, Object> backendMetrics() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("backend_type", switch (config.backend()) {
            case RegistryConfig registry -> "registry";
            case LocalFsConfig localFs -> "localfs";
        });
        m.putAll(backendMetrics.snapshot());
        return m;
    }

    /**
     * Returns the cache and prefetch metrics with upstream-like names: {@code total} chunk
     * reads, {@code whole_hits} served from the cache, {@code partial_hits} served by a fetch
     * another reader started, {@code misses}, {@code prefetch_*} counters, and per blob the
     * ready and total chunk counts under {@code blobs}. As upstream's, each prefetch time is
     * split into {@code _secs} since the epoch and {@code _millis}, the milliseconds within
     * that second.
     */
    public Map<String, Object> cacheMetrics() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", backend.describe());
        m.put("store_path", config.cache().workDir().map(Path::toString).orElse(""));
        m.put("underlying_files", cacheFiles());
        m.put("total", metrics.total.get());
        m.put("whole_hits", metrics.wholeHits.get());
        m.put("partial_hits", metrics.partialHits.get());
        m.put("misses", metrics.misses.get());
        m.put("cache_digest_errors", metrics.cacheDigestErrors.get());
        m.put("chunk_errors", metrics.fetchedChunkErrors.get());
        m.put("prefetch_data_amount", metrics.prefetchDataAmount.get());
        m.put("prefetch_requests_count", metrics.prefetchRequests.get());
        m.put("prefetch_unmerged_chunks", metrics.prefetchUnmergedChunks.get());
        m.put("prefetch_errors", metrics.prefetchErrors.get());
        m.put("prefetch_workers", config.prefetch().threadsCount());
        long begin = metrics.prefetchBeginMillis.get();
        long end = metrics.prefetchEndMillis.get();
        m.put("prefetch_begin_time_secs", begin / 1000);
        m.put("prefetch_begin_time_millis", begin % 1000);
        m.put("prefetch_end_time_secs", end / 1000);
        m.put("prefetch_end_time_millis", end % 1000);
        m.put("prefetch_finished", metrics.prefetchFinished.get());
        List<Map<String, Object>> perBlob = new ArrayList<>();
        boolean allReady = true;
        for (BlobState blob : blobs) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("blob_id", blob.id());
            b.put("chunks_ready", blob.store().readyCount());
            b.put("chunks_total", blob.chunkCount());
            allReady &= blob.store().readyCount() == blob.chunkCount();
            perBlob.add(b);
        }
        m.put("data_all_ready", allReady);
        m.put("blobs", perBlob);
        return m;
    }

    /** Returns the data files of the blob cache, none for a cache in memory. */
    private List<String> cacheFiles() {
        List<String> files = new ArrayList<>();
        for (BlobState blob : blobs) {
            if (blob.store() instanceof FileChunkStore file) {
                files.add(file.dataFile().toString());
            }
        }
        return files;
    }

    /** Stops prefetch and closes the cache files and the backend. */
    @Override
    public void close() throws IOException {
        closed = true;
        prefetcher.close();
        IOException failure = null;
        for (BlobState blob : blobs) {
            try {
                blob.store().close();
            } catch (IOException e) {
                failure = e;
            }
        }
        try {
            backend.close();
        } catch (IOException e) {
            failure = e;
        }
        if (failure != null) {
            throw failure;
        }
    }
}
