package io.nydus.rafs.digest;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The BLAKE3 compression function on plain {@code int}s, one block at a time, with the
 * constants that every part of the implementation shares.
 *
 * <p>Chaining values are 8 words and blocks 16 words, little-endian as the algorithm defines
 * them. This class serves short inputs, the last chunk of every input, and the parent nodes
 * that are too few to fill the vector lanes of {@link Blake3Vector}.
 */
final class Blake3Scalar {
    static final int BLOCK_LENGTH = 64;
    static final int CHUNK_LENGTH = 1024;
    static final int BLOCKS_PER_CHUNK = CHUNK_LENGTH / BLOCK_LENGTH;

    static final int CHUNK_START = 1;
    static final int CHUNK_END = 2;
    static final int PARENT = 4;
    static final int ROOT = 8;

    /** The initial chaining value of the plain hash mode (the SHA-256 initial hash value). */
    static final int[] IV = {
        0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
        0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
    };

    static final ValueLayout.OfInt WORD =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Blake3Scalar() {
    }

    /**
     * Compresses one block.
     *
     * @param cv the input chaining value, 8 words at {@code cvOffset}
     * @param block the message block, 16 words at {@code blockOffset}
     * @param out receives {@code outWords} words at {@code outOffset}: 8 for a chaining value,
     *     16 for a block of root output; it may alias {@code cv}
     */
    static void compress(int[] cv, int cvOffset, int[] block, int blockOffset, long counter,
            int blockLength, int flags, int[] out, int outOffset, int outWords) {
        int m0 = block[blockOffset];
        int m1 = block[blockOffset + 1];
        int m2 = block[blockOffset + 2];
        int m3 = block[blockOffset + 3];
        int m4 = block[blockOffset + 4];
        int m5 = block[blockOffset + 5];
        int m6 = block[blockOffset + 6];
        int m7 = block[blockOffset + 7];
        int m8 = block[blockOffset + 8];
        int m9 = block[blockOffset + 9];
        int m10 = block[blockOffset + 10];
        int m11 = block[blockOffset + 11];
        int m12 = block[blockOffset + 12];
        int m13 = block[blockOffset + 13];
        int m14 = block[blockOffset + 14];
        int m15 = block[blockOffset + 15];

        int h0 = cv[cvOffset];
        int h1 = cv[cvOffset + 1];
        int h2 = cv[cvOffset + 2];
        int h3 = cv[cvOffset + 3];
        int h4 = cv[cvOffset + 4];
        int h5 = cv[cvOffset + 5];
        int h6 = cv[cvOffset + 6];
        int h7 = cv[cvOffset + 7];

        int v0 = h0;
        int v1 = h1;
        int v2 = h2;
        int v3 = h3;
        int v4 = h4;
        int v5 = h5;
        int v6 = h6;
        int v7 = h7;
        int v8 = IV[0];
        int v9 = IV[1];
        int v10 = IV[2];
        int v11 = IV[3];
        int v12 = (int) counter;
        int v13 = (int) (counter >>> 32);
        int v14 = blockLength;
        int v15 = flags;

        for (int round = 0; round < 7; round++) {
            // Columns: G(v0, v4, v8, v12, m0, m1) and its three neighbours.
            v0 += v4 + m0;
            v12 = Integer.rotateRight(v12 ^ v0, 16);
            v8 += v12;
            v4 = Integer.rotateRight(v4 ^ v8, 12);
            v0 += v4 + m1;
            v12 = Integer.rotateRight(v12 ^ v0, 8);
            v8 += v12;
            v4 = Integer.rotateRight(v4 ^ v8, 7);

            v1 += v5 + m2;
            v13 = Integer.rotateRight(v13 ^ v1, 16);
            v9 += v13;
            v5 = Integer.rotateRight(v5 ^ v9, 12);
            v1 += v5 + m3;
            v13 = Integer.rotateRight(v13 ^ v1, 8);
            v9 += v13;
            v5 = Integer.rotateRight(v5 ^ v9, 7);

            v2 += v6 + m4;
            v14 = Integer.rotateRight(v14 ^ v2, 16);
            v10 += v14;
            v6 = Integer.rotateRight(v6 ^ v10, 12);
            v2 += v6 + m5;
            v14 = Integer.rotateRight(v14 ^ v2, 8);
            v10 += v14;
            v6 = Integer.rotateRight(v6 ^ v10, 7);

            v3 += v7 + m6;
            v15 = Integer.rotateRight(v15 ^ v3, 16);
            v11 += v15;
            v7 = Integer.rotateRight(v7 ^ v11, 12);
            v3 += v7 + m7;
            v15 = Integer.rotateRight(v15 ^ v3, 8);
            v11 += v15;
            v7 = Integer.rotateRight(v7 ^ v11, 7);

            // Diagonals: G(v0, v5, v10, v15, m8, m9) and its three neighbours.
            v0 += v5 + m8;
            v15 = Integer.rotateRight(v15 ^ v0, 16);
            v10 += v15;
            v5 = Integer.rotateRight(v5 ^ v10, 12);
            v0 += v5 + m9;
            v15 = Integer.rotateRight(v15 ^ v0, 8);
            v10 += v15;
            v5 = Integer.rotateRight(v5 ^ v10, 7);

            v1 += v6 + m10;
            v12 = Integer.rotateRight(v12 ^ v1, 16);
            v11 += v12;
            v6 = Integer.rotateRight(v6 ^ v11, 12);
            v1 += v6 + m11;
            v12 = Integer.rotateRight(v12 ^ v1, 8);
            v11 += v12;
            v6 = Integer.rotateRight(v6 ^ v11, 7);

            v2 += v7 + m12;
            v13 = Integer.rotateRight(v13 ^ v2, 16);
            v8 += v13;
            v7 = Integer.rotateRight(v7 ^ v8, 12);
            v2 += v7 + m13;
            v13 = Integer.rotateRight(v13 ^ v2, 8);
            v8 += v13;
            v7 = Integer.rotateRight(v7 ^ v8, 7);

            v3 += v4 + m14;
            v14 = Integer.rotateRight(v14 ^ v3, 16);
            v9 += v14;
            v4 = Integer.rotateRight(v4 ^ v9, 12);
            v3 += v4 + m15;
            v14 = Integer.rotateRight(v14 ^ v3, 8);
            v9 += v14;
            v4 = Integer.rotateRight(v4 ^ v9, 7);

            // The fixed message permutation that takes each round's words to the next round's.
            int t0 = m2;
            int t1 = m6;
            int t2 = m3;
            int t3 = m10;
            int t4 = m7;
            int t5 = m0;
            int t6 = m4;
            int t7 = m13;
            int t8 = m1;
            int t9 = m11;
            int t10 = m12;
            int t11 = m5;
            int t12 = m9;
            int t13 = m14;
            int t14 = m15;
            int t15 = m8;
            m0 = t0;
            m1 = t1;
            m2 = t2;
            m3 = t3;
            m4 = t4;
            m5 = t5;
            m6 = t6;
            m7 = t7;
            m8 = t8;
            m9 = t9;
            m10 = t10;
            m11 = t11;
            m12 = t12;
            m13 = t13;
            m14 = t14;
            m15 = t15;
        }

        out[outOffset] = v0 ^ v8;
        out[outOffset + 1] = v1 ^ v9;
        out[outOffset + 2] = v2 ^ v10;
        out[outOffset + 3] = v3 ^ v11;
        out[outOffset + 4] = v4 ^ v12;
        out[outOffset + 5] = v5 ^ v13;
        out[outOffset + 6] = v6 ^ v14;
        out[outOffset + 7] = v7 ^ v15;
        if (outWords == 16) {
            out[outOffset + 8] = v8 ^ h0;
            out[outOffset + 9] = v9 ^ h1;
            out[outOffset + 10] = v10 ^ h2;
            out[outOffset + 11] = v11 ^ h3;
            out[outOffset + 12] = v12 ^ h4;
            out[outOffset + 13] = v13 ^ h5;
            out[outOffset + 14] = v14 ^ h6;
            out[outOffset + 15] = v15 ^ h7;
        }
    }

