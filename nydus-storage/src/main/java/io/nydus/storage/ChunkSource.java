package io.nydus.storage;

import io.nydus.rafs.tree.Chunk;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** Serves the uncompressed bytes of an image's chunks, from a cache or a backend. */
public interface ChunkSource {

    /**
     * Copies {@code target.byteSize()} bytes of {@code chunk}'s uncompressed data, starting at
     * {@code offsetInChunk}, into {@code target}. The bytes always come from data whose digest
     * was checked; a chunk that fails its check throws, it never yields other bytes.
     *
     * @throws StorageClosedException if the source was closed before or during the read
     * @throws IOException if the chunk cannot be read or fails its digest check
     */
    void read(Chunk chunk, int offsetInChunk, MemorySegment target) throws IOException;
}
