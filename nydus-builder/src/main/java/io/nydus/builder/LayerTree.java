package io.nydus.builder;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A source's tree while its file data is still being chunked: each regular file's chunk list is
 * filled by the {@link ChunkPipeline} and attached to the inode once the pipeline finishes.
 */
final class LayerTree {
    private final Node root;
    private final Map<Inode, List<Chunk>> pending = new IdentityHashMap<>();

    LayerTree(Node root) {
        this.root = root;
    }

    Node root() {
        return root;
    }

    void pendingChunks(Inode inode, List<Chunk> chunks) {
        pending.put(inode, chunks);
    }

    /** Attaches the finished chunk lists to their inodes. */
    void attachChunks() {
        for (Map.Entry<Inode, List<Chunk>> e : pending.entrySet()) {
            e.getKey().chunks(e.getValue());
        }
        pending.clear();
    }
}
