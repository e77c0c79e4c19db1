package io.nydus.rafs;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdException;
import java.util.Arrays;
import java.util.Locale;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * Chunk compression algorithms, with the numeric codes that blob tables and CI headers store.
 * Each chunk is compressed on its own: lz4_block is the raw LZ4 block format without a frame, zstd
 * is one complete frame with the content size and no checksum.
 */
public enum Compressor {
    NONE(0, "none"),
    LZ4_BLOCK(1, "lz4_block"),
    GZIP(2, "gzip"),
    ZSTD(3, "zstd");

    /** The zstd level upstream's builder uses. */
    public static final int ZSTD_LEVEL = 3;

    private static final LZ4Factory LZ4 = LZ4Factory.fastestInstance();

    /**
     * One zstd context per thread: setting a context up costs more than compressing a small
     * file, and images hold many small files. Frames carry the content size and no checksum.
     */
    private static final ThreadLocal<ZstdCompressCtx> ZSTD_CONTEXT = ThreadLocal.withInitial(
            () -> new ZstdCompressCtx().setLevel(ZSTD_LEVEL).setContentSize(true)
                    .setChecksum(false));

    private final int code;
    private final String label;

    Compressor(int code, String label) {
        this.code = code;
        this.label = label;
    }

    public int code() {
        return code;
    }

    /** Returns the name used on command lines and in JSON output (`lz4_block`, `zstd`...). */
    public String label() {
        return label;
    }

    public static Compressor fromCode(int code) throws RafsFormatException {
        for (Compressor c : values()) {
            if (c.code == code) {
                return c;
            }
        }
        throw new RafsFormatException("unknown compression algorithm code " + code);
    }

    /** Parses a command-line name, case-insensitively. */
    public static Compressor fromLabel(String label) {
        String requested = label.toLowerCase(Locale.ROOT);
        for (Compressor c : values()) {
            if (c.label.equals(requested)) {
                return c;
            }
        }
        throw new IllegalArgumentException(
                "unknown compressor '" + label + "', expected one of none, lz4_block, zstd");
    }

    /**
     * Compresses {@code length} bytes, returning null when the result would not be strictly
     * smaller than the input, in which case the caller stores the bytes raw.
     */
    public byte[] compressIfSmaller(byte[] src, int offset, int length) {
        return switch (this) {
            case NONE -> null;
            case LZ4_BLOCK -> lz4(src, offset, length);
            case ZSTD -> zstd(src, offset, length);
            case GZIP -> throw new UnsupportedOperationException(
                    "gzip is only used for chunks that live in OCI gzip layers");
        };
    }

    private static byte[] lz4(byte[] src, int offset, int length) {
        LZ4Compressor compressor = LZ4.fastCompressor();
        byte[] out = new byte[compressor.maxCompressedLength(length)];
        int size = compressor.compress(src, offset, length, out, 0, out.length);
        return size < length ? Arrays.copyOf(out, size) : null;
    }

    private static byte[] zstd(byte[] src, int offset, int length) {
        byte[] out = new byte[(int) Zstd.compressBound(length)];
        int size = ZSTD_CONTEXT.get().compressByteArray(out, 0, out.length, src, offset, length);
        return size < length ? Arrays.copyOf(out, size) : null;
    }

    /**
     * Decompresses exactly {@code uncompressedSize} bytes into {@code dst} at {@code dstOffset}.
     *
     * @throws RafsFormatException if the data is corrupt or does not decompress to that size
     */
    public void decompress(byte[] src, int offset, int length, byte[] dst, int dstOffset,
            int uncompressedSize) throws RafsFormatException {
        switch (this) {
            case NONE -> {
                if (length != uncompressedSize) {
                    throw new RafsFormatException("uncompressed chunk has " + length
                            + " bytes, expected " + uncompressedSize);
                }
                System.arraycopy(src, offset, dst, dstOffset, length);
            }
            case LZ4_BLOCK -> decompressLz4(src, offset, length, dst, dstOffset, uncompressedSize);
            case ZSTD -> decompressZstd(src, offset, length, dst, dstOffset, uncompressedSize);
            case GZIP -> throw new RafsFormatException("gzip chunks are not supported");
        }
    }

    private static void decompressLz4(byte[] src, int offset, int length, byte[] dst,
            int dstOffset, int uncompressedSize) throws RafsFormatException {
        LZ4SafeDecompressor decompressor = LZ4.safeDecompressor();
        int size;
        try {
            size = decompressor.decompress(src, offset, length, dst, dstOffset, uncompressedSize);
        } catch (LZ4Exception e) {
            throw new RafsFormatException("corrupt lz4_block data: " + e.getMessage(), e);
        }
        if (size != uncompressedSize) {
            throw new RafsFormatException("lz4_block data decompressed to " + size
                    + " bytes, expected " + uncompressedSize);
        }
    }

    private static void decompressZstd(byte[] src, int offset, int length, byte[] dst,
            int dstOffset, int uncompressedSize) throws RafsFormatException {
        long size;
        try {
            size = Zstd.decompressByteArray(dst, dstOffset, uncompressedSize, src, offset, length);
        } catch (ZstdException e) {
            throw new RafsFormatException("corrupt zstd data: " + e.getMessage(), e);
        }
        if (Zstd.isError(size)) {
            throw new RafsFormatException("corrupt zstd data: " + Zstd.getErrorName(size));
        }
        if (size != uncompressedSize) {
            throw new RafsFormatException("zstd data decompressed to " + size
                    + " bytes, expected " + uncompressedSize);
        }
    }

    @Override
    public String toString() {
        return label;
    }
}
