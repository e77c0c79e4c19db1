package io.nydus.storage;

import io.nydus.rafs.tree.Chunk;
import io.nydus.storage.config.PrefetchConfig;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches chunks in the background on its own {@code threads_count} workers. Chunks are grouped
 * per blob in CI order and merged into requests while the gap between neighbours is at most
 * {@code merging_size / 128} bytes and a request stays within {@code merging_size} bytes (and
 * within {@code bandwidth_rate}, so that one request never exceeds a second's budget). A rate
 * limiter paces requests to {@code bandwidth_rate}. Chunks already cached or in flight are
 * skipped. The fetch of every chunk ({@code prefetch_all}) waits while on-demand reads run and
 * for {@code demand_quiet_ms} after them, so that it does not take their bandwidth. The listed
 * chunks wait too only when they are started as yielding.
 */
final class Prefetcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Prefetcher.class);

    private final PrefetchConfig config;
    private final List<BlobState> blobs;
    private final ChunkFetcher fetcher;
    private final CacheMetrics metrics;
    private final RateLimiter limiter;
    private final DemandActivity demand;
    private final ExecutorService workers;
    /** The futures handed to callers of prefetches that have not finished yet. */
    private final Set<CompletableFuture<Void>> unfinished = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    Prefetcher(PrefetchConfig config, List<BlobState> blobs, ChunkFetcher fetcher,
            CacheMetrics metrics, DemandActivity demand) {
        this.config = config;
        this.blobs = blobs;
        this.fetcher = fetcher;
        this.metrics = metrics;
        this.limiter = new RateLimiter(config.bandwidthRate());
        this.demand = demand;
        this.workers = Executors.newFixedThreadPool(config.threadsCount(),
                Thread.ofPlatform().daemon().name("nydus-prefetch-", 0).factory());
    }

    private long maxRequest() {
        long max = config.mergingSize();
        return limiter.limited() ? Math.max(1, Math.min(max, config.bandwidthRate())) : max;
    }

    CompletableFuture<Void> start(List<Chunk> chunks, boolean thenAll, boolean yielding) {
        if (!config.enable()) {
            LOG.debug("prefetch is disabled, ignoring {} chunk(s)", chunks.size());
            return CompletableFuture.completedFuture(null);
        }
        return run(chunks, thenAll, yielding);
    }

    CompletableFuture<Void> startAll() {
        return run(List.of(), true, true);
    }

    private CompletableFuture<Void> run(List<Chunk> chunks, boolean all, boolean yielding) {
        long begin = System.currentTimeMillis();
        metrics.prefetchBeginMillis.set(begin);
        metrics.prefetchFinished.set(false);
        long bytesBefore = metrics.prefetchDataAmount.get();
        long chunksBefore = metrics.prefetchUnmergedChunks.get();
        LOG.info("prefetch started: {} listed chunk(s){}", chunks.size(),
                all ? ", then every chunk of " + blobs.size() + " blob(s)" : "");
        CompletableFuture<Void> listed = submit(group(chunks), yielding);
        CompletableFuture<Void> done = !all ? listed
                : listed.thenComposeAsync(ignored -> submit(allChunks(), true), workers);
        CompletableFuture<Void> result = new CompletableFuture<>();
        unfinished.add(result);
        result.whenComplete((ignored, error) -> unfinished.remove(result));
        done.handle((ignored, error) -> {
            long end = System.currentTimeMillis();
            metrics.prefetchEndMillis.set(end);
            metrics.prefetchFinished.set(true);
            if (error != null && !closed) {
                metrics.prefetchErrors.incrementAndGet();
                LOG.error("prefetch failed: {}", error.toString());
            }
            LOG.info("prefetch finished: {} bytes in {} chunk(s) in {} s",
                    metrics.prefetchDataAmount.get() - bytesBefore,
                    metrics.prefetchUnmergedChunks.get() - chunksBefore, (end - begin) / 1000.0);
            result.complete(null);
            return null;
        });
        return result;
    }

    /** Groups chunks per blob (blobs in order of first appearance), each in CI order. */
    private Map<BlobState, TreeMap<Integer, Chunk>> group(List<Chunk> chunks) {
        Map<BlobState, TreeMap<Integer, Chunk>> byBlob = new LinkedHashMap<>();
        for (Chunk chunk : chunks) {
            if (chunk.blobIndex() >= blobs.size()) {
                LOG.warn("skipping prefetch of chunk {} of blob index {}: the image has {}"
                        + " blob(s)", chunk.index(), chunk.blobIndex(), blobs.size());
                continue;
            }
            byBlob.computeIfAbsent(blobs.get(chunk.blobIndex()), b -> new TreeMap<>())
                    .putIfAbsent(chunk.index(), chunk);
        }
        return byBlob;
    }

    private Map<BlobState, TreeMap<Integer, Chunk>> allChunks() {
        Map<BlobState, TreeMap<Integer, Chunk>> byBlob = new LinkedHashMap<>();
        for (BlobState blob : blobs) {
            TreeMap<Integer, Chunk> chunks = new TreeMap<>();
            try {
                for (int i = 0; i < blob.chunkCount(); i++) {
                    Chunk chunk = blob.chunk(i);
                    if (chunk != null) {
                        chunks.put(i, chunk);
                    }
                }
            } catch (IOException e) {
                metrics.prefetchErrors.incrementAndGet();
                LOG.error("prefetch of blob {} failed: {}", blob.id(), e.getMessage());
            }
            byBlob.put(blob, chunks);
        }
        return byBlob;
    }

    /**
     * Submits one task per batch and returns a future of them all; {@code yielding} batches
     * wait while on-demand reads run.
     */
    private CompletableFuture<Void> submit(Map<BlobState, TreeMap<Integer, Chunk>> byBlob,
            boolean yielding) {
        List<CompletableFuture<Void>> tasks = new ArrayList<>();
        for (Map.Entry<BlobState, TreeMap<Integer, Chunk>> entry : byBlob.entrySet()) {
            for (List<Chunk> batch : batches(entry.getValue())) {
                BlobState blob = entry.getKey();
                tasks.add(CompletableFuture.runAsync(() -> fetchBatch(blob, batch, yielding),
                        workers));
            }
        }
        return CompletableFuture.allOf(tasks.toArray(CompletableFuture[]::new));
    }

    /** Splits CI-ordered chunks into the batches one request can fetch. */
    private List<List<Chunk>> batches(TreeMap<Integer, Chunk> chunks) {
        List<List<Chunk>> batches = new ArrayList<>();
        List<Chunk> current = new ArrayList<>();
        long gapLimit = config.mergingSize() >> 7;
        for (Chunk chunk : chunks.values()) {
            if (!current.isEmpty()) {
                Chunk first = current.getFirst();
                Chunk last = current.getLast();
                long gap = chunk.compressedOffset() - last.compressedOffset()
                        - last.compressedSize();
                long span = chunk.compressedOffset() + chunk.compressedSize()
                        - first.compressedOffset();
                if (gap < 0 || gap > gapLimit || span > maxRequest()) {
                    batches.add(current);
                    current = new ArrayList<>();
                }
            }
            current.add(chunk);
        }
        if (!current.isEmpty()) {
            batches.add(current);
        }
        return batches;
    }

    private void fetchBatch(BlobState blob, List<Chunk> batch, boolean yielding) {
        List<ChunkFetcher.Claim> claims = new ArrayList<>();
        try {
            if (yielding) {
                awaitQuiet();
            }
            List<Chunk> missing = new ArrayList<>();
            for (Chunk chunk : batch) {
                if (!blob.store().isReady(chunk.index())
                        && fetcher.inFlight(blob, chunk.index()) == null) {
                    missing.add(chunk);
                }
            }
            if (missing.isEmpty()) {
                return;
            }
            // Pacing happens before the chunks are claimed, so that on-demand readers never
            // wait for a request that only waits for its bandwidth share.
            limiter.acquire(ChunkFetcher.span(missing.getFirst(), missing.getLast()));
            for (Chunk chunk : missing) {
                ChunkFetcher.Claim claim = fetcher.claimForPrefetch(blob, chunk);
                if (claim != null) {
                    claims.add(claim);
                }
            }
        } catch (IOException e) {
            fetcher.release(blob, claims, null);
            if (closed) {
                // close() interrupts a worker that waits for quiet or bandwidth, which is no
                // failure, and it logs the stop itself.
                LOG.debug("prefetch of blob {} ended by close: {}", blob.id(), e.getMessage());
                return;
            }
            metrics.prefetchErrors.incrementAndGet();
            LOG.error("prefetch of blob {} failed: {}", blob.id(), e.getMessage());
            return;
        }
        if (claims.isEmpty()) {
            return;
        }
        int requests = fetcher.fetch(blob, claims, config.mergingSize() >> 7, maxRequest());
        metrics.prefetchRequests.addAndGet(requests);
        long bytes = 0;
        int fetched = 0;
        for (ChunkFetcher.Claim claim : claims) {
            if (claim.result().isDone() && !claim.result().isCompletedExceptionally()) {
                bytes += claim.chunk().uncompressedSize();
                fetched++;
            }
        }
        metrics.prefetchDataAmount.addAndGet(bytes);
        metrics.prefetchUnmergedChunks.addAndGet(fetched);
        if (fetched < claims.size() && !closed) {
            metrics.prefetchErrors.incrementAndGet();
            LOG.error("prefetch of blob {}: {} of {} chunk(s) failed", blob.id(),
                    claims.size() - fetched, claims.size());
        }
    }

    private void awaitQuiet() throws InterruptedIOException {
        try {
            demand.awaitQuiet();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("prefetch stopped while waiting for reads to end");
        }
    }

    /** Stops the workers and completes the futures of prefetches they will not finish. */
    @Override
    public void close() {
        closed = true;
        workers.shutdownNow();
        for (CompletableFuture<Void> pending : unfinished) {
            LOG.info("prefetch stopped before it finished because the storage was closed");
            pending.complete(null);
        }
        try {
            if (!workers.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warn("prefetch workers did not stop within 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
