package io.nydus.storage;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.CiEntry;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches chunks from the backend, checks them and stores them. Each chunk has at most one
 * fetch in flight: the caller that claims a chunk first fetches it, and every other reader
 * waits for that fetch's result instead of requesting it again.
 */
final class ChunkFetcher {
    private static final Logger LOG = LoggerFactory.getLogger(ChunkFetcher.class);
    private static final LogThrottle CACHE_FAILURES = new LogThrottle(Duration.ofMinutes(1));

    /** A chunk claimed for fetching and the future its waiting readers hold. */
    record Claim(Chunk chunk, CompletableFuture<byte[]> result) {
    }

    /**
     * The result of a fetch that prefetch claimed. A reader whose wait for it fails fetches
     * the chunk itself, because a prefetch failure must not fail a read.
     */
    static final class PrefetchResult extends CompletableFuture<byte[]> {
    }

    private final BlobBackend backend;
    private final CacheMetrics metrics;
    private final ConcurrentHashMap<Long, CompletableFuture<byte[]>> inFlight =
            new ConcurrentHashMap<>();

    private final ZranFetcher zranFetcher;

    ChunkFetcher(BlobBackend backend, CacheMetrics metrics) {
        this.backend = backend;
        this.metrics = metrics;
        this.zranFetcher = new ZranFetcher(this, backend);
    }

    private static long key(BlobState blob, int index) {
        return (long) blob.index() << 24 | index;
    }

    /** Returns the fetch of chunk {@code index} in flight, or null. */
    CompletableFuture<byte[]> inFlight(BlobState blob, int index) {
        return inFlight.get(key(blob, index));
    }

    /** Claims {@code chunk} for fetching, or returns null if a fetch of it is in flight. */
    Claim claim(BlobState blob, Chunk chunk) {
        return claim(blob, chunk, new CompletableFuture<>());
    }

    /** Claims {@code chunk} like {@link #claim} for a fetch that prefetch makes. */
    Claim claimForPrefetch(BlobState blob, Chunk chunk) {
        return claim(blob, chunk, new PrefetchResult());
    }

    private Claim claim(BlobState blob, Chunk chunk, CompletableFuture<byte[]> future) {
        if (inFlight.putIfAbsent(key(blob, chunk.index()), future) != null) {
            return null;
        }
        return new Claim(chunk, future);
    }

    /** Gives up claims without fetching them, waking their readers to try again. */
    void release(BlobState blob, List<Claim> claims, byte[][] data) {
        for (int i = 0; i < claims.size(); i++) {
            Claim claim = claims.get(i);
            inFlight.remove(key(blob, claim.chunk().index()), claim.result());
            claim.result().complete(data == null ? null : data[i]);
        }
    }

    /**
     * Fetches claimed chunks, which must be in increasing CI order, in backend requests of
     * ranges whose gap is at most {@code maxGap} bytes and whose size is at most {@code
     * maxRequest} bytes (one chunk per request at least), then stores the chunks that pass
     * their checks and completes every claim.
     *
     * @return the number of backend requests made
     */
    int fetch(BlobState blob, List<Claim> requested, long maxGap, long maxRequest) {
        List<Claim> claims = placed(blob, requested);
        if (blob.info().has(BlobFeatures.ZRAN)) {
            return zranFetcher.fetch(blob, claims);
        }
        int requests = 0;
        int start = 0;
        try {
            while (start < claims.size()) {
                int end = rangeEnd(claims, start, maxGap, maxRequest);
                List<Claim> range = claims.subList(start, end);
                fetchRange(blob, range);
                requests++;
                start = end;
            }
        } catch (IOException e) {
            fail(blob, claims.subList(start, claims.size()), e);
        } catch (RuntimeException | Error e) {
            fail(blob, claims.subList(start, claims.size()), new IOException("fetching blob "
                    + blob.id() + " failed: " + e, e));
            throw e;
        }
        return requests;
    }

