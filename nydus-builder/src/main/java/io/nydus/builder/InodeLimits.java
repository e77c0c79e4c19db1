package io.nydus.builder;

import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.DeviceNumbers;
import io.nydus.rafs.v6.XattrArea;
import io.nydus.rafs.v6.XattrPrefix;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks an inode against what a RAFS v6 bootstrap can store, so that sources reject an entry
 * when they read it, naming the entry, instead of the bootstrap writer failing at the end.
 */
final class InodeLimits {
    /** Linux's XATTR_LIST_MAX: listxattr fails with E2BIG on a longer list of names. */
    static final int XATTR_LIST_MAX = 65536;

    private InodeLimits() {
    }

    /** Returns why the inode cannot be stored, or null when it can. */
    static String problem(Inode inode) {
        if (inode.type().isDevice() && (inode.rdevMajor() > DeviceNumbers.MAX_MAJOR
                || inode.rdevMinor() > DeviceNumbers.MAX_MINOR)) {
            return "has device number " + inode.rdevMajor() + ":" + inode.rdevMinor()
                    + ", beyond the " + DeviceNumbers.MAX_MAJOR + ":" + DeviceNumbers.MAX_MINOR
                    + " that EROFS's 32-bit encoding holds";
        }
        List<byte[]> unsupported = new ArrayList<>();
        inode.xattrs().forEach((name, value) -> {
            if (XattrPrefix.match(name) == null) {
                unsupported.add(name);
            }
        });
        if (!unsupported.isEmpty()) {
            return "has xattr '" + Node.display(unsupported.getFirst()) + "' in a namespace"
                    + " EROFS cannot store (expected user., trusted., security.,"
                    + " system.posix_acl_access or system.posix_acl_default)";
        }
        long xattrBytes = XattrArea.encodedSize(inode.xattrs());
        if (xattrBytes > XattrArea.MAX_SIZE) {
            return "has " + inode.xattrs().size() + " xattrs that take " + xattrBytes
                    + " bytes encoded, beyond the " + XattrArea.MAX_SIZE + " bytes that EROFS"
                    + " stores per inode";
        }
        long nameList = nameListSize(inode);
        if (nameList > XATTR_LIST_MAX) {
            return "has " + inode.xattrs().size() + " xattrs whose names take " + nameList
                    + " bytes as a list, beyond the " + XATTR_LIST_MAX + " bytes that Linux's"
                    + " listxattr returns";
        }
        return null;
    }

    /** Returns the size of the NUL-terminated list of names that listxattr returns. */
    private static long nameListSize(Inode inode) {
        long[] size = {0};
        inode.xattrs().forEach((name, value) -> size[0] += name.length + 1);
        return size[0];
    }
}
