package io.nydus.builder;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import java.util.HashMap;
import java.util.Map;

/**
 * Chunks a build may reuse instead of storing again, by digest and size: those of this build,
 * of a parent bootstrap and of a chunk dictionary. The first chunk added for a key wins, so
 * chunks of lower layers are preferred. A dictionary blob joins the blob table only when one of
 * its chunks is first reused, so unused dictionary blobs stay out of the image.
 */
final class ChunkIndex {
    private record Key(ChunkDigest digest, int size) {
    }

    /** A reusable chunk; {@code origin} is set while its blob is not yet in the table. */
    private record Entry(Chunk chunk, BlobInfo origin) {
    }

    private final Map<Key, Entry> chunks = new HashMap<>();
    private final BlobTable table;
    private int reused;

    ChunkIndex(BlobTable table) {
        this.table = table;
    }

    /** Returns a stored chunk with this digest and size, indexed into the table, or null. */
    Chunk find(ChunkDigest digest, int size) {
        Key key = new Key(digest, size);
        Entry e = chunks.get(key);
        if (e == null) {
            return null;
        }
        reused++;
        if (e.origin() == null) {
            return e.chunk();
        }
        int blobIndex = table.indexOrAdd(e.origin());
        Chunk placed = e.chunk().withBlobIndex(blobIndex);
        chunks.put(key, new Entry(placed, null));
        return placed;
    }

    /** Adds a chunk whose blob index already points into the table. */
    void add(Chunk chunk) {
        chunks.putIfAbsent(new Key(chunk.digest(), chunk.uncompressedSize()),
                new Entry(chunk, null));
    }

    /** Adds every chunk of a parent image, whose blobs head the table in the same order. */
    void addParent(Bootstrap parent) {
        forEachChunk(parent.root(), chunk -> add(chunk));
    }

    /** Adds every chunk of a dictionary image; its blobs join the table on first reuse. */
    void addDictionary(Bootstrap dict) {
        forEachChunk(dict.root(), chunk -> chunks.putIfAbsent(
                new Key(chunk.digest(), chunk.uncompressedSize()),
                new Entry(chunk, dict.blobs().get(chunk.blobIndex()))));
    }

    private static void forEachChunk(Node root, java.util.function.Consumer<Chunk> action) {
        for (Node node : root.descendants()) {
            node.inode().chunks().forEach(action);
        }
    }

    /** Returns how many chunks were found here instead of being stored again. */
    int reusedCount() {
        return reused;
    }
}
