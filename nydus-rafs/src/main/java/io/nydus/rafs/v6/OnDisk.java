package io.nydus.rafs.v6;

/** Offsets, sizes and magic numbers of the RAFS v6 (EROFS) layout. */
final class OnDisk {
    static final int BLOCK_SIZE = 4096;
    static final int BLOCK_BITS = 12;
    static final int SUPER_OFFSET = 1024;
    static final int SUPER_SIZE = 128;
    static final int EXT_SUPER_OFFSET = SUPER_OFFSET + SUPER_SIZE;
    static final int EXT_SUPER_SIZE = 256;
    static final int DEVTABLE_OFFSET = EXT_SUPER_OFFSET + EXT_SUPER_SIZE;
    static final int DEVICE_SLOT_SIZE = 128;
    static final int BLOB_ENTRY_SIZE = 256;
    static final int CHUNK_INFO_SIZE = 80;
    static final int CHUNK_ADDR_SIZE = 8;
    static final int DIRENT_SIZE = 12;
    static final int COMPACT_INODE_SIZE = 32;
    static final int EXTENDED_INODE_SIZE = 64;
    static final int XATTR_HEADER_SIZE = 12;

    static final int EROFS_MAGIC = 0xE0F5E1E2;
    static final int FEATURE_COMPAT_RAFS_V6 = 0x4000_0000;
    static final int FEATURE_INCOMPAT_CHUNKED_FILE = 0x4;
    static final int FEATURE_INCOMPAT_DEVICE_TABLE = 0x8;
    static final int RAFS_V5_MAGIC = 0x52414653;
    static final int RAFS_V5_VERSION = 0x500;

    static final int LAYOUT_FLAT_PLAIN = 0;
    static final int LAYOUT_FLAT_INLINE = 2;
    static final int LAYOUT_CHUNK_BASED = 4;
    static final int CHUNK_FORMAT_INDEXES = 0x20;

    /** Mapped block addresses of blobs in a flattened device start on 512 KiB boundaries. */
    static final long DEVICE_SEGMENT_ALIGNMENT = 0x8_0000;

    static final int CHUNK_FLAG_COMPRESSED = 0x1;
    static final int CHUNK_FLAG_HAS_CRC32 = 0x10;

    private OnDisk() {
    }

    static long alignUp(long value, long alignment) {
        long rem = value % alignment;
        return rem == 0 ? value : value + alignment - rem;
    }
}
