package io.nydus.fuse;

/**
 * Numbers of the kernel's FUSE protocol as {@code linux/fuse.h} defines them: opcodes, init
 * flags, open flags and the sizes of the structs this server reads and writes.
 *
 * <p>All structs use the host's byte order. Offsets are those of protocol 7.38, the newest
 * version this server speaks.
 */
final class Protocol {

    static final int KERNEL_MAJOR = 7;
    /** The newest minor version whose structs and opcodes this server implements. */
    static final int MAX_MINOR = 38;
    /** The oldest minor version accepted: 7.28 added {@code max_pages} to init. */
    static final int MIN_MINOR = 28;

    static final int IN_HEADER_SIZE = 40;
    static final int OUT_HEADER_SIZE = 16;
    static final int ATTR_SIZE = 88;
    static final int ENTRY_OUT_SIZE = 40 + ATTR_SIZE;
    static final int ATTR_OUT_SIZE = 16 + ATTR_SIZE;
    static final int OPEN_OUT_SIZE = 16;
    static final int INIT_OUT_SIZE = 64;
    static final int STATFS_OUT_SIZE = 80;
    static final int GETXATTR_OUT_SIZE = 8;
    static final int DIRENT_NAME_OFFSET = 24;
    static final int FORGET_ONE_SIZE = 16;
    // Notification codes, sent in the error field of a header whose unique is 0.
    /** Drops the attributes and cached data of one inode. */
    static final int NOTIFY_INVAL_INODE = 2;
    /** Drops the dentry of one name in a directory. */
    static final int NOTIFY_INVAL_ENTRY = 3;
    /** Makes the kernel queue its unanswered requests again. */
    static final int NOTIFY_RESEND = 7;
    /** {@code fuse_notify_inval_inode_out}: node id, offset and length, 8 bytes each. */
    static final int NOTIFY_INVAL_INODE_SIZE = 24;
    /** {@code fuse_notify_inval_entry_out}: parent node id, name length and flags. */
    static final int NOTIFY_INVAL_ENTRY_SIZE = 16;

    static final int PAGE_SIZE = 4096;
    /** Pages per request: 256 pages let a 1 MiB read arrive as one request. */
    static final int MAX_PAGES = 256;
    static final int MAX_READ = MAX_PAGES * PAGE_SIZE;
    /** The largest write request; writes are rejected, so this only sizes request buffers. */
    static final int MAX_WRITE = 128 * 1024;
    /** Request buffer: the largest write plus room for its headers, as the kernel checks. */
    static final int REQUEST_BUFFER_SIZE = MAX_WRITE + PAGE_SIZE;
    static final int MAX_READAHEAD = 1 << 20;
    static final int MAX_BACKGROUND = 64;
    static final int CONGESTION_THRESHOLD = 48;
    /** The maximum length of a directory entry's name, as {@link DirEntry} enforces. */
    static final int NAME_MAX = 255;
    /** The maximum length of a symlink target in a reply: PATH_MAX less its NUL. */
    static final int MAX_LINK_TARGET = 4095;

    // Opcodes.
    static final int LOOKUP = 1;
    static final int FORGET = 2;
    static final int GETATTR = 3;
    static final int SETATTR = 4;
    static final int READLINK = 5;
    static final int SYMLINK = 6;
    static final int MKNOD = 8;
    static final int MKDIR = 9;
    static final int UNLINK = 10;
    static final int RMDIR = 11;
    static final int RENAME = 12;
    static final int LINK = 13;
    static final int OPEN = 14;
    static final int READ = 15;
    static final int WRITE = 16;
    static final int STATFS = 17;
    static final int RELEASE = 18;
    static final int FSYNC = 20;
    static final int SETXATTR = 21;
    static final int GETXATTR = 22;
    static final int LISTXATTR = 23;
    static final int REMOVEXATTR = 24;
    static final int FLUSH = 25;
    static final int INIT = 26;
    static final int OPENDIR = 27;
    static final int READDIR = 28;
    static final int RELEASEDIR = 29;
    static final int FSYNCDIR = 30;
    static final int ACCESS = 34;
    static final int CREATE = 35;
    static final int INTERRUPT = 36;
    static final int DESTROY = 38;
    static final int BATCH_FORGET = 42;
    static final int FALLOCATE = 43;
    static final int READDIRPLUS = 44;
    static final int RENAME2 = 45;
    static final int COPY_FILE_RANGE = 47;
    static final int SYNCFS = 50;
    static final int TMPFILE = 51;
    /** Added in 7.45, after the header on this machine: copy_file_range with a 64-bit result. */
    static final int COPY_FILE_RANGE_64 = 53;

