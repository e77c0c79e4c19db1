package io.nydus.testkit;

import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Fd;
import io.nydus.posix.FileType;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Timespec;
import io.nydus.posix.Xattrs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The primitive steps of {@link TreeGenerator}: each creates or changes one path below the
 * root and counts what it made. Modification times are collected and applied by
 * {@link #applyTimes()} at the end, because creating a child changes its directory's mtime.
 */
final class TreeMaker {

    private static final int CREATE = OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL
            | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
    private static final int WRITE_BLOCK = 1 << 20;

    private final BytePath root;
    private final Map<BytePath, Timespec> times = new HashMap<>();
    private int directories;
    private int regularFiles;
    private int symlinks;
    private int hardlinks;
    private int charDevices;
    private int blockDevices;
    private int fifos;
    private int sockets;
    private int xattrs;
    private long contentBytes;

    TreeMaker(BytePath root) {
        this.root = root;
    }

    /** Returns the absolute path of {@code relative}. */
    BytePath absolute(BytePath relative) {
        return relative.equals(TreeSnapshot.ROOT) ? root : root.resolve(relative);
    }

    void directory(BytePath relative, int mode) throws IOException {
        Posix.mkdir(absolute(relative), 0700);
        Posix.chmod(absolute(relative), mode);
        directories++;
    }

    void file(BytePath relative, byte[] content, int mode) throws IOException {
        try (Fd fd = Posix.open(absolute(relative), CREATE, 0600)) {
            fd.writeAll(content);
        }
        finishFile(relative, content.length, mode);
    }

    /** Writes {@code block} {@code count} times, for files too large to build in memory. */
    void repeatedFile(BytePath relative, byte[] block, int count, int mode) throws IOException {
        try (Fd fd = Posix.open(absolute(relative), CREATE, 0600)) {
            for (int i = 0; i < count; i++) {
                fd.writeAll(block);
            }
        }
        finishFile(relative, (long) block.length * count, mode);
    }

    /** Makes a file of {@code size} bytes that holds only {@code extents} and holes. */
    void sparseFile(BytePath relative, long size, Map<Long, byte[]> extents, int mode)
            throws IOException {
        try (Fd fd = Posix.open(absolute(relative), CREATE, 0600)) {
            fd.ftruncate(size);
            for (Map.Entry<Long, byte[]> extent : extents.entrySet()) {
                fd.pwriteAll(extent.getValue(), extent.getKey());
            }
        }
        finishFile(relative, size, mode);
    }

    private void finishFile(BytePath relative, long size, int mode) throws IOException {
        Posix.chmod(absolute(relative), mode);
        regularFiles++;
        contentBytes += size;
    }

    void symlink(BytePath relative, byte[] target) throws IOException {
        Posix.symlink(target, absolute(relative));
        symlinks++;
    }

    void symlink(BytePath relative, String target) throws IOException {
        symlink(relative, target.getBytes(StandardCharsets.UTF_8));
    }

    /** Adds {@code relative} as another name of {@code existing}, even for a symlink. */
    void hardlink(BytePath existing, BytePath relative) throws IOException {
        Posix.linkat(Fd.CWD, absolute(existing), Fd.CWD, absolute(relative), 0);
        hardlinks++;
    }

    void device(BytePath relative, FileType type, long major, long minor, int mode)
            throws IOException {
        Posix.mknod(absolute(relative), type.mode(0600), Devices.makedev(major, minor));
        Posix.chmod(absolute(relative), mode);
        if (type == FileType.CHAR_DEVICE) {
            charDevices++;
        } else {
            blockDevices++;
        }
    }

    void fifo(BytePath relative, int mode) throws IOException {
        Posix.mknod(absolute(relative), FileType.FIFO.mode(0600), 0);
        Posix.chmod(absolute(relative), mode);
        fifos++;
    }

    void socket(BytePath relative, int mode) throws IOException {
        Posix.mknod(absolute(relative), FileType.SOCKET.mode(0600), 0);
        Posix.chmod(absolute(relative), mode);
        sockets++;
    }

    /**
     * Sets the owner, then restores the permission bits, which the kernel clears of setuid
     * and setgid on a chown.
     */
    void owner(BytePath relative, long uid, long gid) throws IOException {
        BytePath path = absolute(relative);
        Stat before = Posix.lstat(path);
        Posix.lchown(path, uid, gid);
        if (!before.isSymlink()) {
            Posix.chmod(path, before.permissions());
        }
    }

    void mode(BytePath relative, int mode) throws IOException {
        Posix.chmod(absolute(relative), mode);
    }

    /** Sets an extended attribute; call after {@link #owner}, since a chown drops capabilities. */
    void xattr(BytePath relative, byte[] name, byte[] value) throws IOException {
        Xattrs.set(absolute(relative), name, value, Xattrs.XATTR_CREATE);
        xattrs++;
    }

    void xattr(BytePath relative, String name, byte[] value) throws IOException {
        xattr(relative, name.getBytes(StandardCharsets.UTF_8), value);
    }

    /** Records the mtime (and atime) that {@link #applyTimes()} gives {@code relative}. */
    void time(BytePath relative, Timespec mtime) {
        times.put(relative, mtime);
    }

    /**
     * Sets the recorded time on each path, children before their directory, and a time derived
     * from the path's bytes with nanoseconds on every other path.
     */
    void applyTimes() throws IOException {
        applyTimes(TreeSnapshot.ROOT);
    }

    private void applyTimes(BytePath relative) throws IOException {
        BytePath path = absolute(relative);
        if (Posix.lstat(path).isDirectory()) {
            List<byte[]> names = Posix.readdir(path);
            names.sort(Arrays::compareUnsigned);
            for (byte[] name : names) {
                BytePath child = relative.equals(TreeSnapshot.ROOT) ? BytePath.of(name)
                        : relative.resolve(name);
                applyTimes(child);
            }
        }
        Timespec mtime = times.getOrDefault(relative, defaultTime(relative));
        Posix.lutimens(path, mtime, mtime);
    }

    /** Returns a time in 2020-2021 with nanoseconds, fixed for each path. */
    static Timespec defaultTime(BytePath relative) {
        long hash = Arrays.hashCode(relative.bytes()) & 0xffff_ffffL;
        long seconds = 1_580_000_000L + hash % 31_536_000L;
        return new Timespec(seconds, (int) (hash * 7919 % 1_000_000_000));
    }

    TreeDescription describe() {
        return new TreeDescription(directories, regularFiles, symlinks, hardlinks, charDevices,
                blockDevices, fifos, sockets, xattrs, contentBytes);
    }
}
