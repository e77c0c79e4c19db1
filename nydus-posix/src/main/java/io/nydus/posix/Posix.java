package io.nydus.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Optional;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.LONG;
import static io.nydus.posix.Libc.POINTER;

/**
 * Linux file system calls on byte paths: status, directories, links, special files, owners,
 * permissions, times and mounts. Extended attributes are in {@link Xattrs}, reads and writes in
 * {@link Fd}.
 *
 * <p>Each method is one C library call of the same name, except where its Javadoc says
 * otherwise. Calls interrupted by a signal (EINTR) are repeated. A failed call throws
 * {@link PosixException}, or {@link NoSuchEntryException} for ENOENT, naming the call and the
 * path. The {@code *at} methods resolve a relative path against the directory {@code dir}, or
 * the working directory for {@link Fd#CWD}, which keeps a walk inside the tree it opened even
 * when a directory is renamed or replaced by a symlink meanwhile.
 */
public final class Posix {

    /** Do not follow a symlink in the last path component. */
    public static final int AT_SYMLINK_NOFOLLOW = 0x100;
    /** Make {@link #unlinkat} remove a directory, like {@code rmdir}. */
    public static final int AT_REMOVEDIR = 0x200;
    /** Make {@link #linkat} link to a symlink's target rather than the symlink. */
    public static final int AT_SYMLINK_FOLLOW = 0x400;
    /** Fail {@link #renameat} with EEXIST rather than replace the destination. */
    public static final int RENAME_NOREPLACE = 1;
    /** Make {@link #renameat} swap the two paths atomically. */
    public static final int RENAME_EXCHANGE = 2;

    private static final long MAX_ID = 0xffff_fffeL;
    private static final int MAX_LINK_BUFFER = 1 << 20;

    private static final MethodHandle OPENAT = Libc.variadic("openat",
            Libc.descriptor(INT, INT, POINTER, INT, INT), 3);
    private static final Libc.LazyHandle MKDIRAT =
            Libc.lazyFunction("mkdirat", Libc.descriptor(INT, INT, POINTER, INT));
    private static final Libc.LazyHandle MKNODAT =
            Libc.lazyFunction("mknodat", Libc.descriptor(INT, INT, POINTER, INT, LONG));
    private static final Libc.LazyHandle SYMLINKAT =
            Libc.lazyFunction("symlinkat", Libc.descriptor(INT, POINTER, INT, POINTER));
    private static final Libc.LazyHandle LINKAT =
            Libc.lazyFunction("linkat", Libc.descriptor(INT, INT, POINTER, INT, POINTER, INT));
    private static final Libc.LazyHandle UNLINKAT =
            Libc.lazyFunction("unlinkat", Libc.descriptor(INT, INT, POINTER, INT));
    private static final Libc.LazyHandle RENAMEAT2 =
            Libc.lazyFunction("renameat2", Libc.descriptor(INT, INT, POINTER, INT, POINTER, INT));
    private static final Libc.LazyHandle READLINKAT =
            Libc.lazyFunction("readlinkat", Libc.descriptor(LONG, INT, POINTER, POINTER, LONG));
    private static final Libc.LazyHandle FCHOWNAT =
            Libc.lazyFunction("fchownat", Libc.descriptor(INT, INT, POINTER, INT, INT, INT));
    private static final Libc.LazyHandle FCHMODAT =
            Libc.lazyFunction("fchmodat", Libc.descriptor(INT, INT, POINTER, INT, INT));
    private static final Libc.LazyHandle UTIMENSAT =
            Libc.lazyFunction("utimensat", Libc.descriptor(INT, INT, POINTER, POINTER, INT));
    private static final Libc.LazyHandle MOUNT = Libc.lazyFunction("mount",
            Libc.descriptor(INT, POINTER, POINTER, POINTER, LONG, POINTER));
    private static final Libc.LazyHandle UMOUNT2 =
            Libc.lazyFunction("umount2", Libc.descriptor(INT, POINTER, INT));
    private static final Libc.LazyHandle UMASK =
            Libc.lazyPlain("umask", Libc.descriptor(INT, INT));
    private static final Libc.LazyHandle STATFS =
            Libc.lazyFunction("statfs", Libc.descriptor(INT, POINTER, POINTER));
    /** Bytes of {@code struct statfs} on 64-bit Linux, rounded up. */
    private static final long STATFS_SIZE = 128;

