package io.nydus.rafs.v6;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Node;
import java.util.List;

/**
 * A RAFS image's metadata in memory: the file tree, the blobs its chunks live in, and the
 * superblock settings.
 *
 * @param root the root directory
 * @param blobs the blob table, in index order
 * @param chunkSize the chunk size, a power of two from 4 KiB to 16 MiB
 * @param flags the extended superblock's {@link RafsFlags}
 * @param prefetch nodes whose data is fetched first, in order
 */
public record Bootstrap(Node root, List<BlobInfo> blobs, int chunkSize, long flags,
        List<Node> prefetch) {

    public static final int MIN_CHUNK_SIZE = 0x1000;
    public static final int MAX_CHUNK_SIZE = 0x100_0000;
    public static final int DEFAULT_CHUNK_SIZE = 0x10_0000;

    public Bootstrap {
        if (root == null || !root.isDirectory()) {
            throw new IllegalArgumentException("the image root must be a directory");
        }
        checkChunkSize(chunkSize);
        if (blobs.size() > 254) {
            throw new IllegalArgumentException("an image may use at most 254 blobs, got "
                    + blobs.size());
        }
        blobs = List.copyOf(blobs);
        prefetch = List.copyOf(prefetch);
    }

    /** Rejects a chunk size that is not a power of two from 4 KiB to 16 MiB. */
    public static void checkChunkSize(long chunkSize) {
        if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE
                || Long.bitCount(chunkSize) != 1) {
            throw new IllegalArgumentException("chunk size 0x" + Long.toHexString(chunkSize)
                    + " must be a power of two from 0x1000 to 0x1000000");
        }
    }

    public Compressor compressor() {
        return RafsFlags.compressor(flags);
    }

    public DigestAlgorithm digester() {
        return RafsFlags.digester(flags);
    }

    public boolean explicitUidGid() {
        return (flags & RafsFlags.EXPLICIT_UID_GID) != 0;
    }
}
