package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;

/**
 * Decodes and validates the EROFS superblock and the Nydus extended superblock, with the checks
 * upstream's loader applies, plus a check that the blob table and device table agree on the
 * number of blobs.
 */
final class SuperBlockDecoder {
    private static final String SB = "superblock";
    private static final String EXT = "extended superblock";
    private static final long MIN_CHUNK_SIZE = 0x1000;
    private static final long MAX_CHUNK_SIZE = 0x100_0000;
    /** The one `s_blocks` value old builders wrote regardless of the blobs. */
    private static final long LEGACY_BLOCKS = 4096;

    private SuperBlockDecoder() {
    }

    static SuperBlockInfo decode(MetaBuffer b) throws RafsFormatException {
        rejectRafsV5(b);
        checkFileSize(b);
        SuperBlockInfo sb = read(b);
        checkSuperBlock(b, sb);
        checkExtendedSuperBlock(b, sb);
        return sb;
    }

    private static void rejectRafsV5(MetaBuffer b) throws RafsFormatException {
        if (b.size() < 8 || b.u32(SB, 0) != OnDisk.RAFS_V5_MAGIC) {
            return;
        }
        long version = b.u32(SB, 4);
        if (version == OnDisk.RAFS_V5_VERSION) {
            throw b.error("RAFS v5 superblock", 0, "RAFS v5 bootstraps (magic 0x52414653,"
                    + " version 0x500) are not supported, only RAFS v6 is; convert the image"
                    + " again with RAFS v6 (nydus-image --fs-version 6)");
        }
        throw b.error("RAFS superblock", 0, "RAFS magic 0x52414653 with unknown version 0x"
                + Long.toHexString(version) + "; only RAFS v6 (EROFS magic 0xe0f5e1e2 at offset"
                + " 1024) is supported");
    }

    private static void checkFileSize(MetaBuffer b) throws RafsFormatException {
        if (b.size() < OnDisk.BLOCK_SIZE) {
            throw b.error("bootstrap", 0, "the file has " + b.size()
                    + " bytes, a RAFS v6 bootstrap has at least " + OnDisk.BLOCK_SIZE);
        }
        long magic = b.u32(SB, OnDisk.SUPER_OFFSET);
        if (magic != (OnDisk.EROFS_MAGIC & 0xFFFF_FFFFL)) {
            throw b.error(SB, OnDisk.SUPER_OFFSET, String.format("magic 0x%08x, expected"
                    + " 0xe0f5e1e2: not a RAFS v6 bootstrap", magic));
        }
    }

    private static SuperBlockInfo read(MetaBuffer b) throws RafsFormatException {
        int s = OnDisk.SUPER_OFFSET;
        int e = OnDisk.EXT_SUPER_OFFSET;
        return new SuperBlockInfo(b.u8(SB, s + 12), b.u16(SB, s + 14), b.u64(SB, s + 16),
                b.u64(SB, s + 24), b.u32(SB, s + 32), b.u32(SB, s + 36), b.u32(SB, s + 40),
                b.u32(SB, s + 8), b.u32(SB, s + 80), b.u16(SB, s + 86), b.u16(SB, s + 88),
                b.u64(EXT, e), b.u64(EXT, e + 8), b.u32(EXT, e + 16), b.u32(EXT, e + 20),
                b.u64(EXT, e + 24), b.u64(EXT, e + 32), b.u64(EXT, e + 40), b.u32(EXT, e + 48));
    }