    /**
     * Reads a block of up to 64 bytes as 16 little-endian words and pads it with zeros.
     *
     * @return the number of input bytes in the block
     */
    static int loadBlock(MemorySegment input, long offset, int length, int[] words) {
        if (length == BLOCK_LENGTH) {
            for (int i = 0; i < 16; i++) {
                words[i] = input.get(WORD, offset + 4L * i);
            }
            return BLOCK_LENGTH;
        }
        Arrays.fill(words, 0, 16, 0);
        for (int i = 0; i < length; i++) {
            int b = input.get(ValueLayout.JAVA_BYTE, offset + i) & 0xFF;
            words[i >>> 2] |= b << (8 * (i & 3));
        }
        return length;
    }

    /**
     * Compresses all blocks of a chunk but the last, and returns the last as a not yet compressed
     * output node, so that the caller decides whether it is the root.
     *
     * @param length the chunk's length, 0 to 1024 bytes (0 only for the empty input)
     */
    static Blake3Output chunkOutput(MemorySegment input, long offset, int length, long counter) {
        int[] cv = IV.clone();
        int[] block = new int[16];
        int blocks = Math.max(1, (length + BLOCK_LENGTH - 1) / BLOCK_LENGTH);
        for (int i = 0; i < blocks - 1; i++) {
            loadBlock(input, offset + (long) i * BLOCK_LENGTH, BLOCK_LENGTH, block);
            int flags = i == 0 ? CHUNK_START : 0;
            compress(cv, 0, block, 0, counter, BLOCK_LENGTH, flags, cv, 0, 8);
        }
        int lastOffset = (blocks - 1) * BLOCK_LENGTH;
        int lastLength = loadBlock(input, offset + lastOffset, length - lastOffset, block);
        int flags = CHUNK_END | (blocks == 1 ? CHUNK_START : 0);
        return new Blake3Output(cv, block, counter, lastLength, flags);
    }

