package io.nydus.daemon;

import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.Fd;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * System calls with the caller's buffer sizes and raw results, which {@code io.nydus.posix}
 * hides: xattr and readlink calls with short buffers, getdents64 with a small buffer, statx and
 * access. Each returns what a C program would see, so that two mounts can be compared.
 */
final class Syscalls {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(
            MemoryLayout.PathElement.groupElement("errno"));
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout PTR = ValueLayout.ADDRESS;

    private static final MethodHandle GETXATTR = handle("getxattr", LONG, PTR, PTR, PTR, LONG);
    private static final MethodHandle LGETXATTR = handle("lgetxattr", LONG, PTR, PTR, PTR, LONG);
    private static final MethodHandle LISTXATTR = handle("listxattr", LONG, PTR, PTR, LONG);
    private static final MethodHandle LLISTXATTR = handle("llistxattr", LONG, PTR, PTR, LONG);
    private static final MethodHandle READLINK = handle("readlink", LONG, PTR, PTR, LONG);
    private static final MethodHandle GETDENTS64 = handle("getdents64", LONG, INT, PTR, LONG);
    private static final MethodHandle ACCESS = handle("access", INT, PTR, INT);
    private static final MethodHandle STATX = handle("statx", INT, INT, PTR, INT, INT, PTR);
    private static final MethodHandle MMAP = handle("mmap", PTR, PTR, LONG, INT, INT, INT, LONG);
    private static final MethodHandle MUNMAP = handle("munmap", INT, PTR, LONG);
    private static final MethodHandle MEMCPY = handle("memcpy", PTR, PTR, PTR, LONG);
    private static final int PROT_READ = 1;
    private static final int MAP_SHARED = 1;

    static final int AT_FDCWD = -100;
    static final int AT_SYMLINK_NOFOLLOW = 0x100;
    static final int W_OK = 2;
    static final int R_OK = 4;
    /** STATX_BASIC_STATS with STATX_BTIME: every field that stat(2) has, and the birth time. */
    static final int STATX_ALL_BASIC = 0x7ff | 0x800;
    private static final int STATX_SIZE = 256;

    /** A directory record of getdents64: name, d_type and d_off, the position after it. */
    record DirectoryRecord(String name, int type, long nextPosition) {
    }

    /**
     * The statx fields that a program reads, without the device and inode numbers. Times are
     * seconds and nanoseconds.
     */
    record Statx(int mask, int blockSize, long attributes, long attributesMask, int nlink,
            int uid, int gid, int mode, long size, long blocks, List<Long> atime,
            List<Long> btime, List<Long> ctime, List<Long> mtime, int rdevMajor, int rdevMinor) {
    }

    private Syscalls() {
    }

