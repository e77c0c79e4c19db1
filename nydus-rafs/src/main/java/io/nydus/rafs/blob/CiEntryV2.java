package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;

/**
 * A version 2 chunk compression information (CI) entry: 24 bytes that place one chunk in the
 * blob's compressed and uncompressed address spaces and, for a ZRAN chunk, name the inflate
 * context its bytes are decoded from.
 *
 * @param compressedOffset where the chunk's bytes start in the (gzip) data
 * @param compressedSize the stored bytes; 0 is valid for a ZRAN chunk inflated from earlier input
 * @param uncompressedOffset offset in the blob's uncompressed address space, 4 KiB aligned
 * @param uncompressedSize size of the chunk's data, 1 byte to 16 MiB
 * @param flags the {@code FLAG_*} bits
 * @param data for a ZRAN chunk the context index (high 32 bits) and the offset in that
 *     context's output (low 32 bits); otherwise the CRC-32C when {@link #FLAG_CRC32} is set
 */
public record CiEntryV2(long compressedOffset, int compressedSize, long uncompressedOffset,
        int uncompressedSize, int flags, long data) {

    public static final int SIZE = 24;
    public static final int FLAG_COMPRESSED = 0x01;
    public static final int FLAG_ZRAN = 0x02;
    public static final int FLAG_BATCH = 0x04;
    public static final int FLAG_ENCRYPTED = 0x08;
    public static final int FLAG_CRC32 = 0x10;
    private static final int KNOWN_FLAGS = 0x1F;
    private static final long OFFSET_40_BITS = (1L << 40) - 1;
    private static final long MAX_UNCOMPRESSED_OFFSET = 0xFFFF_FFFFL << 12;

    public CiEntryV2 {
        if (uncompressedSize < 1 || uncompressedSize > (1 << 24)) {
            throw new IllegalArgumentException("uncompressed size " + uncompressedSize
                    + " is outside 1..16 MiB");
        }
        if (compressedSize < 0 || compressedSize > (1 << 24) - 1) {
            throw new IllegalArgumentException("compressed size " + compressedSize
                    + " does not fit 24 bits");
        }
        if (compressedOffset < 0 || compressedOffset > OFFSET_40_BITS) {
            throw new IllegalArgumentException("compressed offset " + compressedOffset
                    + " does not fit 40 bits");
        }
        if ((uncompressedOffset & 0xFFF) != 0 || uncompressedOffset < 0
                || uncompressedOffset > MAX_UNCOMPRESSED_OFFSET) {
            throw new IllegalArgumentException("uncompressed offset " + uncompressedOffset
                    + " is not 4 KiB aligned or too large");
        }
        if ((flags & ~KNOWN_FLAGS) != 0) {
            throw new IllegalArgumentException(String.format("flags 0x%02x have unknown bits",
                    flags));
        }
    }

    public boolean compressed() {
        return (flags & FLAG_COMPRESSED) != 0;
    }

    public boolean zran() {
        return (flags & FLAG_ZRAN) != 0;
    }

    /** Returns the index of the ZRAN context the chunk is inflated from. */
    public int zranIndex() {
        return (int) (data >>> 32);
    }

    /** Returns where the chunk starts in its ZRAN context's inflated output. */
    public long zranOffset() {
        return data & 0xFFFF_FFFFL;
    }

    /** Returns the chunk's place in the form of a version 1 entry. */
    public CiEntry place() {
        return new CiEntry(compressedOffset, compressedSize, uncompressedOffset,
                uncompressedSize);
    }

    /** Returns the entry for a ZRAN chunk. */
    public static CiEntryV2 zran(long compressedOffset, int compressedSize,
            long uncompressedOffset, int uncompressedSize, int context, long offsetInContext) {
        return new CiEntryV2(compressedOffset, compressedSize, uncompressedOffset,
                uncompressedSize, FLAG_COMPRESSED | FLAG_ZRAN,
                (long) context << 32 | offsetInContext);
    }

    /** Writes the three little-endian words at {@code offset}. */
    public void encode(byte[] target, int offset) {
        long uncompInfo = uncompressedOffset >>> 12 | (uncompressedSize - 1L) << 32
                | (long) flags << 56;
        long compInfo = compressedOffset | (long) compressedSize << 40;
        CiEntry.putLong(target, offset, uncompInfo);
        CiEntry.putLong(target, offset + 8, compInfo);
        CiEntry.putLong(target, offset + 16, data);
    }

    /**
     * Decodes the entry at {@code offset}.
     *
     * @param where names the entry in messages
     */
    public static CiEntryV2 decode(byte[] source, int offset, String where)
            throws RafsFormatException {
        long uncompInfo = CiEntry.getLong(source, offset);
        long compInfo = CiEntry.getLong(source, offset + 8);
        long data = CiEntry.getLong(source, offset + 16);
        try {
            return new CiEntryV2(compInfo & OFFSET_40_BITS, (int) (compInfo >>> 40),
                    (uncompInfo & 0xFFFF_FFFFL) << 12,
                    (int) ((uncompInfo >>> 32) & 0xFF_FFFF) + 1, (int) (uncompInfo >>> 56),
                    data);
        } catch (IllegalArgumentException e) {
            throw new RafsFormatException(where + ": " + e.getMessage(), e);
        }
    }
}