    private Posix() {
    }

    // --- status ---

    /** Returns the status of {@code path} without following a final symlink. */
    public static Stat lstat(BytePath path) throws PosixException {
        return StatCall.statx(Libc.AT_FDCWD, path, path, AT_SYMLINK_NOFOLLOW, "lstat");
    }

    /** Returns the status of {@code path}, following symlinks. */
    public static Stat stat(BytePath path) throws PosixException {
        return StatCall.statx(Libc.AT_FDCWD, path, path, 0, "stat");
    }

    /**
     * Returns the status of {@code path} relative to {@code dir}.
     *
     * @param flags 0 or {@link #AT_SYMLINK_NOFOLLOW}
     */
    public static Stat fstatat(Fd dir, BytePath path, int flags) throws PosixException {
        return StatCall.statx(dir.number(), path, display(dir, path), flags, "fstatat");
    }

    /** Returns the status of {@code path} like {@link #lstat}, or empty if it does not exist. */
    public static Optional<Stat> lstatIfExists(BytePath path) throws PosixException {
        try {
            return Optional.of(lstat(path));
        } catch (NoSuchEntryException e) {
            return Optional.empty();
        }
    }

    // --- directories and links ---

    /** Returns the names in directory {@code dir}, without "." and "..", in directory order. */
    public static List<byte[]> readdir(BytePath dir) throws PosixException {
        int flags = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC;
        try (Fd fd = open(dir, flags)) {
            return DirectoryReader.read(fd);
        }
    }

    /**
     * Returns the names in the open directory {@code dir}, without "." and "..", reading from
     * its start.
     */
    public static List<byte[]> readdir(Fd dir) throws PosixException {
        return DirectoryReader.read(dir);
    }

    /**
     * Returns the names in the open directory {@code dir}, without "." and "..", from
     * {@code position} on, as a reader that resumes with {@code seekdir(3)} gets them.
     */
    public static List<byte[]> readdir(Fd dir, long position) throws PosixException {
        return DirectoryReader.read(dir, position);
    }

    /** Returns the target of symlink {@code path} as raw bytes. */
    public static byte[] readlink(BytePath path) throws PosixException {
        return readlinkat(Fd.CWD, path);
    }

    /** Returns the target of the symlink {@code path} relative to {@code dir}. */
    public static byte[] readlinkat(Fd dir, BytePath path) throws PosixException {
        BytePath errorPath = display(dir, path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            for (int size = 4096; ; size *= 2) {
                MemorySegment buffer = arena.allocate(size);
                long bufferSize = size;
                long length = Libc.check(arena, "readlink", errorPath, state ->
                        (long) READLINKAT.get().invokeExact(state, dir.number(), cPath, buffer,
                                bufferSize));
                // A result that fills the buffer may be truncated, so it is read again.
                if (length < size || size >= MAX_LINK_BUFFER) {
                    return buffer.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
                }
            }
        }
    }

    /** Creates directory {@code path} with {@code mode} (07777, less the umask). */
    public static void mkdir(BytePath path, int mode) throws PosixException {
        mkdirat(Fd.CWD, path, mode);
    }

    /** Creates directory {@code path} relative to {@code dir}. */
    public static void mkdirat(Fd dir, BytePath path, int mode) throws PosixException {
        int bits = checkPermissions(mode);
        run("mkdir", dir, path, (state, cPath) ->
                (int) MKDIRAT.get().invokeExact(state, dir.number(), cPath, bits));
    }

