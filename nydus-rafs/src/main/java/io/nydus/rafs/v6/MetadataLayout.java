package io.nydus.rafs.v6;

import java.util.ArrayDeque;

/**
 * Places inodes and their inline data in the metadata area, reusing the free tails of blocks the
 * way upstream's builder does, so that the same tree gives the same bytes. Offsets are relative
 * to an area whose first inode (the root) sits at {@link #START}.
 */
final class MetadataLayout {
    static final int START = 4096;
    static final int SLOT = 32;

    private final int blockSize;
    /** Blocks with a free tail, bucketed by {@code free bytes / 32}, oldest first. */
    private final ArrayDeque<Long>[] available;
    private long cursor;

    MetadataLayout(int blockSize) {
        this(blockSize, START);
    }

    @SuppressWarnings("unchecked")
    MetadataLayout(int blockSize, long start) {
        this.blockSize = blockSize;
        this.cursor = start;
        this.available = new ArrayDeque[blockSize / SLOT];
        for (int i = 0; i < available.length; i++) {
            available[i] = new ArrayDeque<>();
        }
    }

    long cursor() {
        return cursor;
    }

    /** The offsets of an inode and its data, and whether the data's tail is inline. */
    record Placement(long inodeOffset, long dataOffset, boolean inline) {
    }

    /** Places a regular file's inode with its chunk index array of {@code total} bytes. */
    long placeFile(long total) {
        long offset = allocate(total);
        if (offset == 0) {
            offset = cursor;
            cursor += total;
        }
        alignCursor(SLOT);
        return offset;
    }

    /** Places a device, fifo or socket inode, which has no data. */
    long placeSpecial(long inodeSize) {
        long offset = cursor;
        cursor += inodeSize;
        alignCursor(SLOT);
        return offset;
    }

    /** Places a directory or symlink inode with {@code dataSize} bytes of data. */
    Placement placeWithData(long inodeSize, long dataSize) {
        long tail = dataSize % blockSize;
        boolean inline = tail != 0 && inodeSize + tail <= blockSize;
        Placement placement = inline
                ? placeInline(inodeSize, dataSize, tail)
                : placePlain(inodeSize, dataSize);
        alignCursor(SLOT);
        return placement;
    }

    private Placement placeInline(long inodeSize, long dataSize, long tail) {
        long offset = allocate(inodeSize + tail);
        if (offset == 0) {
            if (blockSize - cursor % blockSize < inodeSize + tail) {
                release(cursor);
                alignCursor(blockSize);
            }
            offset = cursor;
            cursor += inodeSize + tail;
        }
        if (dataSize != tail) {
            release(cursor);
            alignCursor(blockSize);
        }
        long dataOffset = cursor;
        cursor += dataSize - tail;
        return new Placement(offset, dataOffset, true);
    }

    private Placement placePlain(long inodeSize, long dataSize) {
        long offset = allocate(inodeSize);
        if (offset == 0) {
            offset = cursor;
            cursor += inodeSize;
        }
        release(cursor);
        alignCursor(blockSize);
        long dataOffset = cursor;
        cursor += dataSize;
        alignCursor(blockSize);
        return new Placement(offset, dataOffset, false);
    }

    /** Takes {@code size} bytes from the free tail of an earlier block, or returns 0. */
    private long allocate(long size) {
        if (size >= blockSize) {
            return 0;
        }
        int minBucket = (int) ((size + SLOT - 1) / SLOT);
        for (int bucket = minBucket; bucket < available.length; bucket++) {
            Long blockStart = available[bucket].pollFirst();
            if (blockStart != null) {
                long offset = blockStart + blockSize - (long) bucket * SLOT;
                release(offset + (long) minBucket * SLOT);
                return offset;
            }
        }
        return 0;
    }

    /** Records that the block holding {@code offset} is free from there to its end. */
    private void release(long offset) {
        long used = offset % blockSize;
        if (used != 0) {
            int bucket = (int) ((blockSize - used) / SLOT);
            available[bucket].addLast(offset - used);
        }
    }

    private void alignCursor(long alignment) {
        long rem = cursor % alignment;
        if (rem != 0) {
            cursor += alignment - rem;
        }
    }
}
