package io.nydus.cli;

import io.nydus.rafs.tree.Chunk;

/**
 * A number of chunks with the sum of their compressed and uncompressed sizes, in bytes.
 *
 * @param chunks how many chunks were added
 * @param compressedSize the sum of their stored sizes
 * @param uncompressedSize the sum of their data sizes
 */
record ChunkSum(long chunks, long compressedSize, long uncompressedSize) {
    static final ChunkSum ZERO = new ChunkSum(0, 0, 0);

    ChunkSum {
        if (chunks < 0 || compressedSize < 0 || uncompressedSize < 0) {
            throw new IllegalArgumentException("chunk sum " + chunks + " chunks, "
                    + compressedSize + " compressed bytes, " + uncompressedSize
                    + " uncompressed bytes has a negative value");
        }
    }

    /** Returns this sum with {@code chunk} added once. */
    ChunkSum plus(Chunk chunk) {
        return plus(chunk, 1);
    }

    /** Returns this sum with {@code chunk} added {@code times} times. */
    ChunkSum plus(Chunk chunk, long times) {
        return new ChunkSum(chunks + times, compressedSize + times * chunk.compressedSize(),
                uncompressedSize + times * chunk.uncompressedSize());
    }
}
