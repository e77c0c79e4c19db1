package io.nydus.builder;

import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.DeviceNumbers;
import io.nydus.rafs.v6.XattrArea;
import io.nydus.rafs.v6.XattrPrefix;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
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

    /**
     * Rejects a tree deeper than {@link Node#MAX_DEPTH}. Each source checks its own entries,
     * but applying a layer below a lower layer's symlink puts its entries at the symlink's
     * target, which may lie deeper, so a combined tree is checked again before it is written.
     *
     * @param treeName names the tree in the message, such as the bootstrap being written
     */
    static void checkTreeDepth(Node root, String treeName) throws IOException {
        Deque<Node> pending = new ArrayDeque<>(List.of(root));
        Deque<Integer> depths = new ArrayDeque<>(List.of(0));
        while (!pending.isEmpty()) {
            Node node = pending.pop();
            int depth = depths.pop();
            String problem = Node.depthProblem(depth);
            if (problem != null) {
                throw new IOException(treeName + ": entry '" + node.path() + "' " + problem
                        + " once the layers are applied");
            }
            for (Node child : node.isDirectory() ? node.children() : List.<Node>of()) {
                pending.push(child);
                depths.push(depth + 1);
            }
        }
    }

    /** Returns the size of the NUL-terminated list of names that listxattr returns. */
    private static long nameListSize(Inode inode) {
        long[] size = {0};
        inode.xattrs().forEach((name, value) -> size[0] += name.length + 1);
        return size[0];
    }
}
