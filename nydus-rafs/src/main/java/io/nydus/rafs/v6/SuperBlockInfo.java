package io.nydus.rafs.v6;

/**
 * The raw values of a RAFS v6 bootstrap's EROFS superblock (128 bytes at offset 1024) and Nydus
 * extended superblock (256 bytes at offset 1152), as stored.
 *
 * @param blockSizeBits `s_blkszbits`: 12 (4096-byte blocks) or 9 (512-byte blocks, tarfs)
 * @param rootNid `s_root_nid`
 * @param inodeCount `s_inos`: tree entries counted by the builder, hardlinks included
 * @param buildTime `s_build_time`, seconds; compact inodes store mtimes relative to it
 * @param buildTimeNanos `s_build_time_nsec`, the nanoseconds of every compact inode's mtime
 * @param blocks `s_blocks`
 * @param metaBlockAddress `s_meta_blkaddr`: block of the metadata area that nids count from
 * @param featureCompat `s_feature_compat`
 * @param featureIncompat `s_feature_incompat`
 * @param extraDevices `s_extra_devices`: number of blobs in the device table
 * @param deviceSlotOffset `s_devt_slotoff`: the device table's offset in 128-byte units
 * @param flags `s_flags`, see {@link RafsFlags}
 * @param blobTableOffset absolute offset of the blob table
 * @param blobTableSize bytes of the blob table (256 per blob)
 * @param chunkSize `s_chunk_size`
 * @param chunkTableOffset absolute offset of the chunk info table
 * @param chunkTableSize bytes of the chunk info table (80 per entry), may be 0
 * @param prefetchTableOffset absolute offset of the prefetch table, or 0
 * @param prefetchTableSize bytes of the prefetch table (4 per nid), or 0
 */
public record SuperBlockInfo(int blockSizeBits, int rootNid, long inodeCount, long buildTime,
        long buildTimeNanos, long blocks, long metaBlockAddress, long featureCompat,
        long featureIncompat, int extraDevices, int deviceSlotOffset, long flags,
        long blobTableOffset, long blobTableSize, long chunkSize, long chunkTableOffset,
        long chunkTableSize, long prefetchTableOffset, long prefetchTableSize) {

    /** Returns the block size in bytes. */
    public int blockSize() {
        return 1 << blockSizeBits;
    }

    /** Returns the absolute offset that nids count from, in bytes. */
    public long metaAddress() {
        return metaBlockAddress << blockSizeBits;
    }

    /** Returns the absolute offset of the inode with {@code nid}. */
    public long inodeOffset(long nid) {
        return metaAddress() + nid * 32;
    }

    /** Returns the number of chunk info table entries. */
    public long chunkTableEntries() {
        return chunkTableSize / OnDisk.CHUNK_INFO_SIZE;
    }

    /** Returns the number of prefetch table entries. */
    public long prefetchTableEntries() {
        return prefetchTableOffset == 0 ? 0 : prefetchTableSize / 4;
    }
}
