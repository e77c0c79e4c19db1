package io.nydus.storage.cache;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A blob's chunks in a cache directory, in upstream nydusd's layout: {@code
 * <blob_id>.blob.data} contains each chunk's uncompressed bytes at its uncompressed offset (a
 * sparse file of the blob's uncompressed size) and {@code <blob_id>.blob.data.chunk_map}
 * records which chunks are complete ({@link ChunkMap}).
 *
 * <p>Data is written and flushed before its bits are set, so a crash leaves at most chunks
 * whose data is present but unmarked, and those are fetched again. Every image of a process
 * that opens the same blob in the same directory shares one instance, counted by references.
 */
public final class FileChunkStore implements ChunkStore {
    private static final Logger LOG = LoggerFactory.getLogger(FileChunkStore.class);
    private static final Map<Path, FileChunkStore> OPEN = new HashMap<>();

    private final Path dataFile;
    private final CacheFile data;
    private final ChunkMap map;
    /** The blob's uncompressed size, which the data file has unless someone truncated it. */
    private final long dataSize;
    /** One bit per chunk whose stored bytes this process wrote or checked. */
    private final AtomicLongArray verified;
    private int references;

    private FileChunkStore(Path dataFile, CacheFile data, ChunkMap map, long dataSize) {
        this.dataFile = dataFile;
        this.data = data;
        this.map = map;
        this.dataSize = dataSize;
        this.verified = new AtomicLongArray((map.chunkCount() + 63) / 64);
    }

    /**
     * Opens the cache files of {@code blob} in {@code workDir}, creating them if needed.
     *
     * @throws IOException if the files cannot be created, or exist for a blob of another size
     */
    public static FileChunkStore open(Path workDir, BlobInfo blob) throws IOException {
        Files.createDirectories(workDir);
        Path dataFile = workDir.resolve(blob.blobId() + ".blob.data").toAbsolutePath()
                .normalize();
        synchronized (OPEN) {
            FileChunkStore store = OPEN.get(dataFile);
            if (store == null) {
                store = create(dataFile, blob);
                OPEN.put(dataFile, store);
            } else if (store.map.chunkCount() != blob.chunkCount()) {
                throw new IOException("blob cache " + dataFile + " is open for "
                        + store.map.chunkCount() + " chunks, but blob " + blob.blobId()
                        + " has " + blob.chunkCount());
            }
            store.references++;
            return store;
        }
    }

    private static FileChunkStore create(Path dataFile, BlobInfo blob) throws IOException {
        CacheFile data = new CacheFile(dataFile);
        try {
            ChunkMap map = ChunkMap.open(Path.of(dataFile + ".chunk_map"), blob.chunkCount());
            data.run(channel -> {
                if (channel.size() < blob.uncompressedSize()) {
                    // Writing the last byte sizes the file; the blocks before it stay holes.
                    ChunkMap.writeFully(channel, ByteBuffer.allocate(1),
                            blob.uncompressedSize() - 1);
                }
            });
            return new FileChunkStore(dataFile, data, map, blob.uncompressedSize());
        } catch (IOException | RuntimeException e) {
            data.close();
            throw e;
        }
    }

    @Override
    public boolean isReady(int index) throws IOException {
        return map.isReady(index);
    }

    @Override
    public boolean read(Chunk chunk, int offsetInChunk, MemorySegment target)
            throws IOException {
        if (!map.isReady(chunk.index())) {
            return false;
        }
        long position = chunk.uncompressedOffset() + offsetInChunk;
        data.run(channel -> ChunkMap.readFully(channel, target.asByteBuffer(), position));
        return true;
    }

    @Override
    public byte[] readAll(Chunk chunk) throws IOException {
        if (!map.isReady(chunk.index())) {
            return null;
        }
        byte[] bytes = new byte[chunk.uncompressedSize()];
        data.run(channel -> ChunkMap.readFully(channel, ByteBuffer.wrap(bytes),
                chunk.uncompressedOffset()));
        return bytes;
    }

    @Override
    public void store(List<Chunk> chunks, List<byte[]> bytes) throws IOException {
        distrustIfTruncated();
        int[] indexes = new int[chunks.size()];
        for (int i = 0; i < chunks.size(); i++) {
            indexes[i] = chunks.get(i).index();
        }
        data.run(channel -> {
            for (int i = 0; i < chunks.size(); i++) {
                ChunkMap.writeFully(channel, ByteBuffer.wrap(bytes.get(i)),
                        chunks.get(i).uncompressedOffset());
            }
            channel.force(false);
        });
        // A truncation during the writes above is caught here, before the bits are set.
        distrustIfTruncated();
        map.markReady(indexes);
        for (int index : indexes) {
            markVerified(index);
        }
    }

    /**
     * Drops every chunk's verified mark if the data file is shorter than the blob, as when a
     * process outside the daemon truncated it, and sizes the file again. A write past the new
     * end would otherwise turn the lost chunks into holes that read as zeros, and this process
     * would serve them unchecked. Now each is checked against its digest before use.
     *
     * <p>NOTE: a read that found its chunk verified just before this runs may still copy the
     * zeros of a hole, so the check narrows that race to one read but does not close it.
     * Another process that shares the directory keeps its own marks and still serves the
     * chunks it checked, zeros included, because it is not notified of the truncation.
     */
    private void distrustIfTruncated() throws IOException {
        if (data.call(FileChannel::size) >= dataSize) {
            return;
        }
        synchronized (this) {
            long size = data.call(FileChannel::size);
            if (size >= dataSize) {
                return;
            }
            LOG.warn("blob cache {} has {} bytes, fewer than the blob's {}, so it was truncated"
                    + " while in use; checking its chunks against their digests again",
                    dataFile, size, dataSize);
            for (int i = 0; i < verified.length(); i++) {
                verified.set(i, 0);
            }
            data.run(channel -> ChunkMap.writeFully(channel, ByteBuffer.allocate(1),
                    dataSize - 1));
        }
    }

    @Override
    public boolean isVerified(int index) {
        return (verified.get(index >>> 6) & (1L << index)) != 0;
    }

    @Override
    public void markVerified(int index) {
        verified.getAndUpdate(index >>> 6, word -> word | (1L << index));
    }

    @Override
    public void invalidate(int index) throws IOException {
        verified.getAndUpdate(index >>> 6, word -> word & ~(1L << index));
        map.clear(index);
    }

    @Override
    public int readyCount() {
        return map.readyCount();
    }

    @Override
    public int chunkCount() {
        return map.chunkCount();
    }

    /** Returns the data file, {@code <work_dir>/<blob_id>.blob.data}. */
    public Path dataFile() {
        return dataFile;
    }

    @Override
    public void close() throws IOException {
        synchronized (OPEN) {
            if (--references > 0) {
                return;
            }
            OPEN.remove(dataFile);
        }
        try (data; map) {
            // Both are closed by the try statement.
        }
    }
}
