package io.nydus.rafs.blob;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.RafsFormatException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

/**
 * Decompresses whole blob sections (CI table, inlined bootstrap) whose declared size comes from
 * the blob itself. Memory grows with the bytes actually produced, up to the declared size, so a
 * corrupt size field alone cannot force a large allocation.
 */
final class Decompression {
    /** An LZ4 block expands each input byte into at most 255 output bytes, plus a small tail. */
    private static final long LZ4_MAX_RATIO = 255;
    private static final int BUFFER_SIZE = 64 * 1024;

    private Decompression() {
    }

    /**
     * Decompresses {@code stored} into exactly {@code size} bytes.
     *
     * @param where names the section for messages
     */
    static byte[] decompress(Compressor compressor, byte[] stored, long size, String where)
            throws RafsFormatException {
        if (size < 0 || size > Integer.MAX_VALUE - 8) {
            throw new RafsFormatException(where + ": declared size " + size + " is invalid");
        }
        return switch (compressor) {
            case NONE -> raw(stored, size, where);
            case ZSTD -> zstd(stored, size, size, where);
            case LZ4_BLOCK -> lz4(stored, (int) size, where);
            case GZIP -> throw new RafsFormatException(where
                    + ": gzip-compressed sections are not supported");
        };
    }

    /** Decompresses a zstd stream of unknown size, failing beyond {@code maxSize} bytes. */
    static byte[] zstdUpTo(byte[] stored, long maxSize, String where)
            throws RafsFormatException {
        return zstd(stored, -1, maxSize, where);
    }

    private static byte[] raw(byte[] stored, long size, String where)
            throws RafsFormatException {
        if (stored.length != size) {
            throw new RafsFormatException(where + ": stored raw with " + stored.length
                    + " bytes, expected " + size);
        }
        return stored;
    }

    private static byte[] zstd(byte[] stored, long size, long maxSize, String where)
            throws RafsFormatException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(
                (int) Math.min(Math.max(maxSize, 0), BUFFER_SIZE));
        byte[] buffer = new byte[BUFFER_SIZE];
        try (var in = new ZstdInputStreamNoFinalizer(new ByteArrayInputStream(stored))) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                out.write(buffer, 0, n);
                if (out.size() > maxSize) {
                    throw new RafsFormatException(where + ": zstd data decompresses to more than"
                            + " the expected " + maxSize + " bytes");
                }
            }
        } catch (RafsFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new RafsFormatException(where + ": corrupt zstd data: " + e.getMessage(), e);
        }
        if (size >= 0 && out.size() != size) {
            throw new RafsFormatException(where + ": zstd data decompressed to " + out.size()
                    + " bytes, expected " + size);
        }
        return out.toByteArray();
    }

    private static byte[] lz4(byte[] stored, int size, String where)
            throws RafsFormatException {
        if (size > LZ4_MAX_RATIO * stored.length + 64) {
            throw new RafsFormatException(where + ": " + stored.length + " bytes of lz4_block"
                    + " data cannot decompress to the declared " + size + " bytes");
        }
        byte[] out = new byte[size];
        try {
            Compressor.LZ4_BLOCK.decompress(stored, 0, stored.length, out, 0, size);
        } catch (RafsFormatException e) {
            throw new RafsFormatException(where + ": " + e.getMessage(), e);
        }
        return out;
    }
}
