package io.nydus.rafs.digest;

/**
 * A BLAKE3 node whose last compression has not run yet: the input chaining value, the block,
 * its counter, length and flags. The caller decides whether the node is the root, which takes
 * the {@code ROOT} flag and may produce any number of output bytes.
 */
final class Blake3Output {
    private final int[] cv;
    private final int[] block;
    private final long counter;
    private final int blockLength;
    private final int flags;

    /** Keeps the arrays without copying them, and never writes to them. */
    Blake3Output(int[] cv, int[] block, long counter, int blockLength, int flags) {
        this.cv = cv;
        this.block = block;
        this.counter = counter;
        this.blockLength = blockLength;
        this.flags = flags;
    }

    /** Writes the node's 8-word chaining value, as an inner node of the tree, into {@code out}. */
    void chainingValue(int[] out, int outOffset) {
        Blake3Scalar.compress(cv, 0, block, 0, counter, blockLength, flags, out, outOffset, 8);
    }

    /**
     * Writes {@code length} bytes of root output, the first 32 of which are the hash. Each
     * further 64 bytes come from one more compression with the next output block counter.
     */
    void rootBytes(byte[] out, int offset, int length) {
        int[] words = new int[16];
        long outputBlock = 0;
        int written = 0;
        while (written < length) {
            Blake3Scalar.compress(cv, 0, block, 0, outputBlock, blockLength,
                    flags | Blake3Scalar.ROOT, words, 0, 16);
            int n = Math.min(Blake3Scalar.BLOCK_LENGTH, length - written);
            for (int i = 0; i < n; i++) {
                out[offset + written + i] = (byte) (words[i >>> 2] >>> (8 * (i & 3)));
            }
            written += n;
            outputBlock++;
        }
    }
}
