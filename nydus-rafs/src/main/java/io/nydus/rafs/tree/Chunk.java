package io.nydus.rafs.tree;

/**
 * One stored chunk of file data: where it lives in which blob, compressed and uncompressed.
 * Files that share content share the same chunk.
 *
 * @param digest digest of the uncompressed bytes
 * @param blobIndex index of the blob in the bootstrap's blob table
 * @param index the chunk's position in its blob's chunk information (CI) table
 * @param compressedOffset offset of the stored bytes in the blob's data section
 * @param compressedSize stored size; equal to uncompressedSize when stored raw
 * @param uncompressedOffset offset in the blob's uncompressed address space, 4 KiB aligned
 * @param uncompressedSize size of the chunk's data, 1 byte to 16 MiB
 * @param compressed whether the stored bytes are compressed
 * @param crc32 CRC-32C of the uncompressed bytes, when {@code hasCrc32}
 * @param hasCrc32 whether {@code crc32} is meaningful
 */
public record Chunk(ChunkDigest digest, int blobIndex, int index, long compressedOffset,
        int compressedSize, long uncompressedOffset, int uncompressedSize, boolean compressed,
        int crc32, boolean hasCrc32) {

    /** The largest chunk the format can describe. */
    public static final int MAX_SIZE = 16 << 20;

    public Chunk {
        if (digest == null) {
            throw new IllegalArgumentException("chunk digest is missing");
        }
        if (blobIndex < 0 || blobIndex > 254) {
            throw new IllegalArgumentException("chunk blob index " + blobIndex
                    + " is outside 0..254");
        }
        if (index < 0 || index >= (1 << 24)) {
            throw new IllegalArgumentException("chunk index " + index + " is outside 0..2^24-1");
        }
        if (compressedOffset < 0 || uncompressedOffset < 0) {
            throw new IllegalArgumentException("chunk " + digest + " has a negative offset");
        }
        if (uncompressedSize <= 0 || uncompressedSize > MAX_SIZE) {
            throw new IllegalArgumentException("chunk " + digest + " has uncompressed size "
                    + uncompressedSize + ", expected 1.." + MAX_SIZE);
        }
        if (compressedSize < 0 || compressedSize > MAX_SIZE) {
            throw new IllegalArgumentException("chunk " + digest + " has compressed size "
                    + compressedSize + ", expected 0.." + MAX_SIZE);
        }
    }

    /** Returns a copy that lives in blob {@code newBlobIndex}. */
    public Chunk withBlobIndex(int newBlobIndex) {
        return new Chunk(digest, newBlobIndex, index, compressedOffset, compressedSize,
                uncompressedOffset, uncompressedSize, compressed, crc32, hasCrc32);
    }
}
