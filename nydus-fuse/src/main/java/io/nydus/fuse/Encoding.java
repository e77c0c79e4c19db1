package io.nydus.fuse;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Writes the protocol's attribute structs: {@code fuse_attr}, {@code fuse_entry_out}. */
final class Encoding {

    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private static final int BLOCK_SIZE = 4096;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private Encoding() {
    }

    /**
     * Writes {@code attr} as a {@code fuse_attr} at {@code offset}. The access and change times
     * equal the modification time, since an image stores only that one.
     */
    static void writeAttr(MemorySegment target, long offset, Attr attr) {
        target.set(LONG, offset, attr.inode());
        target.set(LONG, offset + 8, attr.size());
        target.set(LONG, offset + 16, attr.blocks());
        target.set(LONG, offset + 24, attr.mtimeSeconds());
        target.set(LONG, offset + 32, attr.mtimeSeconds());
        target.set(LONG, offset + 40, attr.mtimeSeconds());
        target.set(INT, offset + 48, attr.mtimeNanos());
        target.set(INT, offset + 52, attr.mtimeNanos());
        target.set(INT, offset + 56, attr.mtimeNanos());
        target.set(INT, offset + 60, attr.mode());
        target.set(INT, offset + 64, attr.nlink());
        target.set(INT, offset + 68, (int) attr.uid());
        target.set(INT, offset + 72, (int) attr.gid());
        target.set(INT, offset + 76, attr.rdev());
        target.set(INT, offset + 80, BLOCK_SIZE);
        target.set(INT, offset + 84, 0);
    }

    /** Writes {@code entry} as a {@code fuse_entry_out} at {@code offset}. */
    static void writeEntry(MemorySegment target, long offset, Entry entry) {
        target.set(LONG, offset, entry.attr().inode());
        target.set(LONG, offset + 8, 0L);
        writeTimeout(target, offset + 16, offset + 32, entry.timeoutSeconds());
        writeTimeout(target, offset + 24, offset + 36, entry.timeoutSeconds());
        writeAttr(target, offset + 40, entry.attr());
    }

    /** Writes {@code attr} as a {@code fuse_attr_out} at the start of {@code target}. */
    static void writeAttrOut(MemorySegment target, Attr attr, double timeoutSeconds) {
        writeTimeout(target, 0, 8, timeoutSeconds);
        target.set(INT, 12, 0);
        writeAttr(target, 16, attr);
    }

    /** Writes a timeout as whole seconds (64 bits) and nanoseconds (32 bits). */
    private static void writeTimeout(MemorySegment target, long secondsOffset, long nanosOffset,
            double timeoutSeconds) {
        long seconds = (long) timeoutSeconds;
        long nanos = Math.min(NANOS_PER_SECOND - 1,
                (long) ((timeoutSeconds - seconds) * NANOS_PER_SECOND));
        target.set(LONG, secondsOffset, seconds);
        target.set(INT, nanosOffset, (int) nanos);
    }
}
