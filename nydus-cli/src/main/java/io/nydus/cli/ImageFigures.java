package io.nydus.cli;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.io.PrintWriter;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.LongStream;

/**
 * The figures `nydus-image stat` prints for one side, the base images or the target image,
 * summed over the images added. A hard-linked file counts as a file for every name, but its
 * size and chunks count once. Sizes are in bytes. The text and JSON forms have upstream's
 * labels and field names.
 */
final class ImageFigures {
    /** The smallest and largest chunk size of the chunk count histogram, as powers of two. */
    static final int MIN_CHUNK_BITS = 12;
    static final int MAX_CHUNK_BITS = 20;
    /** The last slot of the file size histogram, which also counts every larger file. */
    static final int MAX_FILE_SIZE_BITS = 44;
    /** Files are padded to whole 4 KiB blocks in the uncompressed size, as upstream counts. */
    private static final long BLOCK_SIZE = 4096;

    private long directories;
    private long files;
    private long symlinks;
    private long chunks;
    private long fileSize;
    private long paddingSize;
    private long compressedSize;
    private long uncompressedSize;
    /** Files by the bit length of their size: slot n counts sizes from 2^(n-1) to 2^n - 1. */
    private final long[] fileSizeCounts = new long[MAX_FILE_SIZE_BITS + 1];
    /** The chunks the files would be cut into at each chunk size from 4 KiB to 1 MiB. */
    private final long[] chunkCounts = new long[MAX_CHUNK_BITS - MIN_CHUNK_BITS + 1];
    private ChunkSum dedup = ChunkSum.ZERO;
    private ChunkSum owned = ChunkSum.ZERO;
    private ChunkSum referenced = ChunkSum.ZERO;

    /**
     * Adds the entries of the tree below {@code root}, the root included, and returns the
     * image's distinct chunks by digest, the first one found of each.
     */
    Map<ChunkDigest, Chunk> addTree(Node root) {
        Map<ChunkDigest, Chunk> distinct = new LinkedHashMap<>();
        Set<Inode> counted = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Node> pending = new ArrayDeque<>();
        pending.push(root);
        while (!pending.isEmpty()) {
            Node node = pending.pop();
            switch (node.inode().type()) {
                case DIRECTORY -> directories++;
                case SYMLINK -> symlinks++;
                case REGULAR -> addFile(node.inode(), counted, distinct);
                default -> {
                    // Devices, FIFOs and sockets are not counted, as upstream does not.
                }
            }
            List<Node> children = List.copyOf(node.children());
            for (int i = children.size() - 1; i >= 0; i--) {
                pending.push(children.get(i));
            }
        }
        return distinct;
    }

    private void addFile(Inode inode, Set<Inode> counted, Map<ChunkDigest, Chunk> distinct) {
        files++;
        if (!counted.add(inode)) {
            return;
        }
        long size = inode.size();
        fileSizeCounts[Math.min(Long.SIZE - Long.numberOfLeadingZeros(size),
                MAX_FILE_SIZE_BITS)]++;
        fileSize += size;
        paddingSize += Math.ceilDiv(size, BLOCK_SIZE) * BLOCK_SIZE - size;
        for (int bits = MIN_CHUNK_BITS; bits <= MAX_CHUNK_BITS; bits++) {
            chunkCounts[bits - MIN_CHUNK_BITS] += Math.ceilDiv(size, 1L << bits);
        }
        for (Chunk chunk : inode.chunks()) {
            chunks++;
            compressedSize += chunk.compressedSize();
            uncompressedSize += chunk.uncompressedSize();
            distinct.putIfAbsent(chunk.digest(), chunk);
        }
    }

    /** Counts {@code chunk} as one the images store themselves. */
    void addOwned(Chunk chunk) {
        owned = owned.plus(chunk);
    }

    /** Counts {@code chunk} of the target as one the base images already store. */
    void addReferenced(Chunk chunk) {
        referenced = referenced.plus(chunk);
    }

    /** Counts {@code chunk} as one entry of the deduplication dictionary. */
    void addDedup(Chunk chunk) {
        dedup = dedup.plus(chunk);
    }

    /** Adds the padding to the uncompressed size, as upstream's figures include it. */
    void addPaddingToUncompressedSize() {
        uncompressedSize += paddingSize;
    }

    /** Prints the figures in upstream's layout: a summary, two histograms, chunk sums. */
    void writeText(PrintWriter out) {
        out.println();
        out.printf("Directories:            %d%n", directories);
        out.printf("Files:                  %d%n", files);
        out.printf("Symlinks:               %d%n", symlinks);
        out.printf("Chunks:                 %d%n", chunks);
        out.printf("File Size:              %d%n", fileSize);
        out.printf("Padding Size:           %d%n", paddingSize);
        out.printf("Uncompressed Size:      %d%n", uncompressedSize);
        out.printf("Compressed Size:        %d%n", compressedSize);

        out.printf("%nFile Size Bits:\t\tFile Count:%n");
        for (int bits = 0; bits <= MAX_FILE_SIZE_BITS; bits++) {
            out.printf("%d:\t\t\t%d%n", bits, fileSizeCounts[bits]);
        }
        out.printf("%nChunk Size Bits:\tChunk Count:%n");
        for (int bits = MIN_CHUNK_BITS; bits <= MAX_CHUNK_BITS; bits++) {
            out.printf("%d:\t\t\t%d%n", bits, chunkCounts[bits - MIN_CHUNK_BITS]);
        }

        out.printf("%nRaw Content Size:\t%d%n", fileSize);
        out.printf("Comp Content Size:\t%d%n", compressedSize);
        out.printf("Raw Chunk Count:\t%d%n", chunks);
        writeSum(out, "Dedup", dedup);
        writeSum(out, "Owned", owned);
        writeSum(out, "Referenced", referenced);
    }

    private static void writeSum(PrintWriter out, String label, ChunkSum sum) {
        out.printf("%s Comp Size:\t%d%n", label, sum.compressedSize());
        out.printf("%s Uncomp Size:\t%d%n", label, sum.uncompressedSize());
        out.printf("%s Chunk Count:\t%d%n", label, sum.chunks());
    }

    /** Returns the figures as a JSON object with upstream's field names. */
    Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("dirs", directories);
        json.put("files", files);
        json.put("symlinks", symlinks);
        json.put("chunks", chunks);
        json.put("file_size", fileSize);
        json.put("comp_size", compressedSize);
        json.put("uncomp_size", uncompressedSize);
        json.put("padding_size", paddingSize);
        json.put("chunk_sizes", LongStream.of(chunkCounts).boxed().toList());
        json.put("file_sizes", LongStream.of(fileSizeCounts).boxed().toList());
        json.put("dedup_chunks", dedup.chunks());
        json.put("dedup_comp_size", dedup.compressedSize());
        json.put("dedup_uncomp_size", dedup.uncompressedSize());
        json.put("own_chunks", owned.chunks());
        json.put("own_comp_size", owned.compressedSize());
        json.put("own_uncomp_size", owned.uncompressedSize());
        json.put("ref_chunks", referenced.chunks());
        json.put("ref_comp_size", referenced.compressedSize());
        json.put("ref_uncomp_size", referenced.uncompressedSize());
        return json;
    }
}