    /** Writes the chaining value of the full chunk at {@code offset} into {@code out}. */
    static void chunkCv(MemorySegment input, long offset, long counter, int[] block, int[] out) {
        System.arraycopy(IV, 0, out, 0, 8);
        for (int i = 0; i < BLOCKS_PER_CHUNK; i++) {
            loadBlock(input, offset + (long) i * BLOCK_LENGTH, BLOCK_LENGTH, block);
            int flags = 0;
            if (i == 0) {
                flags = CHUNK_START;
            } else if (i == BLOCKS_PER_CHUNK - 1) {
                flags = CHUNK_END;
            }
            compress(out, 0, block, 0, counter, BLOCK_LENGTH, flags, out, 0, 8);
        }
    }

    /** Returns the output node of a parent whose children's chaining values are given. */
    static Blake3Output parentOutput(int[] left, int leftOffset, int[] right, int rightOffset) {
        int[] block = new int[16];
        System.arraycopy(left, leftOffset, block, 0, 8);
        System.arraycopy(right, rightOffset, block, 8, 8);
        return new Blake3Output(IV, block, 0, BLOCK_LENGTH, PARENT);
    }

    /** Writes the chaining value of the parent of two children into {@code out}. */
    static void parentCv(int[] left, int leftOffset, int[] right, int rightOffset,
            int[] block, int[] out, int outOffset) {
        System.arraycopy(left, leftOffset, block, 0, 8);
        System.arraycopy(right, rightOffset, block, 8, 8);
        compress(IV, 0, block, 0, 0, BLOCK_LENGTH, PARENT, out, outOffset, 8);
    }
}