    private static void checkSuperBlock(MetaBuffer b, SuperBlockInfo sb)
            throws RafsFormatException {
        int s = OnDisk.SUPER_OFFSET;
        expectZero(b, s + 4, "s_checksum", b.u32(SB, s + 4));
        if ((sb.featureCompat() & OnDisk.FEATURE_COMPAT_RAFS_V6) == 0) {
            throw field(b, s + 8, "s_feature_compat", sb.featureCompat(),
                    "lacks the RAFS v6 bit 0x40000000");
        }
        if (sb.blockSizeBits() != 12 && sb.blockSizeBits() != 9) {
            throw field(b, s + 12, "s_blkszbits", sb.blockSizeBits(), "expected 12 or 9");
        }
        expectZero(b, s + 13, "s_extslots", b.u8(SB, s + 13));
        if (sb.inodeCount() == 0) {
            throw field(b, s + 16, "s_inos", 0, "expected at least one inode");
        }
        expectZero(b, s + 84, "s_u", b.u16(SB, s + 84));
        if (b.u32(SB, s + 44) != 0) {
            throw field(b, s + 44, "s_xattr_blkaddr", b.u32(SB, s + 44),
                    "shared xattrs are not supported");
        }
        if (sb.featureIncompat() != (OnDisk.FEATURE_INCOMPAT_CHUNKED_FILE
                | OnDisk.FEATURE_INCOMPAT_DEVICE_TABLE)) {
            throw field(b, s + 80, "s_feature_incompat", sb.featureIncompat(),
                    "expected exactly 0xc (chunked files and device table)");
        }
        if (sb.extraDevices() == 0 && sb.blocks() != 0 && sb.blocks() != LEGACY_BLOCKS) {
            throw field(b, s + 36, "s_blocks", sb.blocks(),
                    "expected 0 or 4096 for an image without blobs");
        }
        if ((long) sb.deviceSlotOffset() * OnDisk.DEVICE_SLOT_SIZE != OnDisk.DEVTABLE_OFFSET) {
            throw field(b, s + 88, "s_devt_slotoff", sb.deviceSlotOffset(),
                    "expected 11 (device table at offset 1408)");
        }
        checkLayoutAgainstFile(b, sb);
    }

    private static void checkLayoutAgainstFile(MetaBuffer b, SuperBlockInfo sb)
            throws RafsFormatException {
        int s = OnDisk.SUPER_OFFSET;
        if (b.size() % sb.blockSize() != 0) {
            throw b.error("bootstrap", 0, "file size " + b.size()
                    + " is not a multiple of the block size " + sb.blockSize());
        }
        if (sb.metaAddress() > b.size()) {
            throw field(b, s + 40, "s_meta_blkaddr", sb.metaBlockAddress(),
                    "the metadata area starts past the end of the " + b.size() + "-byte file");
        }
        if (devicesEnd(sb) > b.size()) {
            throw field(b, s + 86, "s_extra_devices", sb.extraDevices(),
                    "the device table extends past the end of the file");
        }
    }

    private static long devicesEnd(SuperBlockInfo sb) {
        return OnDisk.DEVTABLE_OFFSET + (long) OnDisk.DEVICE_SLOT_SIZE * sb.extraDevices();
    }

