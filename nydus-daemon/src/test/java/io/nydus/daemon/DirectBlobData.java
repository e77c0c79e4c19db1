package io.nydus.daemon;

import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Image data read straight from blob files with the project's blob reader, which checks every
 * chunk. It lets the file system side be tested apart from the blob cache.
 */
final class DirectBlobData implements ImageData {
    private final List<BlobReader> readers = new ArrayList<>();
    final AtomicLong chunkReads = new AtomicLong();
    final List<Chunk> prefetched = new ArrayList<>();
    /** Whether each call of {@link #prefetch} requested that its chunks wait for reads. */
    final List<Boolean> prefetchYielded = new ArrayList<>();
    /** Whether {@link #close} ran, so that tests can find data sides left open. */
    volatile boolean closed;

    DirectBlobData(Path blobDir, List<BlobInfo> blobs) throws IOException {
        for (BlobInfo blob : blobs) {
            readers.add(BlobReader.open(blobDir.resolve(blob.blobId()), blob));
        }
    }

    @Override
    public synchronized void read(Chunk chunk, int offsetInChunk, MemorySegment target)
            throws IOException {
        chunkReads.incrementAndGet();
        byte[] data = readers.get(chunk.blobIndex()).readChunk(chunk);
        MemorySegment.copy(MemorySegment.ofArray(data), offsetInChunk, target, 0,
                target.byteSize());
    }

    @Override
    public synchronized void prefetch(List<Chunk> chunks, boolean yielding) {
        prefetched.addAll(chunks);
        prefetchYielded.add(yielding);
    }

    @Override
    public void prefetchAll() {
    }

    @Override
    public String backend() {
        return "test blob directory";
    }

    @Override
    public Map<String, Object> backendMetrics() {
        return Map.of("read_count", chunkReads.get());
    }

    @Override
    public Map<String, Object> cacheMetrics() {
        return Map.of("prefetch_requests_count", prefetched.size());
    }

    @Override
    public void close() throws IOException {
        closed = true;
        for (BlobReader reader : readers) {
            reader.close();
        }
    }
}
