package io.nydus.storage.cache;

import io.nydus.rafs.tree.Chunk;
import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The uncompressed chunks of one blob that have been fetched and checked. A chunk counts as
 * ready only once its complete data is stored.
 */
public interface ChunkStore extends Closeable {

    /** Returns whether chunk {@code index} is stored. */
    boolean isReady(int index) throws IOException;

    /**
     * Copies {@code target.byteSize()} bytes of a ready chunk from {@code offsetInChunk}.
     *
     * @return false if the chunk is not stored (any more), in which case nothing was copied
     */
    boolean read(Chunk chunk, int offsetInChunk, MemorySegment target) throws IOException;

    /** Returns the whole data of a ready chunk, or null if it is not stored. */
    byte[] readAll(Chunk chunk) throws IOException;

    /** Stores checked chunk data and then marks the chunks ready. */
    void store(List<Chunk> chunks, List<byte[]> data) throws IOException;

    /**
     * Returns whether this process stored chunk {@code index} or checked its stored bytes
     * against the digest, so that a read may use them unchecked. Stored bytes that an earlier
     * process left may have been damaged since.
     */
    default boolean isVerified(int index) {
        return false;
    }

    /** Records that the stored bytes of chunk {@code index} matched its digest. */
    default void markVerified(int index) {
    }

    /** Marks chunk {@code index} as not ready, so that it is fetched again. */
    void invalidate(int index) throws IOException;

    /** Returns how many chunks are ready. */
    int readyCount();

    /** Returns how many chunks the blob has. */
    int chunkCount();
}
