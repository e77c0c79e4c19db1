package io.nydus.rafs.digest;

import java.lang.foreign.MemorySegment;

/**
 * The BLAKE3 chunk tree over an input that arrives in batches of whole chunks, with bounded
 * memory.
 *
 * <p>The tree is left-full: the left subtree of every node contains the largest power-of-two
 * number of chunks that leaves at least one byte for the right subtree. The chunks are taken in
 * aligned segments of {@code segmentChunks} chunks (a power of two). Within a segment all chunk
 * chaining values are kept, so that each level of parents is computed in vector lanes. A
 * complete segment that more input follows is reduced to one chaining value and pushed onto a
 * stack, where two complete subtrees of equal size merge at once into their parent. Such a
 * merge is safe because the merged subtree is complete and more input follows it, so it is a
 * node of the final tree but not its root.
 *
 * <p>Level-wise pairing of a segment's chaining values, with an odd last one carried up a
 * level unchanged, gives exactly the left-full tree of that segment. The last, partial segment
 * is reduced that way, and its chaining value is then folded with the stack from the top down.
 */
final class Blake3Tree {
    /** Chunks per segment when the input size is not known beforehand: 256 KiB. */
    static final int SEGMENT_CHUNKS = 256;

    /** Whether the vector code runs. The lanes property "0" turns it off. */
    static final boolean VECTOR = vectorEnabled();
    /** Chunks per batch: one vector call, or 8 scalar chunks without the Vector API. */
    static final int BATCH_CHUNKS = VECTOR ? Blake3Vector.LANES : 8;
    static final int BATCH_LENGTH = BATCH_CHUNKS * Blake3Scalar.CHUNK_LENGTH;

    /** Fewer chunks or parents than this are cheaper one by one than in a mostly idle vector. */
    private static final int MIN_VECTOR_ITEMS = 3;

    /** Enough stack entries for 2^64 bytes: one per bit of the count of complete segments. */
    private static final int MAX_STACK_DEPTH = 64;

    private final int segmentChunks;
    private final int stride;
    private final int[] rows;
    private int[] finishRows;
    private final Blake3Vector.Workspace workspace;
    private final int[] block = new int[16];
    private final int[] cv = new int[8];

    private int segmentCount;
    private long segmentsDone;
    /** Chaining values of complete subtrees, 8 words each, allocated at the first push. */
    private int[] stack;
    private int stackDepth;

    /**
     * Creates an empty tree.
     *
     * @param segmentChunks a power of two, and at least {@link #BATCH_CHUNKS} unless the tree
     *     takes its whole input through {@link #finish}
     */
    Blake3Tree(int segmentChunks) {
        if (Integer.bitCount(segmentChunks) != 1 || segmentChunks > SEGMENT_CHUNKS) {
            throw new IllegalArgumentException("segment of " + segmentChunks
                    + " chunks is not a power of two of at most " + SEGMENT_CHUNKS);
        }
        this.segmentChunks = segmentChunks;
        this.stride = segmentChunks;
        this.rows = newRows();
        this.workspace = VECTOR ? new Blake3Vector.Workspace(segmentChunks) : null;
    }

    /**
     * Returns a tree for an input of known length, no larger than that input needs, so that
     * short inputs allocate little.
     */
    static Blake3Tree forLength(long length) {
        long chunks = (length + Blake3Scalar.CHUNK_LENGTH - 1) / Blake3Scalar.CHUNK_LENGTH;
        if (chunks >= SEGMENT_CHUNKS) {
            return new Blake3Tree(SEGMENT_CHUNKS);
        }
        int size = Integer.highestOneBit((int) Math.max(1, chunks));
        if (size < chunks) {
            size <<= 1;
        }
        if (chunks > BATCH_CHUNKS) {
            size = Math.max(size, BATCH_CHUNKS);
        }
        return new Blake3Tree(size);
    }

    void reset() {
        segmentCount = 0;
        segmentsDone = 0;
        stackDepth = 0;
    }

    private long chunkCounter() {
        return segmentsDone * segmentChunks + segmentCount;
    }

    /**
     * Adds {@link #BATCH_CHUNKS} full chunks at {@code offset}. The caller guarantees that more
     * input follows them, so none of them is the last chunk.
     */
    void addBatch(MemorySegment input, long offset) {
        if (segmentChunks < BATCH_CHUNKS) {
            throw new IllegalStateException("segment of " + segmentChunks
                    + " chunks cannot take a batch of " + BATCH_CHUNKS);
        }
        addChunkCvs(input, offset, BATCH_CHUNKS, rows, segmentCount);
        segmentCount += BATCH_CHUNKS;
        if (segmentCount == segmentChunks) {
            reduceLevels(rows, segmentCount, 1);
            pushSegment();
            segmentCount = 0;
        }
    }

    /** Pushes the chaining value at position 0 of the rows, merging equal-sized subtrees. */
    private void pushSegment() {
        if (stack == null) {
            stack = new int[MAX_STACK_DEPTH * 8];
        }
        for (int w = 0; w < 8; w++) {
            stack[stackDepth * 8 + w] = rows[w * stride];
        }
        stackDepth++;
        segmentsDone++;
        for (long n = segmentsDone; (n & 1) == 0; n >>>= 1) {
            int right = (stackDepth - 1) * 8;
            int left = right - 8;
            Blake3Scalar.parentCv(stack, left, stack, right, block, stack, left);
            stackDepth--;
        }
    }

