package io.nydus.fuse;

/**
 * The attributes of one inode as the kernel's {@code fuse_attr} carries them.
 *
 * @param inode inode number
 * @param size size in bytes
 * @param blocks 512-byte blocks allocated
 * @param mtimeSeconds modification time, seconds since the epoch (may be negative)
 * @param mtimeNanos nanoseconds of the modification time, 0..999999999
 * @param mode file type and permission bits, as {@code st_mode}
 * @param nlink link count
 * @param uid owner
 * @param gid group
 * @param rdev device number in the kernel's encoding ({@code new_encode_dev})
 */
public record Attr(long inode, long size, long blocks, long mtimeSeconds, int mtimeNanos,
        int mode, int nlink, long uid, long gid, int rdev) {

    public Attr {
        if (mtimeNanos < 0 || mtimeNanos > 999_999_999) {
            throw new IllegalArgumentException("inode " + inode + ": mtime nanoseconds "
                    + mtimeNanos + " is outside 0..999999999");
        }
        if (size < 0 || blocks < 0) {
            throw new IllegalArgumentException("inode " + inode + ": negative size or blocks");
        }
    }
}
