package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;

/**
 * Decodes inodes by nid: the on-disk fields, then the tree model's {@link Inode} with xattrs,
 * symlink target, device numbers or chunks. Directory entries are left to
 * {@link DirentDecoder}.
 */
final class InodeDecoder {
    private static final int NANOS_PER_SECOND = 1_000_000_000;

    private final MetaBuffer b;
    private final SuperBlockInfo sb;
    private final ChunkIndexDecoder chunks;

    InodeDecoder(MetaBuffer b, SuperBlockInfo sb, ChunkIndexDecoder chunks) {
        this.b = b;
        this.sb = sb;
        this.chunks = chunks;
    }

    static String describe(long nid) {
        return "inode nid " + nid;
    }

    /** Returns {@link #describe}'s text as a {@link Where}, which formats it only on errors. */
    static Where where(long nid) {
        return new Where("inode nid ", nid);
    }

    /** Reads and checks the on-disk inode at {@code nid}, charging its bytes to the budget. */
    OnDiskInode read(long nid) throws RafsFormatException {
        long maxNid = (b.size() - sb.metaAddress()) / 32 - 1;
        if (nid < 0 || nid > maxNid) {
            throw b.error("metadata area", sb.metaAddress(), "nid " + Long.toUnsignedString(nid)
                    + " is outside the metadata area (largest nid " + maxNid + ")");
        }
        long at = sb.inodeOffset(nid);
        Where where = where(nid);
        int format = b.u16(where, at);
        checkFormat(where, at, format);
        OnDiskInode inode = (format & 1) == 0 ? readCompact(nid, at, format)
                : readExtended(nid, at, format);
        b.require(where, at, inode.tailOffset() - at);
        b.charge(where, at, inode.tailOffset() - at);
        return inode;
    }

    private void checkFormat(Where where, long at, int format) throws RafsFormatException {
        if ((format & ~0xF) != 0) {
            throw b.error(where, at, String.format("i_format 0x%x has bits other than version"
                    + " and data layout", format));
        }
        int layout = (format >>> 1) & 0x7;
        if (layout == 1 || layout == 3) {
            throw b.error(where, at, "data layout " + layout
                    + " (EROFS compressed) is not supported");
        }
        if (layout > OnDisk.LAYOUT_CHUNK_BASED) {
            throw b.error(where, at, "data layout " + layout + " is unknown");
        }
    }

    private OnDiskInode readCompact(long nid, long at, int format) throws RafsFormatException {
        Where where = where(nid);
        long mtime;
        try {
            mtime = Math.addExact(sb.buildTime(), b.u32(where, at + 12));
        } catch (ArithmeticException e) {
            throw b.error(where, at + 12, "s_build_time " + sb.buildTime() + " + i_mtime "
                    + b.u32(where, at + 12) + " overflows");
        }
        return checkNanos(new OnDiskInode(nid, at, format, b.u16(where, at + 2),
                b.u16(where, at + 4), b.u16(where, at + 6), b.u32(where, at + 8),
                b.u32(where, at + 16), b.u32(where, at + 20), b.u16(where, at + 24),
                b.u16(where, at + 26), mtime, sb.buildTimeNanos()));
    }

    private OnDiskInode readExtended(long nid, long at, int format) throws RafsFormatException {
        Where where = where(nid);
        long size = b.u64(where, at + 8);
        if (size < 0) {
            throw b.error(where, at + 8, "i_size " + Long.toUnsignedString(size)
                    + " is larger than 2^63-1");
        }
        return checkNanos(new OnDiskInode(nid, at, format, b.u16(where, at + 2),
                b.u16(where, at + 4), b.u32(where, at + 44), size, b.u32(where, at + 16),
                b.u32(where, at + 20), b.u32(where, at + 24), b.u32(where, at + 28),
                b.u64(where, at + 32), b.u32(where, at + 40)));
    }

    private OnDiskInode checkNanos(OnDiskInode inode) throws RafsFormatException {
        if (inode.mtimeNanos() >= NANOS_PER_SECOND) {
            throw b.error(describe(inode.nid()), inode.offset(), "mtime nanoseconds "
                    + inode.mtimeNanos() + " is not below 10^9");
        }
        return inode;
    }

    /** Returns the inode's file type, rejecting unknown type bits. */
    FileType type(OnDiskInode inode) throws RafsFormatException {
        FileType type = FileType.fromMode(inode.mode());
        if (type == null) {
            throw b.error(describe(inode.nid()), inode.offset() + 4, String.format(
                    "i_mode 0%o has unknown file type bits", inode.mode()));
        }
        return type;
    }

