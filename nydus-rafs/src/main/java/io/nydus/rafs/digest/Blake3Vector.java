package io.nydus.rafs.digest;

import static jdk.incubator.vector.VectorOperators.ROR;
import static jdk.incubator.vector.VectorOperators.XOR;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * BLAKE3 compression of many independent blocks at once with the Vector API: lane {@code i}
 * of every vector belongs to the {@code i}-th chunk or parent node. Message words and chaining
 * values are therefore kept transposed, one row of {@link #LANES} words per word index.
 *
 * <p>Chaining values that this class reads and writes live in "rows" arrays: word {@code w} of
 * chaining value {@code p} is at {@code rows[w * stride + p]}.
 */
final class Blake3Vector {
    /** System property that picks the lane count: 4, 8 or 16; the default is the widest. */
    static final String LANES_PROPERTY = "io.nydus.blake3.lanes";

    static final VectorSpecies<Integer> SPECIES = chooseSpecies();
    static final int LANES = SPECIES.length();

    private static final int CHUNK_WORDS = Blake3Scalar.CHUNK_LENGTH / 4;

    /** Offsets of lane i's chunk in a copy of consecutive chunks: i * 256 words. */
    private static final int[] CHUNK_GATHER = stepIndexes(CHUNK_WORDS);
    /** Offsets of lane i's left child among consecutive chaining values: 2 * i. */
    private static final int[] PARENT_GATHER = stepIndexes(2);

    /** Row offsets of the message words in round r, at [16 * r, 16 * r + 16). */
    private static final int[] SCHEDULE = messageSchedule();

    private Blake3Vector() {
    }

    /** Scratch arrays for one thread's calls; never shared between threads. */
    static final class Workspace {
        private final int[] words;
        private final int[] msg = new int[16 * LANES];
        private final int[] cv = new int[8 * LANES];
        private final int[] counterLow = new int[LANES];
        private final int[] counterHigh = new int[LANES];

        /** Sizes the chunk copy for up to {@code maxChunks} chunks per call. */
        Workspace(int maxChunks) {
            words = new int[Math.min(maxChunks, LANES) * CHUNK_WORDS];
        }
    }

    /**
     * Computes the chaining values of {@code count} full chunks that start at {@code offset} and
     * have chunk counters {@code counter}, {@code counter + 1}, and so on.
     *
     * @param count 1 to {@link #LANES}, and at most the size of the workspace
     * @param position where the first chaining value goes in {@code rows}
     */
    static void chunkCvs(MemorySegment input, long offset, int count, long counter,
            int[] rows, int stride, int position, Workspace ws) {
        int[] words = ws.words;
        MemorySegment.copy(input, Blake3Scalar.WORD, offset, words, 0, count * CHUNK_WORDS);
        for (int lane = 0; lane < LANES; lane++) {
            long laneCounter = counter + lane;
            ws.counterLow[lane] = (int) laneCounter;
            ws.counterHigh[lane] = (int) (laneCounter >>> 32);
        }
        broadcastIv(ws.cv);
        for (int b = 0; b < Blake3Scalar.BLOCKS_PER_CHUNK; b++) {
            if (count == LANES) {
                gatherBlock(words, b * 16, ws.msg);
            } else {
                gatherBlock(words, b * 16, ws.msg, SPECIES.indexInRange(0, count));
            }
            int flags = 0;
            if (b == 0) {
                flags = Blake3Scalar.CHUNK_START;
            } else if (b == Blake3Scalar.BLOCKS_PER_CHUNK - 1) {
                flags = Blake3Scalar.CHUNK_END;
            }
            compress(ws, true, flags);
        }
        storeRows(ws.cv, count, rows, stride, position);
    }

    /**
     * Computes {@code count} parent chaining values from the {@code 2 * count} consecutive child
     * chaining values at {@code from} and writes them at {@code to}, which may be
     * {@code from / 2} so that a level of the tree shrinks in place.
     *
     * @param rows must have at least {@code 2 * LANES} words of slack after its last row, since
     *     lanes beyond {@code count} still read
     */
    static void parentCvs(int[] rows, int stride, int from, int count, int to, Workspace ws) {
        int[] msg = ws.msg;
        for (int w = 0; w < 8; w++) {
            int left = w * stride + from;
            IntVector.fromArray(SPECIES, rows, left, PARENT_GATHER, 0).intoArray(msg, w * LANES);
            IntVector.fromArray(SPECIES, rows, left + 1, PARENT_GATHER, 0)
                    .intoArray(msg, (w + 8) * LANES);
        }
        broadcastIv(ws.cv);
        compress(ws, false, Blake3Scalar.PARENT);
        storeRows(ws.cv, count, rows, stride, to);
    }

    private static void gatherBlock(int[] words, int blockWord, int[] msg) {
        for (int w = 0; w < 16; w++) {
            IntVector.fromArray(SPECIES, words, blockWord + w, CHUNK_GATHER, 0)
                    .intoArray(msg, w * LANES);
        }
    }

    private static void gatherBlock(int[] words, int blockWord, int[] msg,
            VectorMask<Integer> lanes) {
        for (int w = 0; w < 16; w++) {
            IntVector.fromArray(SPECIES, words, blockWord + w, CHUNK_GATHER, 0, lanes)
                    .intoArray(msg, w * LANES);
        }
    }

    private static void broadcastIv(int[] cv) {
        for (int w = 0; w < 8; w++) {
            IntVector.broadcast(SPECIES, Blake3Scalar.IV[w]).intoArray(cv, w * LANES);
        }
    }

    private static void storeRows(int[] cv, int count, int[] rows, int stride, int position) {
        for (int w = 0; w < 8; w++) {
            System.arraycopy(cv, w * LANES, rows, w * stride + position, count);
        }
    }

    /**
     * Compresses one block in every lane: the chaining values in {@code ws.cv} are replaced by
     * the next ones. The block length is always a full 64 bytes, because only full chunks and
     * parents come here. Chunks take their counters from the workspace, parents use 0.
     */
    private static void compress(Workspace ws, boolean chunks, int flags) {
        int[] cv = ws.cv;
        int[] msg = ws.msg;
        IntVector v0 = IntVector.fromArray(SPECIES, cv, 0);
        IntVector v1 = IntVector.fromArray(SPECIES, cv, LANES);
        IntVector v2 = IntVector.fromArray(SPECIES, cv, 2 * LANES);
        IntVector v3 = IntVector.fromArray(SPECIES, cv, 3 * LANES);
        IntVector v4 = IntVector.fromArray(SPECIES, cv, 4 * LANES);
        IntVector v5 = IntVector.fromArray(SPECIES, cv, 5 * LANES);
        IntVector v6 = IntVector.fromArray(SPECIES, cv, 6 * LANES);
        IntVector v7 = IntVector.fromArray(SPECIES, cv, 7 * LANES);
        IntVector v8 = IntVector.broadcast(SPECIES, Blake3Scalar.IV[0]);
        IntVector v9 = IntVector.broadcast(SPECIES, Blake3Scalar.IV[1]);
        IntVector v10 = IntVector.broadcast(SPECIES, Blake3Scalar.IV[2]);
        IntVector v11 = IntVector.broadcast(SPECIES, Blake3Scalar.IV[3]);
        IntVector v12 = chunks
                ? IntVector.fromArray(SPECIES, ws.counterLow, 0) : IntVector.zero(SPECIES);
        IntVector v13 = chunks
                ? IntVector.fromArray(SPECIES, ws.counterHigh, 0) : IntVector.zero(SPECIES);
        IntVector v14 = IntVector.broadcast(SPECIES, Blake3Scalar.BLOCK_LENGTH);
        IntVector v15 = IntVector.broadcast(SPECIES, flags);

        for (int s = 0; s < SCHEDULE.length; s += 16) {
            // Columns.
            v0 = v0.add(v4).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s]));
            v12 = v12.lanewise(XOR, v0).lanewise(ROR, 16);
            v8 = v8.add(v12);
            v4 = v4.lanewise(XOR, v8).lanewise(ROR, 12);
            v0 = v0.add(v4).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 1]));
            v12 = v12.lanewise(XOR, v0).lanewise(ROR, 8);
            v8 = v8.add(v12);
            v4 = v4.lanewise(XOR, v8).lanewise(ROR, 7);

            v1 = v1.add(v5).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 2]));
            v13 = v13.lanewise(XOR, v1).lanewise(ROR, 16);
            v9 = v9.add(v13);
            v5 = v5.lanewise(XOR, v9).lanewise(ROR, 12);
            v1 = v1.add(v5).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 3]));
            v13 = v13.lanewise(XOR, v1).lanewise(ROR, 8);
            v9 = v9.add(v13);
            v5 = v5.lanewise(XOR, v9).lanewise(ROR, 7);

            v2 = v2.add(v6).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 4]));
            v14 = v14.lanewise(XOR, v2).lanewise(ROR, 16);
            v10 = v10.add(v14);
            v6 = v6.lanewise(XOR, v10).lanewise(ROR, 12);
            v2 = v2.add(v6).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 5]));
            v14 = v14.lanewise(XOR, v2).lanewise(ROR, 8);
            v10 = v10.add(v14);
            v6 = v6.lanewise(XOR, v10).lanewise(ROR, 7);

            v3 = v3.add(v7).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 6]));
            v15 = v15.lanewise(XOR, v3).lanewise(ROR, 16);
            v11 = v11.add(v15);
            v7 = v7.lanewise(XOR, v11).lanewise(ROR, 12);
            v3 = v3.add(v7).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 7]));
            v15 = v15.lanewise(XOR, v3).lanewise(ROR, 8);
            v11 = v11.add(v15);
            v7 = v7.lanewise(XOR, v11).lanewise(ROR, 7);

            // Diagonals.
            v0 = v0.add(v5).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 8]));
            v15 = v15.lanewise(XOR, v0).lanewise(ROR, 16);
            v10 = v10.add(v15);
            v5 = v5.lanewise(XOR, v10).lanewise(ROR, 12);
            v0 = v0.add(v5).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 9]));
            v15 = v15.lanewise(XOR, v0).lanewise(ROR, 8);
            v10 = v10.add(v15);
            v5 = v5.lanewise(XOR, v10).lanewise(ROR, 7);

            v1 = v1.add(v6).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 10]));
            v12 = v12.lanewise(XOR, v1).lanewise(ROR, 16);
            v11 = v11.add(v12);
            v6 = v6.lanewise(XOR, v11).lanewise(ROR, 12);
            v1 = v1.add(v6).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 11]));
            v12 = v12.lanewise(XOR, v1).lanewise(ROR, 8);
            v11 = v11.add(v12);
            v6 = v6.lanewise(XOR, v11).lanewise(ROR, 7);

            v2 = v2.add(v7).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 12]));
            v13 = v13.lanewise(XOR, v2).lanewise(ROR, 16);
            v8 = v8.add(v13);
            v7 = v7.lanewise(XOR, v8).lanewise(ROR, 12);
            v2 = v2.add(v7).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 13]));
            v13 = v13.lanewise(XOR, v2).lanewise(ROR, 8);
            v8 = v8.add(v13);
            v7 = v7.lanewise(XOR, v8).lanewise(ROR, 7);

            v3 = v3.add(v4).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 14]));
            v14 = v14.lanewise(XOR, v3).lanewise(ROR, 16);
            v9 = v9.add(v14);
            v4 = v4.lanewise(XOR, v9).lanewise(ROR, 12);
            v3 = v3.add(v4).add(IntVector.fromArray(SPECIES, msg, SCHEDULE[s + 15]));
            v14 = v14.lanewise(XOR, v3).lanewise(ROR, 8);
            v9 = v9.add(v14);
            v4 = v4.lanewise(XOR, v9).lanewise(ROR, 7);
        }

        v0.lanewise(XOR, v8).intoArray(cv, 0);
        v1.lanewise(XOR, v9).intoArray(cv, LANES);
        v2.lanewise(XOR, v10).intoArray(cv, 2 * LANES);
        v3.lanewise(XOR, v11).intoArray(cv, 3 * LANES);
        v4.lanewise(XOR, v12).intoArray(cv, 4 * LANES);
        v5.lanewise(XOR, v13).intoArray(cv, 5 * LANES);
        v6.lanewise(XOR, v14).intoArray(cv, 6 * LANES);
        v7.lanewise(XOR, v15).intoArray(cv, 7 * LANES);
    }

    private static VectorSpecies<Integer> chooseSpecies() {
        VectorSpecies<Integer> preferred = IntVector.SPECIES_PREFERRED;
        String value = System.getProperty(LANES_PROPERTY);
        if (value == null || value.isBlank()) {
            return preferred;
        }
        int lanes;
        try {
            lanes = Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            lanes = -1;
        }
        if (lanes != 4 && lanes != 8 && lanes != 16 || lanes > preferred.length()) {
            throw new IllegalArgumentException("invalid system property " + LANES_PROPERTY
                    + "=" + value + ": expected 4, 8 or 16, at most the " + preferred.length()
                    + " int lanes this CPU offers (0 turns the vector code off)");
        }
        return VectorSpecies.of(int.class, VectorShape.forBitSize(lanes * Integer.SIZE));
    }

    private static int[] stepIndexes(int step) {
        int[] indexes = new int[LANES];
        for (int i = 0; i < LANES; i++) {
            indexes[i] = i * step;
        }
        return indexes;
    }

    /** Applies the message permutation round after round, starting from the identity. */
    private static int[] messageSchedule() {
        int[] permutation = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};
        int[] order = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        int[] schedule = new int[7 * 16];
        for (int round = 0; round < 7; round++) {
            for (int i = 0; i < 16; i++) {
                schedule[16 * round + i] = order[i] * LANES;
            }
            int[] next = new int[16];
            for (int i = 0; i < 16; i++) {
                next[i] = order[permutation[i]];
            }
            order = next;
        }
        return schedule;
    }
}
