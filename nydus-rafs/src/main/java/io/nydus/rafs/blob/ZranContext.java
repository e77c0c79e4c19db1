package io.nydus.rafs.blob;

import java.util.Arrays;

/**
 * A point in a gzip stream where inflation can start (a {@code ZranInflateContext}): the start
 * of a deflate block, the bits of its first byte that belong to the previous block, and the
 * 32 KiB of output before it that back references may reach.
 *
 * @param inOffset where the context's input starts in the gzip stream
 * @param outOffset where its output starts in the stream's inflated bytes
 * @param inLength the compressed bytes that the context's chunks need
 * @param outLength the inflated bytes that its chunks span
 * @param ctxByte the byte before {@code inOffset}, whose high {@code ctxBits} bits start the
 *     block
 * @param ctxBits 0 to 7
 * @param dictionary up to 32 KiB of preceding output, empty at the start of a gzip member
 */
public record ZranContext(long inOffset, long outOffset, int inLength, int outLength,
        int ctxByte, int ctxBits, byte[] dictionary) {

    public static final int SIZE = 40;
    public static final int MAX_DICTIONARY = 32 << 10;

    public ZranContext {
        if (inOffset < 0 || outOffset < 0 || inLength < 0 || outLength < 0) {
            throw new IllegalArgumentException("offsets and lengths must not be negative");
        }
        if (ctxBits < 0 || ctxBits > 7 || ctxByte < 0 || ctxByte > 255) {
            throw new IllegalArgumentException("ctx_bits " + ctxBits + " is above 7");
        }
        if (dictionary.length > MAX_DICTIONARY) {
            throw new IllegalArgumentException("dictionary of " + dictionary.length
                    + " bytes is larger than 32 KiB");
        }
        dictionary = dictionary.clone();
    }

    @Override
    public byte[] dictionary() {
        return dictionary.clone();
    }

    /** Returns the dictionary's size without copying it. */
    public int dictionarySize() {
        return dictionary.length;
    }

    /** Returns the dictionary bytes without copying, for the inflater only. */
    byte[] dictionaryView() {
        return dictionary;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ZranContext c && inOffset == c.inOffset && outOffset == c.outOffset
                && inLength == c.inLength && outLength == c.outLength && ctxByte == c.ctxByte
                && ctxBits == c.ctxBits && Arrays.equals(dictionary, c.dictionary);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(inOffset) * 31 + Long.hashCode(outOffset);
    }

    @Override
    public String toString() {
        return "ZranContext[in " + inOffset + "+" + inLength + ", out " + outOffset + "+"
                + outLength + ", bits " + ctxBits + ", dictionary " + dictionary.length + "]";
    }
}
