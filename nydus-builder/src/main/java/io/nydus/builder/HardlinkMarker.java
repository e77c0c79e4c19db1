package io.nydus.builder;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The stand-in for a hard link whose target lies in a lower layer that a per-layer build cannot
 * see: an empty regular file carrying the xattr {@code trusted.nydus.hardlink}, whose value is
 * the target's absolute path in the image. {@link ImageMerger} replaces each stand-in by the
 * target's inode, so no merged image carries the xattr.
 */
public final class HardlinkMarker {
    /** The reserved xattr name; tar entries may not carry it. */
    public static final byte[] XATTR = "trusted.nydus.hardlink".getBytes(StandardCharsets.US_ASCII);

    private HardlinkMarker() {
    }

    /** Turns the empty regular file {@code inode} into a stand-in for a link to {@code target}. */
    static Inode mark(Inode inode, byte[] target) {
        if (inode.type() != FileType.REGULAR || inode.size() != 0) {
            throw new IllegalArgumentException("a hard link stand-in must be an empty regular"
                    + " file, not a " + inode.type() + " of " + inode.size() + " bytes");
        }
        inode.xattrs().put(XATTR, target);
        return inode;
    }

    /** Returns the absolute target path of a stand-in, or null for any other inode. */
    public static byte[] target(Inode inode) {
        if (inode.type() != FileType.REGULAR) {
            return null;
        }
        return inode.xattrs().get(XATTR);
    }

    static boolean isReserved(byte[] xattrName) {
        return Arrays.equals(xattrName, XATTR);
    }
}
