package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;

/**
 * A version 1 chunk compression information (CI) entry: 16 bytes that place one chunk in the
 * blob's compressed and uncompressed address spaces. Sizes are stored minus one, split into a
 * low 20-bit and a high 4-bit part.
 */
public record CiEntry(long compressedOffset, int compressedSize, long uncompressedOffset,
        int uncompressedSize) {

    public static final int SIZE = 16;
    private static final long OFFSET_40_BITS = (1L << 40) - 1;
    private static final long UNCOMPRESSED_OFFSET_MASK = 0xFFF_FFFF_F000L;

    public CiEntry {
        // A version 1 entry stores sizes minus one, so only a ZRAN chunk's place, taken from
        // a version 2 entry, can have no compressed bytes of its own.
        if (compressedSize < 0 || compressedSize > (1 << 24)
                || uncompressedSize < 1 || uncompressedSize > (1 << 24)) {
            throw new IllegalArgumentException("CI entry sizes " + compressedSize + "/"
                    + uncompressedSize + " are outside 0..16 MiB and 1..16 MiB");
        }
        if (compressedOffset < 0 || compressedOffset > OFFSET_40_BITS) {
            throw new IllegalArgumentException("CI compressed offset " + compressedOffset
                    + " does not fit 40 bits");
        }
        if ((uncompressedOffset & ~UNCOMPRESSED_OFFSET_MASK) != 0) {
            throw new IllegalArgumentException("CI uncompressed offset " + uncompressedOffset
                    + " is not 4 KiB aligned or too large");
        }
    }

    public boolean compressed() {
        return compressedSize != uncompressedSize;
    }

    /** Writes the two little-endian words at {@code offset}. */
    public void encode(byte[] target, int offset) {
        long u = uncompressedSize - 1L;
        long c = compressedSize - 1L;
        long uncompInfo = ((u >>> 20) & 0xF) << 8 | uncompressedOffset
                | (u & 0xF_FFFF) << 44;
        long compInfo = compressedOffset | ((c >>> 20) & 0xF) << 40 | (c & 0xF_FFFF) << 44;
        putLong(target, offset, uncompInfo);
        putLong(target, offset + 8, compInfo);
    }

    public static CiEntry decode(byte[] source, int offset, String where)
            throws RafsFormatException {
        long uncompInfo = getLong(source, offset);
        long compInfo = getLong(source, offset + 8);
        int usize = (int) (((uncompInfo >>> 8) & 0xF) << 20 | (uncompInfo >>> 44)) + 1;
        int csize = (int) (((compInfo >>> 40) & 0xF) << 20 | (compInfo >>> 44)) + 1;
        try {
            return new CiEntry(compInfo & OFFSET_40_BITS, csize,
                    uncompInfo & UNCOMPRESSED_OFFSET_MASK, usize);
        } catch (IllegalArgumentException e) {
            throw new RafsFormatException(where + ": " + e.getMessage(), e);
        }
    }

    static void putLong(byte[] b, int offset, long v) {
        for (int i = 0; i < 8; i++) {
            b[offset + i] = (byte) (v >>> (8 * i));
        }
    }

    static long getLong(byte[] b, int offset) {
        long v = 0;
        for (int i = 7; i >= 0; i--) {
            v = v << 8 | (b[offset + i] & 0xff);
        }
        return v;
    }
}
