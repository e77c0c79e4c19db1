package io.nydus.builder;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The blob table of a merge. While the layers are applied it lists every layer's blobs, one entry
 * per blob id. At the end it keeps only the blobs the merged tree uses, numbered in the order a
 * breadth-first walk of the tree first meets them.
 */
final class MergedBlobs {
    private final List<BlobInfo> blobs = new ArrayList<>();
    private final Map<String, Integer> indexById = new LinkedHashMap<>();
    private final Map<String, Path> firstLayer = new LinkedHashMap<>();

    /**
     * Adds a layer's blobs, with their final ids, and moves every chunk of the layer's tree
     * from the layer's blob indexes to this table's.
     *
     * @throws IOException if a blob id is already known with different contents
     */
    void addLayer(Path layer, List<BlobInfo> layerBlobs, Node layerRoot) throws IOException {
        int[] global = new int[layerBlobs.size()];
        for (int i = 0; i < layerBlobs.size(); i++) {
            global[i] = indexOf(layer, layerBlobs.get(i));
        }
        forEachInode(layerRoot, inode -> inode.chunks(remap(inode.chunks(), global)));
    }

    private int indexOf(Path layer, BlobInfo blob) throws IOException {
        Integer known = indexById.get(blob.blobId());
        if (known == null) {
            blobs.add(blob);
            indexById.put(blob.blobId(), blobs.size() - 1);
            firstLayer.put(blob.blobId(), layer);
            return blobs.size() - 1;
        }
        BlobInfo first = blobs.get(known);
        if (first.chunkCount() != blob.chunkCount()
                || first.uncompressedSize() != blob.uncompressedSize()) {
            throw new IOException("blob " + blob.blobId() + " has " + first.chunkCount()
                    + " chunks and " + first.uncompressedSize() + " uncompressed bytes in "
                    + firstLayer.get(blob.blobId()) + " but " + blob.chunkCount() + " chunks and "
                    + blob.uncompressedSize() + " bytes in " + layer);
        }
        return known;
    }

    /**
     * Keeps the blobs that {@code root}'s files use, numbered in breadth-first order of first
     * use, and points every chunk at its blob's new index.
     *
     * @return the kept blobs in their new order
     */
    List<BlobInfo> compact(Node root) {
        Map<Integer, Integer> renumbered = firstUseOrder(root);
        int[] newIndex = new int[blobs.size()];
        List<BlobInfo> used = new ArrayList<>(renumbered.size());
        for (Map.Entry<Integer, Integer> e : renumbered.entrySet()) {
            newIndex[e.getKey()] = e.getValue();
            used.add(blobs.get(e.getKey()));
        }
        forEachInode(root, inode -> inode.chunks(remap(inode.chunks(), newIndex)));
        return used;
    }

    /** Returns the ids of the blobs that {@code kept} leaves out, in table order. */
    List<String> droppedIds(List<BlobInfo> kept) {
        Set<String> keptIds = new java.util.HashSet<>();
        kept.forEach(blob -> keptIds.add(blob.blobId()));
        List<String> dropped = new ArrayList<>();
        for (BlobInfo blob : blobs) {
            if (!keptIds.contains(blob.blobId())) {
                dropped.add(blob.blobId());
            }
        }
        return dropped;
    }

    /** Maps old blob index to new index, in the order a breadth-first walk first uses them. */
    private static Map<Integer, Integer> firstUseOrder(Node root) {
        Map<Integer, Integer> order = new LinkedHashMap<>();
        ArrayDeque<Node> queue = new ArrayDeque<>();
        queue.add(root);
        while (!queue.isEmpty()) {
            for (Node child : queue.poll().children()) {
                for (Chunk chunk : child.inode().chunks()) {
                    order.putIfAbsent(chunk.blobIndex(), order.size());
                }
                if (child.isDirectory()) {
                    queue.add(child);
                }
            }
        }
        return order;
    }

    private static List<Chunk> remap(List<Chunk> chunks, int[] newIndex) {
        List<Chunk> moved = new ArrayList<>(chunks.size());
        for (Chunk chunk : chunks) {
            moved.add(chunk.withBlobIndex(newIndex[chunk.blobIndex()]));
        }
        return moved;
    }

    /** Calls {@code action} once per inode of the tree, however many names it has. */
    static void forEachInode(Node root, Consumer<Inode> action) {
        Set<Inode> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Node> pending = new ArrayDeque<>();
        pending.add(root);
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            if (seen.add(node.inode())) {
                action.accept(node.inode());
            }
            node.children().forEach(pending::add);
        }
    }
}