    /**
     * Creates a special file.
     *
     * @param mode file type bits and permissions, see {@link FileType#mode(int)}
     * @param dev the device number for devices, see {@link Devices#makedev}, else 0
     */
    public static void mknod(BytePath path, int mode, long dev) throws PosixException {
        mknodat(Fd.CWD, path, mode, dev);
    }

    /** Creates a special file at {@code path} relative to {@code dir}; see {@link #mknod}. */
    public static void mknodat(Fd dir, BytePath path, int mode, long dev) throws PosixException {
        FileType.of(mode);
        run("mknod", dir, path, (state, cPath) ->
                (int) MKNODAT.get().invokeExact(state, dir.number(), cPath, mode, dev));
    }

    /** Creates symlink {@code link} pointing to the raw bytes {@code target}. */
    public static void symlink(byte[] target, BytePath link) throws PosixException {
        symlinkat(target, Fd.CWD, link);
    }

    /** Creates symlink {@code link}, relative to {@code dir}, pointing to {@code target}. */
    public static void symlinkat(byte[] target, Fd dir, BytePath link) throws PosixException {
        BytePath targetPath = BytePath.of(target);
        BytePath errorPath = display(dir, link);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cTarget = targetPath.toCString(arena);
            MemorySegment cLink = link.toCString(arena);
            Libc.check(arena, "symlink", errorPath, errorPath + " -> " + targetPath, state ->
                    (int) SYMLINKAT.get().invokeExact(state, cTarget, dir.number(), cLink));
        }
    }

    /** Creates {@code newPath} as another hard link to {@code existing}. */
    public static void link(BytePath existing, BytePath newPath) throws PosixException {
        linkat(Fd.CWD, existing, Fd.CWD, newPath, 0);
    }

    /**
     * Creates a hard link; without {@link #AT_SYMLINK_FOLLOW} a symlink itself is linked.
     */
    public static void linkat(Fd oldDir, BytePath oldPath, Fd newDir, BytePath newPath,
            int flags) throws PosixException {
        BytePath oldErrorPath = display(oldDir, oldPath);
        BytePath newErrorPath = display(newDir, newPath);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cOld = oldPath.toCString(arena);
            MemorySegment cNew = newPath.toCString(arena);
            Libc.check(arena, "link", oldErrorPath, oldErrorPath + " to " + newErrorPath, state ->
                    (int) LINKAT.get().invokeExact(state, oldDir.number(), cOld, newDir.number(),
                            cNew, flags));
        }
    }

    /** Removes the non-directory {@code path}. */
    public static void unlink(BytePath path) throws PosixException {
        unlinkat(Fd.CWD, path, 0);
    }

    /** Removes the empty directory {@code path}. */
    public static void rmdir(BytePath path) throws PosixException {
        unlinkat(Fd.CWD, path, AT_REMOVEDIR);
    }

    /** Removes {@code path} relative to {@code dir}; a directory needs {@link #AT_REMOVEDIR}. */
    public static void unlinkat(Fd dir, BytePath path, int flags) throws PosixException {
        String operation = (flags & AT_REMOVEDIR) != 0 ? "rmdir" : "unlink";
        run(operation, dir, path, (state, cPath) ->
                (int) UNLINKAT.get().invokeExact(state, dir.number(), cPath, flags));
    }

    /** Renames {@code oldPath} to {@code newPath}, replacing a file already there. */
    public static void rename(BytePath oldPath, BytePath newPath) throws PosixException {
        renameat(Fd.CWD, oldPath, Fd.CWD, newPath, 0);
    }

    /**
     * Renames a path, with {@code renameat2(2)}.
     *
     * @param flags 0, {@link #RENAME_NOREPLACE} or {@link #RENAME_EXCHANGE}
     */
    public static void renameat(Fd oldDir, BytePath oldPath, Fd newDir, BytePath newPath,
            int flags) throws PosixException {
        BytePath oldErrorPath = display(oldDir, oldPath);
        BytePath newErrorPath = display(newDir, newPath);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cOld = oldPath.toCString(arena);
            MemorySegment cNew = newPath.toCString(arena);
            Libc.check(arena, "rename", oldErrorPath, oldErrorPath + " to " + newErrorPath, state ->
                    (int) RENAMEAT2.get().invokeExact(state, oldDir.number(), cOld, newDir.number(),
                            cNew, flags));
        }
    }

    // --- open ---

    /** Opens {@code path} with {@link OpenFlags} {@code flags}, creating files with mode 0600. */
    public static Fd open(BytePath path, int flags) throws PosixException {
        return openat(Fd.CWD, path, flags, 0600);
    }

    /** Opens {@code path}; {@code mode} (less the umask) applies to a file that O_CREAT makes. */
    public static Fd open(BytePath path, int flags, int mode) throws PosixException {
        return openat(Fd.CWD, path, flags, mode);
    }

    /**
     * Opens {@code path} relative to {@code dir}. The returned descriptor's {@link Fd#path()}
     * is {@code dir}'s path joined with {@code path}.
     */
    public static Fd openat(Fd dir, BytePath path, int flags, int mode) throws PosixException {
        int bits = checkPermissions(mode);
        BytePath errorPath = display(dir, path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            long fd = Libc.check(arena, "open", errorPath, state ->
                    (int) OPENAT.invokeExact(state, dir.number(), cPath, flags, bits));
            return Fd.opened((int) fd, errorPath);
        }
    }

    // --- owners, permissions, times ---

    /** Sets the owner of {@code path} without following a symlink; -1 keeps an id. */
    public static void lchown(BytePath path, long uid, long gid) throws PosixException {
        fchownat(Fd.CWD, path, uid, gid, AT_SYMLINK_NOFOLLOW);
    }

    /**
     * Sets the owner of {@code path} relative to {@code dir}.
     *
     * @param uid 0 to 4294967294, or -1 to keep the user
     * @param gid 0 to 4294967294, or -1 to keep the group
     * @param flags 0 or {@link #AT_SYMLINK_NOFOLLOW}
     */
    public static void fchownat(Fd dir, BytePath path, long uid, long gid, int flags)
            throws PosixException {
        int user = checkId("uid", uid);
        int group = checkId("gid", gid);
        run("chown", dir, path, (state, cPath) ->
                (int) FCHOWNAT.get().invokeExact(state, dir.number(), cPath, user, group, flags));
    }

    /** Sets the permission bits (07777) of {@code path}, following symlinks. */
    public static void chmod(BytePath path, int mode) throws PosixException {
        fchmodat(Fd.CWD, path, mode, 0);
    }

    /**
     * Sets the permission bits of {@code path} relative to {@code dir}. With
     * {@link #AT_SYMLINK_NOFOLLOW}, a symlink fails with EOPNOTSUPP, because Linux symlinks
     * have no permissions of their own.
     */
    public static void fchmodat(Fd dir, BytePath path, int mode, int flags)
            throws PosixException {
        int bits = checkPermissions(mode);
        run("chmod", dir, path, (state, cPath) ->
                (int) FCHMODAT.get().invokeExact(state, dir.number(), cPath, bits, flags));
    }

    /** Sets access and modification times of {@code path} without following a symlink. */
    public static void lutimens(BytePath path, Timespec atime, Timespec mtime)
            throws PosixException {
        utimensat(Fd.CWD, path, atime, mtime, AT_SYMLINK_NOFOLLOW);
    }

    /**
     * Sets access and modification times with nanoseconds, before 1970 too.
     *
     * @param flags 0 or {@link #AT_SYMLINK_NOFOLLOW}
     */
    public static void utimensat(Fd dir, BytePath path, Timespec atime, Timespec mtime,
            int flags) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment times = timespecPair(arena, atime, mtime);
            run("utimensat", dir, path, (state, cPath) ->
                    (int) UTIMENSAT.get().invokeExact(state, dir.number(), cPath, times, flags));
        }
    }

    /** Sets the process's file mode creation mask and returns the previous one. */
    public static int umask(int mask) {
        int bits = checkPermissions(mask) & 0777;
        try {
            return (int) UMASK.get().invokeExact(bits);
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
    }

    // --- mounts ---

    /**
     * Mounts a file system with {@code mount(2)}.
     *
     * @param source the device or file, or null where the file system needs none
     * @param fsType the file system type such as "erofs", or null for bind and remount
     * @param flags {@link MountFlags} {@code MS_*} bits
     * @param data file system options such as "device=/dev/loop3", or null
     */
    public static void mount(BytePath source, BytePath target, String fsType, long flags,
            String data) throws PosixException {
        String subject = (fsType == null ? "" : fsType + " ")
                + (source == null ? "" : source + " ") + "on " + target;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cSource = source == null ? MemorySegment.NULL : source.toCString(arena);
            MemorySegment cTarget = target.toCString(arena);
            MemorySegment cType = fsType == null ? MemorySegment.NULL : arena.allocateFrom(fsType);
            MemorySegment cData = data == null ? MemorySegment.NULL : arena.allocateFrom(data);
            Libc.check(arena, "mount", target, subject, state ->
                    (int) MOUNT.get().invokeExact(state, cSource, cTarget, cType, flags, cData));
        }
    }

    /** Unmounts the file system at {@code target}; flags are {@link MountFlags} MNT_*. */
    public static void umount2(BytePath target, int flags) throws PosixException {
        run("umount", Fd.CWD, target, (state, cPath) ->
                (int) UMOUNT2.get().invokeExact(state, cPath, flags));
    }

    /**
     * Requests the figures of the file system that contains {@code path} and discards them. The
     * kernel may serve stat from its attribute cache, but statfs always reaches the file system,
     * so it shows whether a FUSE mount's daemon is still there.
     */
    public static void statfs(BytePath path) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(STATFS_SIZE, 8);
            run("statfs", Fd.CWD, path, (state, cPath) ->
                    (int) STATFS.get().invokeExact(state, cPath, buffer));
        }
    }

    // --- shared helpers ---

    @FunctionalInterface
    private interface PathCall {
        long invoke(MemorySegment callState, MemorySegment cPath) throws Throwable;
    }

    private static void run(String operation, Fd dir, BytePath path, PathCall call)
            throws PosixException {
        BytePath errorPath = display(dir, path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            Libc.check(arena, operation, errorPath, state -> call.invoke(state, cPath));
        }
    }

    /** Returns {@code path} as errorPath in errors: joined to {@code dir}'s path when relative. */
    static BytePath display(Fd dir, BytePath path) {
        return dir == Fd.CWD || path.isAbsolute() ? path : dir.path().resolve(path);
    }

    /** Returns an id as the C {@code uid_t}/{@code gid_t} bits; -1 means "unchanged". */
    static int checkId(String name, long id) {
        if (id != -1 && (id < 0 || id > MAX_ID)) {
            throw new IllegalArgumentException(
                    name + " must be 0 to " + MAX_ID + " or -1 to keep it, got " + id);
        }
        return (int) id;
    }

    static int checkPermissions(int mode) {
        if ((mode & ~07777) != 0) {
            throw new IllegalArgumentException(
                    "mode must fit in 07777, got 0" + Integer.toOctalString(mode));
        }
        return mode;
    }

    /** Writes the {@code struct timespec[2]} of {@code utimensat} and {@code futimens}. */
    static MemorySegment timespecPair(Arena arena, Timespec atime, Timespec mtime) {
        MemorySegment times = arena.allocate(32, 8);
        times.set(ValueLayout.JAVA_LONG, 0, atime.seconds());
        times.set(ValueLayout.JAVA_LONG, 8, atime.nanos());
        times.set(ValueLayout.JAVA_LONG, 16, mtime.seconds());
        times.set(ValueLayout.JAVA_LONG, 24, mtime.nanos());
        return times;
    }
}
