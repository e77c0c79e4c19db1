package io.nydus.fuse;

import io.nydus.posix.BytePath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Packs directory entries into a readdir or readdirplus reply: a sequence of
 * {@code fuse_dirent} (or {@code fuse_direntplus}, a {@code fuse_entry_out} before each),
 * each padded to 8 bytes, no longer than the size the kernel requested.
 */
final class DirectoryReply implements DirSink {

    private final MemorySegment target;
    private final boolean plus;
    private long length;
    private int count;

    DirectoryReply(MemorySegment target, long requestedSize, boolean plus) {
        this.target = target.asSlice(0, Math.min(requestedSize, target.byteSize()));
        this.plus = plus;
    }

    @Override
    public boolean wantsAttributes() {
        return plus;
    }

    @Override
    public boolean add(DirEntry dirEntry, Entry entry) {
        if (plus && entry == null) {
            throw new IllegalArgumentException("readdirplus entry "
                    + BytePath.escape(dirEntry.name()) + " has no attributes");
        }
        byte[] name = dirEntry.name();
        int headerSize = plus ? Protocol.ENTRY_OUT_SIZE : 0;
        long direntSize = align8(Protocol.DIRENT_NAME_OFFSET + name.length);
        if (length + headerSize + direntSize > target.byteSize()) {
            return false;
        }
        if (plus) {
            Encoding.writeEntry(target, length, entry);
        }
        long dirent = length + headerSize;
        target.set(Encoding.LONG, dirent, dirEntry.inode());
        target.set(Encoding.LONG, dirent + 8, dirEntry.nextOffset());
        target.set(Encoding.INT, dirent + 16, name.length);
        target.set(Encoding.INT, dirent + 20, dirEntry.type() >>> 12);
        long nameStart = dirent + Protocol.DIRENT_NAME_OFFSET;
        MemorySegment.copy(name, 0, target, ValueLayout.JAVA_BYTE, nameStart, name.length);
        long end = dirent + direntSize;
        target.asSlice(nameStart + name.length, end - nameStart - name.length).fill((byte) 0);
        length = end;
        count++;
        return true;
    }

    /** Returns the reply's length in bytes. */
    long length() {
        return length;
    }

    /** Returns how many entries were added. */
    int count() {
        return count;
    }

    private static long align8(long size) {
        return (size + 7) & ~7L;
    }
}
