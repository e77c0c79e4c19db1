package io.nydus.storage;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counters of an image's chunk reads and prefetch, updated with single atomic additions.
 * {@link ImageStorage#metrics()} turns them into upstream-like names.
 */
final class CacheMetrics {
    /** Chunk reads. */
    final AtomicLong total = new AtomicLong();
    /** Chunk reads served from the cache. */
    final AtomicLong wholeHits = new AtomicLong();
    /** Chunk reads served by a fetch that another reader or prefetch had started. */
    final AtomicLong partialHits = new AtomicLong();
    /** Chunk reads that started a backend request. */
    final AtomicLong misses = new AtomicLong();
    /** Cached chunks whose digest no longer matched (with {@code digest_validate}). */
    final AtomicLong cacheDigestErrors = new AtomicLong();
    /** Chunks that failed their digest check or decompression after a fetch. */
    final AtomicLong fetchedChunkErrors = new AtomicLong();
    final AtomicLong prefetchDataAmount = new AtomicLong();
    final AtomicLong prefetchRequests = new AtomicLong();
    final AtomicLong prefetchUnmergedChunks = new AtomicLong();
    final AtomicLong prefetchErrors = new AtomicLong();
    final AtomicLong prefetchBeginMillis = new AtomicLong();
    final AtomicLong prefetchEndMillis = new AtomicLong();
    final AtomicBoolean prefetchFinished = new AtomicBoolean();
}