    private static void checkExtendedSuperBlock(MetaBuffer b, SuperBlockInfo sb)
            throws RafsFormatException {
        int e = OnDisk.EXT_SUPER_OFFSET;
        RafsFlags.validate(b.source() + ": " + EXT + " at offset " + e, sb.flags());
        long chunkSize = sb.chunkSize();
        if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE
                || Long.bitCount(chunkSize) != 1) {
            throw field(b, e + 20, "s_chunk_size", chunkSize,
                    "expected a power of two from 0x1000 to 0x1000000");
        }
        checkBlobTable(b, sb);
        checkChunkTable(b, sb);
        checkPrefetchTable(b, sb);
    }

    private static void checkBlobTable(MetaBuffer b, SuperBlockInfo sb)
            throws RafsFormatException {
        long offset = sb.blobTableOffset();
        long size = sb.blobTableSize();
        int e = OnDisk.EXT_SUPER_OFFSET;
        if (offset < OnDisk.BLOCK_SIZE || offset % OnDisk.BLOCK_SIZE != 0
                || offset < devicesEnd(sb)) {
            throw field(b, e + 8, "s_blob_table_offset", offset,
                    "expected a 4096-aligned offset after the device table");
        }
        if (size % OnDisk.BLOB_ENTRY_SIZE != 0 || !fits(b, offset, size)) {
            throw field(b, e + 16, "s_blob_table_size", size, "expected a multiple of 256"
                    + " that ends inside the file (table at " + offset + ")");
        }
        if (size / OnDisk.BLOB_ENTRY_SIZE != sb.extraDevices()) {
            throw field(b, e + 16, "s_blob_table_size", size, "describes "
                    + size / OnDisk.BLOB_ENTRY_SIZE + " blobs but s_extra_devices is "
                    + sb.extraDevices());
        }
    }

    private static void checkChunkTable(MetaBuffer b, SuperBlockInfo sb)
            throws RafsFormatException {
        long offset = sb.chunkTableOffset();
        long size = sb.chunkTableSize();
        if (size == 0) {
            return;
        }
        int e = OnDisk.EXT_SUPER_OFFSET;
        if (offset < OnDisk.BLOCK_SIZE || offset % OnDisk.BLOCK_SIZE != 0
                || offset < devicesEnd(sb)) {
            throw field(b, e + 24, "s_chunk_table_offset", offset,
                    "expected a 4096-aligned offset after the device table");
        }
        if (size < 0 || size % OnDisk.CHUNK_INFO_SIZE != 0 || !fits(b, offset, size)) {
            throw field(b, e + 32, "s_chunk_table_size", size, "expected a multiple of 80"
                    + " that ends inside the file (table at " + offset + ")");
        }
        if (overlaps(offset, size, sb.blobTableOffset(), sb.blobTableSize())) {
            throw field(b, e + 24, "s_chunk_table_offset", offset,
                    "the chunk table overlaps the blob table");
        }
    }

    private static void checkPrefetchTable(MetaBuffer b, SuperBlockInfo sb)
            throws RafsFormatException {
        long offset = sb.prefetchTableOffset();
        long size = sb.prefetchTableSize();
        // Legacy builders wrote a size with offset 0 for empty file systems: no table.
        if (size == 0 || offset == 0) {
            return;
        }
        int e = OnDisk.EXT_SUPER_OFFSET;
        if (offset < OnDisk.BLOCK_SIZE || offset < devicesEnd(sb)) {
            throw field(b, e + 40, "s_prefetch_table_offset", offset,
                    "expected an offset of at least 4096, after the device table");
        }
        if (size % 4 != 0 || !fits(b, offset, size)) {
            throw field(b, e + 48, "s_prefetch_table_size", size, "expected a multiple of 4"
                    + " that ends inside the file (table at " + offset + ")");
        }
        if (overlaps(offset, size, sb.blobTableOffset(), sb.blobTableSize())
                || overlaps(offset, size, sb.chunkTableOffset(), sb.chunkTableSize())) {
            throw field(b, e + 40, "s_prefetch_table_offset", offset,
                    "the prefetch table overlaps the blob table or the chunk table");
        }
    }

    private static boolean fits(MetaBuffer b, long offset, long size) {
        return offset >= 0 && size >= 0 && offset <= b.size() && size <= b.size() - offset;
    }

    private static boolean overlaps(long offset1, long size1, long offset2, long size2) {
        return size1 > 0 && size2 > 0 && offset1 < offset2 + size2 && offset2 < offset1 + size1;
    }

    private static void expectZero(MetaBuffer b, long offset, String name, long value)
            throws RafsFormatException {
        if (value != 0) {
            throw field(b, offset, name, value, "expected 0");
        }
    }

    private static RafsFormatException field(MetaBuffer b, long offset, String name, long value,
            String problem) {
        String structure = offset < OnDisk.EXT_SUPER_OFFSET ? SB : EXT;
        return b.error(structure + " field " + name, offset,
                "value " + Long.toUnsignedString(value) + " (0x" + Long.toHexString(value)
                        + "): " + problem);
    }
}