    // Init flags (fuse_init_in.flags and fuse_init_out.flags).
    static final int ASYNC_READ = 1;
    static final int ASYNC_DIO = 1 << 15;
    static final int DO_READDIRPLUS = 1 << 13;
    static final int READDIRPLUS_AUTO = 1 << 14;
    static final int PARALLEL_DIROPS = 1 << 18;
    /**
     * The kernel checks access against the POSIX ACLs that getxattr returns, as it does for
     * a local file system. Without it, {@code default_permissions} checks the mode bits alone.
     */
    static final int POSIX_ACL = 1 << 20;
    static final int FLAG_MAX_PAGES = 1 << 22;
    static final int CACHE_SYMLINKS = 1 << 23;

    /** The init flags this server requests, each only if the kernel offers it. */
    static final int WANTED_FLAGS = ASYNC_READ | ASYNC_DIO | DO_READDIRPLUS | READDIRPLUS_AUTO
            | PARALLEL_DIROPS | POSIX_ACL | FLAG_MAX_PAGES | CACHE_SYMLINKS;

    // Open reply flags (fuse_open_out.open_flags).
    static final int FOPEN_KEEP_CACHE = 1 << 1;
    static final int FOPEN_CACHE_DIR = 1 << 3;
    static final int FOPEN_NOFLUSH = 1 << 5;

    /** Not in {@code io.nydus.posix.Errno}: the init reply's error for a protocol mismatch. */
    static final int EPROTO = 71;
    /** Not in {@code io.nydus.posix.Errno}: a read after an abort through the fusectl file. */
    static final int ECONNABORTED = 103;

    private static final String[] OPCODE_NAMES = {
        "", "LOOKUP", "FORGET", "GETATTR", "SETATTR", "READLINK", "SYMLINK", "", "MKNOD",
        "MKDIR", "UNLINK", "RMDIR", "RENAME", "LINK", "OPEN", "READ", "WRITE", "STATFS",
        "RELEASE", "", "FSYNC", "SETXATTR", "GETXATTR", "LISTXATTR", "REMOVEXATTR", "FLUSH",
        "INIT", "OPENDIR", "READDIR", "RELEASEDIR", "FSYNCDIR", "GETLK", "SETLK", "SETLKW",
        "ACCESS", "CREATE", "INTERRUPT", "BMAP", "DESTROY", "IOCTL", "POLL", "NOTIFY_REPLY",
        "BATCH_FORGET", "FALLOCATE", "READDIRPLUS", "RENAME2", "LSEEK", "COPY_FILE_RANGE",
        "SETUPMAPPING", "REMOVEMAPPING", "SYNCFS", "TMPFILE", "STATX", "COPY_FILE_RANGE_64",
    };

    private Protocol() {
    }

    /** Returns the opcode's name without the {@code FUSE_} prefix, or its number. */
    static String opcodeName(int opcode) {
        if (opcode >= 0 && opcode < OPCODE_NAMES.length && !OPCODE_NAMES[opcode].isEmpty()) {
            return OPCODE_NAMES[opcode];
        }
        return "opcode " + opcode;
    }

    /** Returns whether {@code opcode} requests a change to the file system. */
    static boolean isWrite(int opcode) {
        return switch (opcode) {
            case SETATTR, SYMLINK, MKNOD, MKDIR, UNLINK, RMDIR, RENAME, LINK, WRITE, SETXATTR,
                    REMOVEXATTR, CREATE, FALLOCATE, RENAME2, COPY_FILE_RANGE, TMPFILE,
                    COPY_FILE_RANGE_64 -> true;
            default -> false;
        };
    }
}