    /**
     * Returns the root node of the whole input, given its last {@code length} bytes at
     * {@code offset}: at most {@link #BATCH_LENGTH} bytes, and at least one unless nothing came
     * before. The tree stays unchanged unless {@code consume} is set, so it may take more
     * batches afterwards.
     */
    Blake3Output finish(MemorySegment input, long offset, int length, boolean consume) {
        if (chunkCounter() == 0 && length <= Blake3Scalar.CHUNK_LENGTH) {
            return Blake3Scalar.chunkOutput(input, offset, length, 0);
        }
        int fullChunks = length / Blake3Scalar.CHUNK_LENGTH;
        int tailLength = length - fullChunks * Blake3Scalar.CHUNK_LENGTH;
        int[] target = consume ? rows : copyOfRows();
        addChunkCvs(input, offset, fullChunks, target, segmentCount);
        int count = segmentCount + fullChunks;
        if (tailLength > 0) {
            long tailOffset = offset + (long) fullChunks * Blake3Scalar.CHUNK_LENGTH;
            long tailCounter = chunkCounter() + fullChunks;
            Blake3Scalar.chunkOutput(input, tailOffset, tailLength, tailCounter)
                    .chainingValue(cv, 0);
            scatter(cv, 0, target, count);
            count++;
        }

        if (stackDepth == 0) {
            reduceLevels(target, count, 2);
            return rootParent(target);
        }
        reduceLevels(target, count, 1);
        gather(target, 0, cv, 0);
        for (int i = stackDepth - 1; i > 0; i--) {
            Blake3Scalar.parentCv(stack, i * 8, cv, 0, block, cv, 0);
        }
        return Blake3Scalar.parentOutput(stack, 0, cv, 0);
    }

    private int[] copyOfRows() {
        if (finishRows == null) {
            finishRows = newRows();
        }
        for (int w = 0; w < 8; w++) {
            System.arraycopy(rows, w * stride, finishRows, w * stride, segmentCount);
        }
        return finishRows;
    }

    private int[] newRows() {
        // Slack after the last row: parent lanes beyond the count still read.
        return new int[8 * stride + 2 * BATCH_CHUNKS];
    }

    private void addChunkCvs(MemorySegment input, long offset, int count, int[] target,
            int position) {
        long counter = chunkCounter();
        if (VECTOR && count >= MIN_VECTOR_ITEMS) {
            for (int done = 0; done < count; done += Blake3Vector.LANES) {
                int n = Math.min(Blake3Vector.LANES, count - done);
                long at = offset + (long) done * Blake3Scalar.CHUNK_LENGTH;
                Blake3Vector.chunkCvs(input, at, n, counter + done, target, stride,
                        position + done, workspace);
            }
            return;
        }
        for (int i = 0; i < count; i++) {
            long at = offset + (long) i * Blake3Scalar.CHUNK_LENGTH;
            Blake3Scalar.chunkCv(input, at, counter + i, block, cv);
            scatter(cv, 0, target, position + i);
        }
    }

    /**
     * Pairs up the chaining values at positions [0, count) level by level until
     * {@code keep} remain at positions [0, keep).
     */
    private void reduceLevels(int[] target, int count, int keep) {
        while (count > keep) {
            int parents = count / 2;
            addParentCvs(target, parents);
            if ((count & 1) == 1) {
                gather(target, count - 1, cv, 0);
                scatter(cv, 0, target, parents);
            }
            count = parents + (count & 1);
        }
    }

    /** Replaces the chaining values at [0, 2 * parents) by their parents at [0, parents). */
    private void addParentCvs(int[] target, int parents) {
        int done = 0;
        if (VECTOR) {
            while (parents - done >= MIN_VECTOR_ITEMS) {
                int n = Math.min(Blake3Vector.LANES, parents - done);
                Blake3Vector.parentCvs(target, stride, 2 * done, n, done, workspace);
                done += n;
            }
        }
        for (; done < parents; done++) {
            gather(target, 2 * done, block, 0);
            gather(target, 2 * done + 1, block, 8);
            Blake3Scalar.compress(Blake3Scalar.IV, 0, block, 0, 0, Blake3Scalar.BLOCK_LENGTH,
                    Blake3Scalar.PARENT, cv, 0, 8);
            scatter(cv, 0, target, done);
        }
    }

    /** Returns the parent of the two chaining values at positions 0 and 1. */
    private Blake3Output rootParent(int[] target) {
        int[] children = new int[16];
        gather(target, 0, children, 0);
        gather(target, 1, children, 8);
        return Blake3Scalar.parentOutput(children, 0, children, 8);
    }

    private void gather(int[] source, int position, int[] out, int outOffset) {
        for (int w = 0; w < 8; w++) {
            out[outOffset + w] = source[w * stride + position];
        }
    }

    private void scatter(int[] words, int offset, int[] target, int position) {
        for (int w = 0; w < 8; w++) {
            target[w * stride + position] = words[offset + w];
        }
    }

    private static boolean vectorEnabled() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return false;
        }
        String lanes = System.getProperty(Blake3Vector.LANES_PROPERTY, "").strip();
        if (lanes.equals("0")) {
            return false;
        }
        // 128-bit vectors only on request: on x86 without AVX2 (Temurin 25, -XX:UseAVX=0 or 1)
        // C2 compiles neither the rotations nor the two-vector selects, and hashing runs at
        // about 100 MB/s, a sixth of the scalar code.
        return Blake3Vector.supported() && (!lanes.isEmpty() || Blake3Vector.LANES >= 8);
    }
}
