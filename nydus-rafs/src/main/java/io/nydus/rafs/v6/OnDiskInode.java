package io.nydus.rafs.v6;

/**
 * One inode of a RAFS v6 bootstrap as stored, for inspection. Compact (32-byte) inodes have their
 * mtime already resolved against the superblock's build time.
 *
 * @param nid the inode's nid: its offset from the metadata area in 32-byte slots
 * @param offset absolute offset of the inode in the bootstrap
 * @param format `i_format`: bit 0 is the version, bits 1..3 the data layout
 * @param xattrCount `i_xattr_icount`
 * @param mode `i_mode`, type and permission bits
 * @param nlink `i_nlink`
 * @param size `i_size`
 * @param union `i_u`: block address, rdev or chunk format, depending on the type
 * @param ino `i_ino`, informational only
 * @param uid `i_uid`
 * @param gid `i_gid`
 * @param mtimeSeconds modification time, seconds
 * @param mtimeNanos modification time, nanoseconds
 */
public record OnDiskInode(long nid, long offset, int format, int xattrCount, int mode,
        long nlink, long size, long union, long ino, long uid, long gid, long mtimeSeconds,
        long mtimeNanos) {

    /** Returns whether this is a 32-byte compact inode rather than a 64-byte extended one. */
    public boolean compact() {
        return (format & 1) == 0;
    }

    /** Returns the data layout: 0 FLAT_PLAIN, 2 FLAT_INLINE, 4 CHUNK_BASED. */
    public int layout() {
        return (format >>> 1) & 0x7;
    }

    public int inodeSize() {
        return compact() ? OnDisk.COMPACT_INODE_SIZE : OnDisk.EXTENDED_INODE_SIZE;
    }

    /** Returns the size of the inline xattr area after the inode, 0 without xattrs. */
    public int xattrSize() {
        return xattrCount == 0 ? 0 : OnDisk.XATTR_HEADER_SIZE + (xattrCount - 1) * 4;
    }

    /** Returns the absolute offset just past the inode and its xattr area. */
    public long tailOffset() {
        return offset + inodeSize() + xattrSize();
    }
}
