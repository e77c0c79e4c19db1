package io.nydus.rafs.v6;

import io.nydus.rafs.tree.Node;
import io.nydus.rafs.tree.Xattrs;

/**
 * The inline xattr area after an inode: a 12-byte header, then entries of name index, suffix and
 * value, each padded to 4 bytes.
 */
public final class XattrArea {
    static final int MAX_VALUE = 0xFFFF;
    /** The largest area: the inode stores its 4-byte words after the header, plus one, in 16 bits. */
    public static final int MAX_SIZE = OnDisk.XATTR_HEADER_SIZE + (0xFFFF - 1) * 4;

    private XattrArea() {
    }

    /**
     * Returns the size in bytes that {@code xattrs} take encoded, 0 for none. Names without a
     * prefix that EROFS stores count whole.
     */
    public static long encodedSize(Xattrs xattrs) {
        if (xattrs.isEmpty()) {
            return 0;
        }
        long[] total = {OnDisk.XATTR_HEADER_SIZE};
        xattrs.forEach((name, value) -> {
            XattrPrefix prefix = XattrPrefix.match(name);
            int suffix = name.length - (prefix == null ? 0 : prefix.prefixLength());
            total[0] += OnDisk.alignUp(4 + suffix + value.length, 4);
        });
        return total[0];
    }

    /** Returns the area's size in bytes, 0 when the node has no xattrs. */
    static int size(Node node) {
        if (node.inode().xattrs().isEmpty()) {
            return 0;
        }
        int[] total = {OnDisk.XATTR_HEADER_SIZE};
        node.inode().xattrs().forEach((name, value) -> {
            XattrPrefix prefix = prefixOf(node, name);
            if (value.length > MAX_VALUE) {
                throw new IllegalArgumentException(node.path() + ": xattr '" + Node.display(name)
                        + "' has a " + value.length + "-byte value, EROFS stores at most "
                        + MAX_VALUE);
            }
            int suffix = name.length - prefix.prefixLength();
            total[0] += (int) OnDisk.alignUp(4 + suffix + value.length, 4);
        });
        if (total[0] > MAX_SIZE) {
            throw new IllegalArgumentException(node.path() + ": xattrs take " + total[0]
                    + " bytes encoded, EROFS stores at most " + MAX_SIZE + " per inode");
        }
        return total[0];
    }

    static byte[] encode(Node node, int size) {
        byte[] b = new byte[size];
        int[] pos = {OnDisk.XATTR_HEADER_SIZE};
        node.inode().xattrs().forEach((name, value) -> {
            XattrPrefix prefix = prefixOf(node, name);
            int suffix = name.length - prefix.prefixLength();
            int at = pos[0];
            b[at] = (byte) suffix;
            b[at + 1] = (byte) prefix.index();
            Le.putShort(b, at + 2, value.length);
            System.arraycopy(name, prefix.prefixLength(), b, at + 4, suffix);
            System.arraycopy(value, 0, b, at + 4 + suffix, value.length);
            pos[0] += (int) OnDisk.alignUp(4 + suffix + value.length, 4);
        });
        return b;
    }

    private static XattrPrefix prefixOf(Node node, byte[] name) {
        XattrPrefix prefix = XattrPrefix.match(name);
        if (prefix == null) {
            throw new IllegalArgumentException(node.path() + ": xattr '" + Node.display(name)
                    + "' is in a namespace EROFS cannot store (expected user., trusted.,"
                    + " security., system.posix_acl_access or system.posix_acl_default)");
        }
        return prefix;
    }
}