    /**
     * Returns the claims whose chunks the blob's own chunk table places where the bootstrap
     * does, and fails the others: a chunk is never fetched from a place that the two tables
     * disagree on.
     */
    private List<Claim> placed(BlobState blob, List<Claim> claims) {
        List<CiEntry> table;
        try {
            table = blob.table();
        } catch (IOException e) {
            for (Claim claim : claims) {
                reject(blob, claim, describe(blob, claim.chunk()) + ": cannot read the blob's"
                        + " chunk table: " + e.getMessage());
            }
            return List.of();
        }
        List<Claim> placed = new ArrayList<>(claims.size());
        for (Claim claim : claims) {
            try {
                blob.checkPlace(claim.chunk(), table);
                placed.add(claim);
            } catch (IOException e) {
                reject(blob, claim, e.getMessage());
            }
        }
        return placed;
    }

    void reject(BlobState blob, Claim claim, String message) {
        metrics.fetchedChunkErrors.incrementAndGet();
        LOG.error("{}", message);
        ErrorEvents.DAEMON.add(message);
        inFlight.remove(key(blob, claim.chunk().index()), claim.result());
        claim.result().completeExceptionally(new IOException(message));
    }

    private static int rangeEnd(List<Claim> claims, int start, long maxGap, long maxRequest) {
        long first = claims.get(start).chunk().compressedOffset();
        int end = start + 1;
        while (end < claims.size()) {
            Chunk previous = claims.get(end - 1).chunk();
            Chunk next = claims.get(end).chunk();
            long gap = next.compressedOffset() - (previous.compressedOffset()
                    + previous.compressedSize());
            long size = next.compressedOffset() + next.compressedSize() - first;
            if (gap < 0 || gap > maxGap || size > maxRequest) {
                break;
            }
            end++;
        }
        return end;
    }

    /** Returns the bytes from the first chunk's start to the last one's end. */
    static long span(Chunk first, Chunk last) {
        return last.compressedOffset() + last.compressedSize() - first.compressedOffset();
    }

    private void fetchRange(BlobState blob, List<Claim> range) throws IOException {
        long first = range.getFirst().chunk().compressedOffset();
        long length = span(range.getFirst().chunk(), range.getLast().chunk());
        if (length > Integer.MAX_VALUE - 8) {
            throw new IOException("blob " + blob.id() + ": range " + first + "+" + length
                    + " is too large for one request");
        }
        ByteBuffer buffer = ByteBuffer.allocate((int) length);
        long start = System.nanoTime();
        backend.read(blob.id(), first, buffer);
        long fetchedAt = System.nanoTime();
        byte[] bytes = buffer.array();

        List<byte[]> goodData = new ArrayList<>(range.size());
        List<Claim> goodClaims = new ArrayList<>(range.size());
        for (Claim claim : range) {
            Chunk chunk = claim.chunk();
            try {
                byte[] data = decode(blob, chunk, bytes, (int) (chunk.compressedOffset() - first));
                goodData.add(data);
                goodClaims.add(claim);
            } catch (IOException e) {
                String message = e.getMessage() + " (fetched from " + backend.describe() + ")";
                metrics.fetchedChunkErrors.incrementAndGet();
                LOG.error("{}", message);
                ErrorEvents.DAEMON.add(message);
                inFlight.remove(key(blob, chunk.index()), claim.result());
                claim.result().completeExceptionally(new IOException(message, e));
            }
        }

        long decodedAt = System.nanoTime();
        complete(blob, goodClaims, goodData);
        if (LOG.isDebugEnabled()) {
            LOG.debug("fetched blob {} bytes {}+{} (chunks {}..{}): request {} ms, decode {} ms,"
                    + " store {} ms", blob.id(), first, length, range.getFirst().chunk().index(),
                    range.getLast().chunk().index(), (fetchedAt - start) / 1_000_000,
                    (decodedAt - fetchedAt) / 1_000_000,
                    (System.nanoTime() - decodedAt) / 1_000_000);
        }
    }

