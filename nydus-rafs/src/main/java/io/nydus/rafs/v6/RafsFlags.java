package io.nydus.rafs.v6;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;

/** Bits of the extended superblock's `s_flags`, shared with RAFS v5. */
public final class RafsFlags {
    public static final long COMPRESSION_NONE = 0x1;
    public static final long COMPRESSION_LZ4 = 0x2;
    public static final long HASH_BLAKE3 = 0x4;
    public static final long HASH_SHA256 = 0x8;
    public static final long EXPLICIT_UID_GID = 0x10;
    public static final long HAS_XATTR = 0x20;
    public static final long COMPRESSION_GZIP = 0x40;
    public static final long COMPRESSION_ZSTD = 0x80;
    public static final long INLINED_CHUNK_DIGEST = 0x100;
    public static final long TARFS_MODE = 0x200;
    public static final long ENCRYPTION_NONE = 0x0100_0000;
    public static final long ENCRYPTION_AES_128_XTS = 0x0200_0000;

    private static final long KNOWN = 0x3FF | ENCRYPTION_NONE | ENCRYPTION_AES_128_XTS
            | 0xFC00_0000L;
    private static final long COMPRESSION_BITS =
            COMPRESSION_NONE | COMPRESSION_LZ4 | COMPRESSION_GZIP | COMPRESSION_ZSTD;
    private static final long HASH_BITS = HASH_BLAKE3 | HASH_SHA256;

    private RafsFlags() {
    }

    public static long of(Compressor compressor) {
        return switch (compressor) {
            case NONE -> COMPRESSION_NONE;
            case LZ4_BLOCK -> COMPRESSION_LZ4;
            case GZIP -> COMPRESSION_GZIP;
            case ZSTD -> COMPRESSION_ZSTD;
        };
    }

    public static long of(DigestAlgorithm digester) {
        return digester == DigestAlgorithm.BLAKE3 ? HASH_BLAKE3 : HASH_SHA256;
    }

    /** Returns the compressor named by the flags. */
    public static Compressor compressor(long flags) {
        if ((flags & COMPRESSION_LZ4) != 0) {
            return Compressor.LZ4_BLOCK;
        }
        if ((flags & COMPRESSION_ZSTD) != 0) {
            return Compressor.ZSTD;
        }
        if ((flags & COMPRESSION_GZIP) != 0) {
            return Compressor.GZIP;
        }
        return Compressor.NONE;
    }

    public static DigestAlgorithm digester(long flags) {
        return (flags & HASH_SHA256) != 0 ? DigestAlgorithm.SHA256 : DigestAlgorithm.BLAKE3;
    }

    /** Checks what upstream's loader checks: known bits, one compressor and one digester. */
    public static void validate(String source, long flags) throws RafsFormatException {
        if ((flags & ~KNOWN) != 0) {
            throw new RafsFormatException(source + ": superblock flags 0x"
                    + Long.toHexString(flags) + " have unknown bits 0x"
                    + Long.toHexString(flags & ~KNOWN));
        }
        if (Long.bitCount(flags & COMPRESSION_BITS) != 1) {
            throw new RafsFormatException(source + ": superblock flags 0x"
                    + Long.toHexString(flags) + " must name exactly one compressor");
        }
        if (Long.bitCount(flags & HASH_BITS) != 1) {
            throw new RafsFormatException(source + ": superblock flags 0x"
                    + Long.toHexString(flags) + " must name exactly one digester");
        }
    }
}
