package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * One 128-byte entry of a blob's table of contents (`rafs.blob.toc`).
 *
 * @param flags compression of the entry's data: 0x1 none, 0x2 zstd, 0x4 lz4_block
 * @param name section name such as {@code image.blob} or {@code blob.meta}
 * @param sha256 hex digest of the section's uncompressed content
 * @param compressedOffset where the stored bytes start in the blob
 * @param compressedSize stored bytes
 * @param uncompressedSize bytes once decompressed
 */
public record TocEntry(int flags, String name, String sha256, long compressedOffset,
        long compressedSize, long uncompressedSize) {

    public static final int SIZE = 128;
    public static final int FLAG_NONE = 0x1;
    public static final int FLAG_ZSTD = 0x2;
    public static final int FLAG_LZ4 = 0x4;

    public static final String IMAGE_BLOB = "image.blob";
    public static final String BLOB_META = "blob.meta";
    public static final String BLOB_META_HEADER = "blob.meta.header";
    public static final String BLOB_DIGEST = "blob.digest";
    public static final String IMAGE_BOOT = "image.boot";
    public static final String TOC = "rafs.blob.toc";

    public TocEntry {
        if (name.isEmpty() || name.length() > 16) {
            throw new IllegalArgumentException("ToC entry name '" + name
                    + "' must have 1 to 16 characters");
        }
        if (sha256.length() != 64) {
            throw new IllegalArgumentException("ToC entry " + name + ": digest '" + sha256
                    + "' is not 64 hex digits");
        }
    }

    /** Returns the ToC bytes of {@code entries}, in order. */
    static byte[] encodeAll(java.util.List<TocEntry> entries) {
        byte[] bytes = new byte[SIZE * entries.size()];
        for (int i = 0; i < entries.size(); i++) {
            System.arraycopy(entries.get(i).encode(), 0, bytes, i * SIZE, SIZE);
        }
        return bytes;
    }

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, flags);
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        b.put(8, n);
        b.put(24, HexFormat.of().parseHex(sha256));
        b.putLong(56, compressedOffset);
        b.putLong(64, compressedSize);
        b.putLong(72, uncompressedSize);
        return b.array();
    }

    /** Decodes an entry; the reserved bytes are ignored because old builders left junk there. */
    public static TocEntry decode(ByteBuffer b, int offset, String source)
            throws RafsFormatException {
        ByteBuffer le = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int flags = le.getInt(offset) & 0xF;
        byte[] raw = new byte[16];
        le.get(offset + 8, raw);
        int end = 0;
        while (end < 16 && raw[end] != 0) {
            end++;
        }
        if (end == 0) {
            throw new RafsFormatException(source + ": ToC entry at offset " + offset
                    + " has an empty name");
        }
        for (int i = 0; i < end; i++) {
            if (raw[i] < 0x20 || raw[i] > 0x7e) {
                throw new RafsFormatException(source + ": ToC entry at offset " + offset
                        + " has a name that is not printable ASCII");
            }
        }
        byte[] digest = new byte[32];
        le.get(offset + 24, digest);
        return new TocEntry(flags, new String(raw, 0, end, StandardCharsets.US_ASCII),
                HexFormat.of().formatHex(digest), le.getLong(offset + 56),
                le.getLong(offset + 64), le.getLong(offset + 72));
    }
}
