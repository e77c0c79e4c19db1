package io.nydus.builder;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The mark of a directory that a tar build made because the layer's tarball has entries below
 * it but no entry for the directory itself: the xattr {@code trusted.nydus.implicit}.
 * Unpacking such a layer over lower ones leaves the lower directory's owner, mode, times and
 * xattrs alone, and makes no directory for whiteouts alone. So {@link LayerApplier} keeps the
 * lower directory's inode for a marked one, drops a marked one that contains only whiteouts, and
 * removes every mark: no image built with whiteout spec oci or overlayfs, and no merged image,
 * carries the xattr.
 */
public final class ImplicitDirectory {
    /** The reserved xattr name; tar entries may not carry it. */
    public static final byte[] XATTR = "trusted.nydus.implicit".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] VALUE = {'1'};
    private static final int SETGID = 02000;

    private ImplicitDirectory() {
    }

    /** Marks the directory {@code inode} as made for entries below it, and returns it. */
    static Inode mark(Inode inode) {
        if (inode.type() != FileType.DIRECTORY) {
            throw new IllegalArgumentException("only a directory can be implicit, not a "
                    + inode.type());
        }
        inode.xattrs().put(XATTR, VALUE);
        return inode;
    }

    /** Returns whether {@code inode} is a directory that a layer did not list. */
    public static boolean isMarked(Inode inode) {
        return inode.type() == FileType.DIRECTORY && inode.xattrs().get(XATTR) != null;
    }

    /** Removes the mark, if any. */
    static void clear(Inode inode) {
        if (inode.type() == FileType.DIRECTORY) {
            inode.xattrs().remove(XATTR);
        }
    }

    /**
     * Sets the group and setgid bit of a setgid {@code parent} on {@code directory}, which an
     * unpack would make with mkdir(2) below it. Its owner and other bits stay as they are.
     */
    static void inheritSetgid(Inode parent, Inode directory) {
        if ((parent.permissions() & SETGID) == 0) {
            return;
        }
        directory.owner(directory.uid(), parent.gid());
        directory.permissions(directory.permissions() | SETGID);
    }

    static boolean isReserved(byte[] xattrName) {
        return Arrays.equals(xattrName, XATTR);
    }
}
