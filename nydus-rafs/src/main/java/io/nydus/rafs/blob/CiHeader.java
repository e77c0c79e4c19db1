package io.nydus.rafs.blob;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.RafsFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 4096-byte header that follows a blob's stored CI table (`BlobCompressionContextHeader`).
 */
public record CiHeader(int features, Compressor ciCompressor, int entries, long ciOffset,
        long ciCompressedSize, long ciUncompressedSize, long zranOffset, long zranSize,
        int zranCount) {

    public static final int SIZE = 4096;
    public static final int MAGIC = 0xB10BB10B;

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, MAGIC);
        b.putInt(4, features);
        b.putInt(8, ciCompressor.code());
        b.putInt(12, entries);
        b.putLong(16, ciOffset);
        b.putLong(24, ciCompressedSize);
        b.putLong(32, ciUncompressedSize);
        b.putLong(40, zranOffset);
        b.putLong(48, zranSize);
        b.putInt(56, zranCount);
        b.putInt(SIZE - 4, MAGIC);
        return b.array();
    }

    public static CiHeader decode(byte[] data, int offset, String source)
            throws RafsFormatException {
        if (offset < 0 || offset + SIZE > data.length) {
            throw new RafsFormatException(source + ": CI header at " + offset
                    + " is past the end of the data");
        }
        ByteBuffer b = ByteBuffer.wrap(data, offset, SIZE).slice().order(ByteOrder.LITTLE_ENDIAN);
        int magic = b.getInt(0);
        int magic2 = b.getInt(SIZE - 4);
        if (magic != MAGIC || magic2 != MAGIC) {
            throw new RafsFormatException(String.format(
                    "%s: CI header magic 0x%08x/0x%08x, expected 0x%08x", source, magic, magic2,
                    MAGIC));
        }
        return new CiHeader(b.getInt(4), Compressor.fromCode(b.getInt(8)), b.getInt(12),
                b.getLong(16), b.getLong(24), b.getLong(32), b.getLong(40), b.getLong(48),
                b.getInt(56));
    }
}
