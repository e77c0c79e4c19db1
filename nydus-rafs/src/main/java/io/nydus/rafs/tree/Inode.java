package io.nydus.rafs.tree;

import java.util.ArrayList;
import java.util.List;

/**
 * The metadata and data of one file. Hardlinked names are several {@link Node}s that share one
 * {@code Inode} object, so the link count is derived from the tree, never stored here.
 */
public final class Inode {
    /** The maximum symlink target length Linux accepts, in bytes. */
    public static final int MAX_SYMLINK = 4095;
    /** The largest uid or gid an image stores; 2^32-1 is the kernel's "no id". */
    public static final long MAX_ID = 0xFFFF_FFFEL;

    private final FileType type;
    private int permissions;
    private long uid;
    private long gid;
    private long mtimeSeconds;
    private int mtimeNanos;
    private long size;
    private long rdevMajor;
    private long rdevMinor;
    private byte[] symlinkTarget;
    private Xattrs xattrs = new Xattrs();
    private List<Chunk> chunks = List.of();

    public Inode(FileType type) {
        if (type == null) {
            throw new IllegalArgumentException("inode type is missing");
        }
        this.type = type;
    }

    public FileType type() {
        return type;
    }

    /** Returns the permission bits, including setuid, setgid and sticky ({@code mode & 07777}). */
    public int permissions() {
        return permissions;
    }

    public Inode permissions(int value) {
        if ((value & ~07777) != 0) {
            throw new IllegalArgumentException("permission bits 0" + Integer.toOctalString(value)
                    + " go beyond 07777");
        }
        this.permissions = value;
        return this;
    }

    /** Returns the full `st_mode`: type bits and permission bits. */
    public int mode() {
        return type.modeBits() | permissions;
    }

    public long uid() {
        return uid;
    }

    public long gid() {
        return gid;
    }

    public Inode owner(long newUid, long newGid) {
        checkId("uid", newUid);
        checkId("gid", newGid);
        this.uid = newUid;
        this.gid = newGid;
        return this;
    }

    private static void checkId(String field, long id) {
        if (id < 0 || id > MAX_ID) {
            throw new IllegalArgumentException(field + " " + id + " is outside 0.." + MAX_ID);
        }
    }

    public long mtimeSeconds() {
        return mtimeSeconds;
    }

    public int mtimeNanos() {
        return mtimeNanos;
    }

    public Inode mtime(long seconds, int nanos) {
        if (nanos < 0 || nanos > 999_999_999) {
            throw new IllegalArgumentException("mtime nanoseconds " + nanos
                    + " is outside 0..999999999");
        }
        this.mtimeSeconds = seconds;
        this.mtimeNanos = nanos;
        return this;
    }

    /**
     * Returns the file size for regular files and the target length for symlinks. For a
     * directory it is the size of its stored dirent data: the bootstrap writer computes and sets
     * it, and the reader returns what the image stores. Other types have 0.
     */
    public long size() {
        return size;
    }

    public Inode size(long value) {
        if (value < 0) {
            throw new IllegalArgumentException("file size " + value + " is negative");
        }
        this.size = value;
        return this;
    }

    public long rdevMajor() {
        return rdevMajor;
    }

    public long rdevMinor() {
        return rdevMinor;
    }

    public Inode rdev(long major, long minor) {
        if (major < 0 || minor < 0) {
            throw new IllegalArgumentException("device number " + major + ":" + minor
                    + " is negative");
        }
        this.rdevMajor = major;
        this.rdevMinor = minor;
        return this;
    }

    /** Returns the symlink target bytes (a copy), or null for other types. */
    public byte[] symlinkTarget() {
        return symlinkTarget == null ? null : symlinkTarget.clone();
    }

    public Inode symlinkTarget(byte[] target) {
        if (type != FileType.SYMLINK) {
            throw new IllegalStateException("only a symlink has a target, not a " + type);
        }
        if (target.length == 0 || target.length > MAX_SYMLINK) {
            throw new IllegalArgumentException("symlink target has " + target.length
                    + " bytes, expected 1.." + MAX_SYMLINK);
        }
        this.symlinkTarget = target.clone();
        this.size = target.length;
        return this;
    }

    public Xattrs xattrs() {
        return xattrs;
    }

    public Inode xattrs(Xattrs value) {
        this.xattrs = value;
        return this;
    }

    /** Returns the file's chunks in file order (an unmodifiable list). */
    public List<Chunk> chunks() {
        return chunks;
    }

    public Inode chunks(List<Chunk> value) {
        this.chunks = List.copyOf(value);
        return this;
    }

    /** Returns a copy with the same metadata and chunks (chunks are immutable and shared). */
    public Inode copy() {
        Inode copy = new Inode(type);
        copy.permissions = permissions;
        copy.uid = uid;
        copy.gid = gid;
        copy.mtimeSeconds = mtimeSeconds;
        copy.mtimeNanos = mtimeNanos;
        copy.size = size;
        copy.rdevMajor = rdevMajor;
        copy.rdevMinor = rdevMinor;
        copy.symlinkTarget = symlinkTarget;
        copy.xattrs = xattrs.copy();
        copy.chunks = chunks;
        return copy;
    }

    /** Returns a list builder for chunks, sized for a file of {@code fileSize} bytes. */
    public static List<Chunk> newChunkList(long fileSize, int chunkSize) {
        long count = (fileSize + chunkSize - 1) / chunkSize;
        return new ArrayList<>((int) Math.min(count, 1 << 16));
    }
}
