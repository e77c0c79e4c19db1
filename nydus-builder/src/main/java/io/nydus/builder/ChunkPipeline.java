package io.nydus.builder;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.blob.BlobWriter;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cuts file contents into chunks, hashes and compresses them on worker threads, and stores each
 * distinct chunk once. Results are taken in submission order and dedup is decided on the calling
 * thread, so the blob and the chunk lists are the same for any number of threads. At most a few
 * chunks per thread are in memory at once.
 */
final class ChunkPipeline implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ChunkPipeline.class);
    private static final long PROGRESS_INTERVAL_NANOS = 5_000_000_000L;

    private final BuildOptions options;
    private final BlobWriter writer;
    private final ChunkIndex index;
    private final ExecutorService pool;
    private final int maxInFlight;
    private final ArrayDeque<Pending> inFlight = new ArrayDeque<>();
    private long bytesRead;
    private long files;
    private long nextProgress = System.nanoTime() + PROGRESS_INTERVAL_NANOS;

    private record Pending(Future<Processed> result, List<Chunk> target) {
    }

    private record Processed(ChunkDigest digest, byte[] stored, int storedLength, int length,
            boolean compressed, int crc32) {
    }

    ChunkPipeline(BuildOptions options, BlobWriter writer, ChunkIndex index) {
        this.options = options;
        this.writer = writer;
        this.index = index;
        this.pool = options.threads() > 1
                ? Executors.newFixedThreadPool(options.threads(), Thread.ofPlatform()
                        .daemon().name("chunk-worker-", 0).factory())
                : null;
        this.maxInFlight = options.threads() * 2;
        if (options.digester() == DigestAlgorithm.BLAKE3) {
            DigestWarmUp.start();
        }
    }

    long bytesRead() {
        return bytesRead;
    }

    /**
     * Reads {@code size} bytes of a file and queues its chunks. The returned list is complete
     * once {@link #finish} returns.
     *
     * @param path the file's path, for messages
     */
    List<Chunk> addFile(InputStream content, long size, String path) throws IOException {
        DigestWarmUp.stop();
        int chunkSize = options.chunkSize();
        List<Chunk> chunks = new ArrayList<>((int) Math.min((size + chunkSize - 1) / chunkSize,
                1 << 16));
        long remaining = size;
        while (remaining > 0) {
            int length = (int) Math.min(chunkSize, remaining);
            byte[] buffer = new byte[length];
            int read = content.readNBytes(buffer, 0, length);
            if (read < length) {
                throw new IOException(path + ": file data ended after " + (size - remaining + read)
                        + " bytes, expected " + size);
            }
            remaining -= length;
            bytesRead += length;
            submit(buffer, chunks);
        }
        files++;
        reportProgress();
        return chunks;
    }

    private void reportProgress() {
        long now = System.nanoTime();
        if (now >= nextProgress) {
            nextProgress = now + PROGRESS_INTERVAL_NANOS;
            LOG.info("read {} MiB in {} files, stored {} chunks", bytesRead >> 20, files,
                    writer.chunkCount());
        }
    }

    private void submit(byte[] data, List<Chunk> target) throws IOException {
        if (pool == null) {
            store(process(data), target);
            return;
        }
        inFlight.add(new Pending(pool.submit(() -> process(data)), target));
        while (inFlight.size() > maxInFlight) {
            drainOne();
        }
    }

    private Processed process(byte[] data) {
        DigestAlgorithm digester = options.digester();
        ChunkDigest digest = ChunkDigest.of(digester.digest(data, 0, data.length));
        CRC32C crc = new CRC32C();
        crc.update(data, 0, data.length);
        Compressor compressor = options.compressor();
        byte[] compressed = compressor.compressIfSmaller(data, 0, data.length);
        if (compressed == null) {
            return new Processed(digest, data, data.length, data.length, false,
                    (int) crc.getValue());
        }
        return new Processed(digest, compressed, compressed.length, data.length, true,
                (int) crc.getValue());
    }

    private void drainOne() throws IOException {
        Pending p = inFlight.poll();
        try {
            store(p.result().get(), p.target());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while compressing chunks", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof UncheckedIOException u) {
                throw u.getCause();
            }
            throw new IOException("chunk processing failed: " + cause, cause);
        }
    }

    private void store(Processed p, List<Chunk> target) throws IOException {
        Chunk existing = index.find(p.digest(), p.length());
        if (existing == null) {
            existing = writer.append(p.digest(), p.stored(), p.storedLength(), p.length(),
                    p.compressed(), p.crc32());
            index.add(existing);
        }
        target.add(existing);
    }

    /** Waits for every queued chunk to be stored. */
    void finish() throws IOException {
        while (!inFlight.isEmpty()) {
            drainOne();
        }
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }
}