    /** Stores checked chunks and hands their data to the claims' readers. */
    void complete(BlobState blob, List<Claim> claims, List<byte[]> data) {
        List<Chunk> chunks = new ArrayList<>(claims.size());
        claims.forEach(claim -> chunks.add(claim.chunk()));
        store(blob, chunks, data);
        for (int i = 0; i < claims.size(); i++) {
            Claim claim = claims.get(i);
            claim.result().complete(data.get(i));
            inFlight.remove(key(blob, claim.chunk().index()), claim.result());
        }
    }

    private static void store(BlobState blob, List<Chunk> chunks, List<byte[]> data) {
        if (chunks.isEmpty()) {
            return;
        }
        try {
            blob.store().store(chunks, data);
        } catch (ClosedChannelException e) {
            // The unmount of the image closed the cache file, or interrupted a prefetch
            // worker: no fault to report.
            LOG.debug("stopped caching {} chunks of blob {}: the cache file was closed ({})",
                    chunks.size(), blob.id(), e.toString());
        } catch (IOException e) {
            // The checked data still serves this read; it is fetched again next time.
            long suppressed = CACHE_FAILURES.admit();
            if (suppressed >= 0) {
                String reason = e.getMessage() != null ? e.getMessage() : e.toString();
                LOG.warn("cannot cache {} chunks of blob {}: {}{}", chunks.size(), blob.id(),
                        reason, suppressed == 0 ? "" : " (" + suppressed + " more failed"
                                + " stores since the last report; reported at most once a"
                                + " minute)");
            }
        }
    }

    /** Decompresses one chunk out of a fetched range and checks its digest. */
    static byte[] decode(BlobState blob, Chunk chunk, byte[] range, int at) throws IOException {
        BlobInfo info = blob.info();
        byte[] data = new byte[chunk.uncompressedSize()];
        try {
            if (chunk.compressed()) {
                info.compressor().decompress(range, at, chunk.compressedSize(), data, 0,
                        data.length);
            } else if (chunk.compressedSize() != chunk.uncompressedSize()) {
                throw new RafsFormatException("stored size " + chunk.compressedSize()
                        + " differs from the uncompressed size " + chunk.uncompressedSize()
                        + " of an uncompressed chunk");
            } else {
                System.arraycopy(range, at, data, 0, data.length);
            }
        } catch (RafsFormatException e) {
            throw new IOException(describe(blob, chunk) + ": malformed chunk data ("
                    + e.getMessage() + "), expected digest " + chunk.digest()
                    + ", actual digest unknown");
        }
        verify(blob, chunk, data, "fetched");
        return data;
    }

    /** Checks {@code data} against the chunk's digest. */
    static void verify(BlobState blob, Chunk chunk, byte[] data, String what)
            throws IOException {
        byte[] actual = blob.info().digester().digest(data, 0, data.length);
        if (!chunk.digest().matches(actual)) {
            throw new IOException(describe(blob, chunk) + ": digest mismatch of the " + what
                    + " data, expected " + chunk.digest() + ", actual "
                    + HexFormat.of().formatHex(actual));
        }
    }

    static String describe(BlobState blob, Chunk chunk) {
        return "blob " + blob.id() + " chunk " + chunk.index() + " (compressed offset "
                + chunk.compressedOffset() + " size " + chunk.compressedSize()
                + ", uncompressed offset " + chunk.uncompressedOffset() + " size "
                + chunk.uncompressedSize() + ")";
    }

    void fail(BlobState blob, List<Claim> claims, IOException cause) {
        String message = String.valueOf(cause.getMessage());
        ErrorEvents.DAEMON.add(message.contains(blob.id()) ? message
                : "blob " + blob.id() + ": " + message);
        for (Claim claim : claims) {
            inFlight.remove(key(blob, claim.chunk().index()), claim.result());
            claim.result().completeExceptionally(cause);
        }
    }

    /** Waits for a fetch and returns its data, or null if it was given up without data. */
    static byte[] await(CompletableFuture<byte[]> future) throws IOException {
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for a chunk");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                // A new exception carries this reader's stack, the cause the fetcher's.
                throw new IOException(io.getMessage(), io);
            }
            throw new IOException("fetching a chunk failed: " + cause, cause);
        }
    }
}
