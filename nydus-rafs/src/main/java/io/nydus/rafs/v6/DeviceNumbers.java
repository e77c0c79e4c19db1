package io.nydus.rafs.v6;

import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;

/**
 * The 32-bit device number encoding EROFS keeps in `i_u`: Linux's old `new_encode_dev`, which
 * has room for a 12-bit major and a 20-bit minor.
 */
public final class DeviceNumbers {
    public static final long MAX_MAJOR = 0xFFF;
    public static final long MAX_MINOR = 0xF_FFFF;

    private DeviceNumbers() {
    }

    /** Encodes a device's numbers, or returns 0 for a node that is not a device. */
    static long encode(Node node) {
        Inode inode = node.inode();
        if (!inode.type().isDevice()) {
            return 0;
        }
        long major = inode.rdevMajor();
        long minor = inode.rdevMinor();
        if (major > MAX_MAJOR || minor > MAX_MINOR) {
            throw new IllegalArgumentException(node.path() + ": device number " + major + ":"
                    + minor + " does not fit EROFS's 32-bit encoding (major up to " + MAX_MAJOR
                    + ", minor up to " + MAX_MINOR + ")");
        }
        return encode(major, minor);
    }

    public static long encode(long major, long minor) {
        return (minor & 0xFF) | (major & 0xFFF) << 8 | (minor & ~0xFFL) << 12;
    }

    public static long major(long encoded) {
        return (encoded >>> 8) & 0xFFF;
    }

    public static long minor(long encoded) {
        return (encoded & 0xFF) | ((encoded >>> 12) & 0xF_FF00);
    }
}