    /**
     * Builds the tree model's inode: attributes and xattrs, plus the type's content (symlink
     * target, device numbers or chunks). A directory's entries are not read here.
     */
    Inode toInode(OnDiskInode raw) throws RafsFormatException {
        FileType type = type(raw);
        checkLayout(raw, type);
        Inode inode = new Inode(type).permissions(raw.mode() & 07777)
                .mtime(raw.mtimeSeconds(), (int) raw.mtimeNanos());
        setOwner(raw, inode);
        inode.xattrs(XattrDecoder.decode(b, raw));
        switch (type) {
            case REGULAR -> {
                inode.size(raw.size());
                inode.chunks(chunks.decode(raw));
            }
            case SYMLINK -> inode.symlinkTarget(symlinkTarget(raw));
            case CHAR_DEVICE, BLOCK_DEVICE -> {
                requireNoData(raw, type);
                inode.rdev(DeviceNumbers.major(raw.union()), DeviceNumbers.minor(raw.union()));
            }
            case FIFO, SOCKET -> requireNoData(raw, type);
            case DIRECTORY -> {
                // The size of a directory is its dirent bytes, as BootstrapWriter sets it.
                // Entries are decoded by DirentDecoder while the tree is built.
                inode.size(raw.size());
            }
        }
        return inode;
    }

    private void checkLayout(OnDiskInode raw, FileType type) throws RafsFormatException {
        boolean chunked = raw.layout() == OnDisk.LAYOUT_CHUNK_BASED;
        if (type == FileType.REGULAR && !chunked && raw.size() != 0) {
            throw b.error(describe(raw.nid()), raw.offset(), "regular file of " + raw.size()
                    + " bytes has flat data layout " + raw.layout()
                    + ", expected chunk-based (4): data inside the bootstrap is not supported");
        }
        if (type != FileType.REGULAR && chunked) {
            throw b.error(describe(raw.nid()), raw.offset(), "a " + type
                    + " inode cannot have the chunk-based layout");
        }
    }

    private void setOwner(OnDiskInode raw, Inode inode) throws RafsFormatException {
        if (raw.uid() > Inode.MAX_ID || raw.gid() > Inode.MAX_ID) {
            throw b.error(describe(raw.nid()), raw.offset(), "uid " + raw.uid() + " or gid "
                    + raw.gid() + " is above " + Inode.MAX_ID);
        }
        inode.owner(raw.uid(), raw.gid());
    }

    private void requireNoData(OnDiskInode raw, FileType type) throws RafsFormatException {
        if (raw.size() != 0) {
            throw b.error(describe(raw.nid()), raw.offset() + 8, "a " + type + " inode has"
                    + " i_size " + raw.size() + ", expected 0");
        }
    }

    private byte[] symlinkTarget(OnDiskInode raw) throws RafsFormatException {
        Where where = new Where("symlink target of inode nid ", raw.nid());
        if (raw.size() == 0 || raw.size() > Inode.MAX_SYMLINK) {
            throw b.error(where, raw.offset() + 8, "i_size " + raw.size()
                    + ", expected 1.." + Inode.MAX_SYMLINK);
        }
        int size = (int) raw.size();
        b.charge(where, raw.offset(), size);
        byte[] target = new byte[size];
        int blockSize = sb.blockSize();
        for (int pos = 0; pos < size; pos += blockSize) {
            int length = Math.min(blockSize, size - pos);
            long at = blockOffset(raw, pos / blockSize, length);
            System.arraycopy(b.bytes(where, at, length), 0, target, pos, length);
        }
        for (int i = 0; i < size; i++) {
            if (target[i] == 0) {
                throw b.error(where, raw.offset(), "the target contains a NUL byte at index "
                        + i);
            }
        }
        return target;
    }

    /**
     * Returns the absolute offset of block {@code block} of a flat (plain or inline) inode's
     * data, checking that its {@code length} bytes lie inside the file. The last block of an
     * inline inode directly follows the inode and its xattrs and must not cross a block boundary.
     */
    long blockOffset(OnDiskInode raw, long block, int length) throws RafsFormatException {
        Where where = new Where("data of inode nid ", raw.nid());
        long blockSize = sb.blockSize();
        long blocks = raw.size() / blockSize + (raw.size() % blockSize == 0 ? 0 : 1);
        long at;
        if (raw.layout() == OnDisk.LAYOUT_FLAT_INLINE && block == blocks - 1) {
            at = raw.tailOffset();
            if (at % blockSize + length > blockSize) {
                throw b.error(where, at, "inline tail of " + length
                        + " bytes crosses a block boundary");
            }
        } else {
            at = (raw.union() + block) * blockSize;
        }
        b.require(where, at, length);
        return at;
    }
}
