package io.nydus.rafs.v6;

/** Bits of a blob's `features` field, in the blob table and in the CI header. */
public final class BlobFeatures {
    public static final int ALIGNED = 0x1;
    public static final int INLINED_FS_META = 0x2;
    public static final int CHUNK_INFO_V2 = 0x4;
    public static final int ZRAN = 0x8;
    public static final int SEPARATE = 0x10;
    public static final int INLINED_CHUNK_DIGEST = 0x20;
    public static final int TARFS = 0x40;
    public static final int BATCH = 0x80;
    public static final int ENCRYPTED = 0x100;
    public static final int IS_CHUNKDICT_GENERATED = 0x200;
    public static final int IS_SEPARATED_WITH_PREFETCH_FILES = 0x400;
    public static final int EXTERNAL = 0x800;
    public static final int HAS_TAR_HEADER = 0x1000_0000;
    public static final int HAS_TOC = 0x2000_0000;
    public static final int CAP_TAR_TOC = 0x4000_0000;

    /** Features of a blob this project writes: aligned chunks, digests, tar headers and ToC. */
    public static final int NATIVE = ALIGNED | INLINED_CHUNK_DIGEST | HAS_TAR_HEADER | HAS_TOC
            | CAP_TAR_TOC;

    private BlobFeatures() {
    }

    public static boolean has(int features, int bit) {
        return (features & bit) != 0;
    }
}