    /**
     * Returns getxattr's (or, without {@code follow}, lgetxattr's) outcome with a buffer of
     * {@code size} bytes: the count and the value in hex, or the errno's name.
     */
    static String getxattr(BytePath path, byte[] name, long size, boolean follow) {
        MethodHandle function = follow ? GETXATTR : LGETXATTR;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment buffer = size == 0 ? MemorySegment.NULL : arena.allocate(size);
            long result = (long) function.invokeExact(state, cString(arena, path.bytes()),
                    cString(arena, name), buffer, size);
            return sized(state, result, buffer);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Returns listxattr's (or llistxattr's) outcome with a buffer of {@code size} bytes. */
    static String listxattr(BytePath path, long size, boolean follow) {
        MethodHandle function = follow ? LISTXATTR : LLISTXATTR;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment buffer = size == 0 ? MemorySegment.NULL : arena.allocate(size);
            long result = (long) function.invokeExact(state, cString(arena, path.bytes()),
                    buffer, size);
            return sized(state, result, buffer);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Returns readlink's outcome with a buffer of {@code size} bytes (at least 1). */
    static String readlink(BytePath path, long size) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment buffer = arena.allocate(size);
            long result = (long) READLINK.invokeExact(state, cString(arena, path.bytes()),
                    buffer, size);
            return sized(state, result, buffer);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Returns "0" when access(2) grants {@code mode}, else the errno's name. */
    static String access(BytePath path, int mode) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int result = (int) ACCESS.invokeExact(state, cString(arena, path.bytes()), mode);
            return result < 0 ? errnoName(state) : "0";
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Reads the next records of directory {@code dir} with one getdents64 call and a buffer
     * of {@code size} bytes; an empty list at the end.
     *
     * @throws AssertionError if the call fails
     */
    static List<DirectoryRecord> getdents(Fd dir, int size) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment buffer = arena.allocate(size, 8);
            long filled = (long) GETDENTS64.invokeExact(state, dir.number(), buffer,
                    (long) size);
            if (filled < 0) {
                throw new AssertionError("getdents64 on " + dir.path() + " failed: "
                        + errnoName(state));
            }
            return decode(buffer.asSlice(0, filled));
        } catch (Throwable t) {
            if (t instanceof AssertionError e) {
                throw e;
            }
            throw new AssertionError(t);
        }
    }

    // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
    private static List<DirectoryRecord> decode(MemorySegment records) {
        List<DirectoryRecord> decoded = new ArrayList<>();
        long offset = 0;
        while (offset < records.byteSize()) {
            long next = records.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + 8);
            int length = Short.toUnsignedInt(
                    records.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + 16));
            int type = Byte.toUnsignedInt(records.get(ValueLayout.JAVA_BYTE, offset + 18));
            String name = BytePath.escape(nameBytes(records.asSlice(offset + 19,
                    length - 19)));
            decoded.add(new DirectoryRecord(name, type, next));
            offset += length;
        }
        return decoded;
    }

    private static byte[] nameBytes(MemorySegment field) {
        long length = 0;
        while (field.get(ValueLayout.JAVA_BYTE, length) != 0) {
            length++;
        }
        return field.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
    }

    /**
     * Returns what statx reports for {@code path} when asked for {@link #STATX_ALL_BASIC}, or
     * throws with the errno's name.
     */
    static Statx statx(BytePath path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment buffer = arena.allocate(STATX_SIZE, 8);
            int result = (int) STATX.invokeExact(state, AT_FDCWD, cString(arena, path.bytes()),
                    flags, STATX_ALL_BASIC, buffer);
            if (result < 0) {
                throw new AssertionError("statx of " + path + " failed: " + errnoName(state));
            }
            return decodeStatx(buffer);
        } catch (Throwable t) {
            if (t instanceof AssertionError e) {
                throw e;
            }
            throw new AssertionError(t);
        }
    }

    // Offsets of struct statx in linux/stat.h.
    private static Statx decodeStatx(MemorySegment s) {
        return new Statx(s.get(INT, 0), s.get(INT, 4), s.get(LONG, 8), s.get(LONG, 56),
                s.get(INT, 16), s.get(INT, 20), s.get(INT, 24),
                Short.toUnsignedInt(s.get(ValueLayout.JAVA_SHORT, 28)), s.get(LONG, 40),
                s.get(LONG, 48), time(s, 64), time(s, 80), time(s, 96), time(s, 112),
                s.get(INT, 128), s.get(INT, 132));
    }

    private static List<Long> time(MemorySegment s, long offset) {
        return List.of(s.get(LONG, offset), Integer.toUnsignedLong(s.get(INT, offset + 8)));
    }

    /**
     * Maps {@code size} bytes of the open file {@code fd} and copies {@code length} bytes at
     * each of {@code offsets} out of the mapping.
     *
     * <p>The copy runs in native code. A Java thread that touched a mapping of a file that this
     * process's own FUSE server serves would take the page fault in Java state. A safepoint
     * would then wait for that thread, while the server's threads wait for the safepoint.
     */
    static List<byte[]> mappedCopies(Fd fd, long size, List<Long> offsets, int length) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment base = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL,
                    size, PROT_READ, MAP_SHARED, fd.number(), 0L);
            if (base.address() == -1L) {
                throw new AssertionError("mmap of " + fd.path() + " failed: "
                        + errnoName(state));
            }
            try {
                return copyOut(arena, base, size, offsets, length);
            } finally {
                int unmapped = (int) MUNMAP.invokeExact(state, base, size);
                assert unmapped == 0;
            }
        } catch (Throwable t) {
            if (t instanceof AssertionError e) {
                throw e;
            }
            throw new AssertionError(t);
        }
    }

    private static List<byte[]> copyOut(Arena arena, MemorySegment base, long size,
            List<Long> offsets, int length) throws Throwable {
        List<byte[]> copies = new ArrayList<>();
        MemorySegment state = arena.allocate(CALL_STATE);
        for (long offset : offsets) {
            long count = Math.min(length, size - offset);
            MemorySegment target = arena.allocate(Math.max(count, 1));
            MemorySegment source = MemorySegment.ofAddress(base.address() + offset);
            MemorySegment copied = (MemorySegment) MEMCPY.invokeExact(state, target, source,
                    count);
            copies.add(copied.reinterpret(count).toArray(ValueLayout.JAVA_BYTE));
        }
        return copies;
    }

    private static String sized(MemorySegment state, long result, MemorySegment buffer) {
        if (result < 0) {
            return errnoName(state);
        }
        if (buffer.equals(MemorySegment.NULL)) {
            return Long.toString(result);
        }
        return result + ":" + HexFormat.of().formatHex(buffer.asSlice(0, result)
                .toArray(ValueLayout.JAVA_BYTE));
    }

    private static String errnoName(MemorySegment state) {
        return Errno.name((int) ERRNO.get(state, 0L));
    }

    private static MemorySegment cString(Arena arena, byte[] bytes) {
        MemorySegment segment = arena.allocate(bytes.length + 1L);
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return segment;
    }

    private static MethodHandle handle(String name, ValueLayout result,
            ValueLayout... arguments) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(),
                FunctionDescriptor.of(result, arguments),
                Linker.Option.captureCallState("errno"));
    }
}
