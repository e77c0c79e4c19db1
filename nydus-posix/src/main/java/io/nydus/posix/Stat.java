package io.nydus.posix;

/**
 * File status as returned by {@link Posix#lstat} and {@link Fd#stat()}.
 *
 * @param dev the device of the file system holding the file
 * @param ino the inode number
 * @param mode file type and permission bits
 * @param nlink the number of hard links
 * @param uid owner user id, 0 to 2^32 - 1
 * @param gid owner group id, 0 to 2^32 - 1
 * @param rdev the device number of a character or block device, else 0
 * @param size the size in bytes: file length, symlink target length, directory size
 * @param blockSize the preferred I/O block size
 * @param blocks allocated space in 512-byte units
 * @param atime last access time
 * @param mtime last modification time
 * @param ctime last status change time
 */
public record Stat(long dev, long ino, int mode, long nlink, long uid, long gid, long rdev,
        long size, long blockSize, long blocks, Timespec atime, Timespec mtime, Timespec ctime) {

    /** Returns the file type in the mode. */
    public FileType type() {
        return FileType.of(mode);
    }

    /** Returns the permission bits of the mode, including setuid, setgid and sticky. */
    public int permissions() {
        return mode & 07777;
    }

    /** Returns whether the file is a directory. */
    public boolean isDirectory() {
        return (mode & FileType.S_IFMT) == FileType.DIRECTORY.bits();
    }

    /** Returns whether the file is a regular file. */
    public boolean isRegularFile() {
        return (mode & FileType.S_IFMT) == FileType.REGULAR.bits();
    }

    /** Returns whether the file is a symbolic link. */
    public boolean isSymlink() {
        return (mode & FileType.S_IFMT) == FileType.SYMLINK.bits();
    }

    /** Returns the major number of {@link #rdev()}. */
    public long rdevMajor() {
        return Devices.major(rdev);
    }

    /** Returns the minor number of {@link #rdev()}. */
    public long rdevMinor() {
        return Devices.minor(rdev);
    }
}
