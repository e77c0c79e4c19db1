package io.nydus.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.POINTER;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * {@code statx(2)}, which backs every stat call because its {@code struct statx} has the same
 * layout on every architecture, unlike {@code struct stat}.
 */
final class StatCall {

    static final int AT_EMPTY_PATH = 0x1000;

    private static final int STATX_BASIC_STATS = 0x7ff;
    private static final long STRUCT_SIZE = 256;
    private static final long NANOS_PER_SECOND = 1_000_000_000;
    // struct statx: __u64 stx_attributes at 8, __u64 stx_attributes_mask at 56.
    private static final long ATTRIBUTES_OFFSET = 8;
    private static final long ATTRIBUTES_MASK_OFFSET = 56;
    private static final long STATX_ATTR_MOUNT_ROOT = 0x2000;
    private static final MethodHandle STATX =
            Libc.function("statx", Libc.descriptor(INT, INT, POINTER, INT, INT, POINTER));

    private StatCall() {
    }

    /**
     * Returns the status of {@code path} relative to {@code dirfd}.
     *
     * @param errorPath the path named in errors
     */
    static Stat statx(int dirfd, BytePath path, BytePath errorPath, int flags, String operation)
            throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            return statx(arena, dirfd, cPath, flags, operation, errorPath);
        }
    }

    /** Returns the status of the open file {@code fd}. */
    static Stat fstat(int fd, BytePath label) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment empty = arena.allocate(1);
            return statx(arena, fd, empty, AT_EMPTY_PATH, "fstat", label);
        }
    }

    private static Stat statx(Arena arena, int dirfd, MemorySegment cPath, int flags,
            String operation, BytePath path) throws PosixException {
        return decode(call(arena, dirfd, cPath, flags, operation, path));
    }

    /**
     * Returns whether {@code path} relative to {@code dirfd}, not followed if it is a symlink,
     * is the root of a mount. That includes a bind mount of a directory on the same file
     * system, which has the same device number. Kernels before Linux 5.8 do not report this,
     * and there it returns false.
     */
    static boolean isMountRoot(int dirfd, BytePath path, BytePath errorPath)
            throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = call(arena, dirfd, path.toCString(arena),
                    Posix.AT_SYMLINK_NOFOLLOW, "fstatat", errorPath);
            long supported = buffer.get(JAVA_LONG, ATTRIBUTES_MASK_OFFSET);
            long attributes = buffer.get(JAVA_LONG, ATTRIBUTES_OFFSET);
            return (supported & attributes & STATX_ATTR_MOUNT_ROOT) != 0;
        }
    }

    private static MemorySegment call(Arena arena, int dirfd, MemorySegment cPath, int flags,
            String operation, BytePath path) throws PosixException {
        MemorySegment buffer = arena.allocate(STRUCT_SIZE, 8);
        Libc.check(arena, operation, path, state ->
                (int) STATX.invokeExact(state, dirfd, cPath, flags, STATX_BASIC_STATS, buffer));
        return buffer;
    }

    private static Stat decode(MemorySegment b) {
        int mode = Short.toUnsignedInt(b.get(JAVA_SHORT, 28));
        long nlink = Integer.toUnsignedLong(b.get(JAVA_INT, 16));
        long uid = Integer.toUnsignedLong(b.get(JAVA_INT, 20));
        long gid = Integer.toUnsignedLong(b.get(JAVA_INT, 24));
        long rdev = Devices.makedev(unsigned(b, 128), unsigned(b, 132));
        long dev = Devices.makedev(unsigned(b, 136), unsigned(b, 140));
        return new Stat(dev, b.get(JAVA_LONG, 32), mode, nlink, uid, gid, rdev,
                b.get(JAVA_LONG, 40), unsigned(b, 4), b.get(JAVA_LONG, 48),
                timestamp(b, 64), timestamp(b, 112), timestamp(b, 96));
    }

    private static long unsigned(MemorySegment b, long offset) {
        return Integer.toUnsignedLong(b.get(JAVA_INT, offset));
    }

    /**
     * Reads a {@code struct statx_timestamp}: __s64 tv_sec, __u32 tv_nsec, __s32 reserved. The
     * kernel passes the nanoseconds of an EROFS inode through unchecked, up to 2^32 - 1, so
     * whole seconds among them are carried into the seconds.
     */
    private static Timespec timestamp(MemorySegment b, long offset) {
        long nanos = unsigned(b, offset + 8);
        long seconds = Math.addExact(b.get(JAVA_LONG, offset), nanos / NANOS_PER_SECOND);
        return new Timespec(seconds, (int) (nanos % NANOS_PER_SECOND));
    }
}
