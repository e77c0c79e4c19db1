package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.tree.Xattrs;

/**
 * Decodes an inode's inline xattr area: a 12-byte header, then entries of name length, name
 * index, value size, name suffix and value, each padded to 4 bytes.
 */
final class XattrDecoder {
    private static final int ENTRY_HEADER_SIZE = 4;
    private static final int SHARED_COUNT_OFFSET = 4;

    private XattrDecoder() {
    }

    static Xattrs decode(MetaBuffer b, OnDiskInode inode) throws RafsFormatException {
        Xattrs xattrs = new Xattrs();
        if (inode.xattrCount() == 0) {
            return xattrs;
        }
        Where where = new Where("xattr area of inode nid ", inode.nid());
        long start = inode.offset() + inode.inodeSize();
        long end = inode.tailOffset();
        int shared = b.u8(where, start + SHARED_COUNT_OFFSET);
        if (shared != 0) {
            throw b.error(where, start + SHARED_COUNT_OFFSET, "h_shared_count " + shared
                    + ": shared xattrs are not supported, only inline ones");
        }
        long at = start + OnDisk.XATTR_HEADER_SIZE;
        while (at < end) {
            at = decodeEntry(b, where, at, end, xattrs);
        }
        return xattrs;
    }

    /** Decodes the entry at {@code at} into {@code xattrs} and returns the next entry's offset. */
    private static long decodeEntry(MetaBuffer b, Where where, long at, long end, Xattrs xattrs)
            throws RafsFormatException {
        if (end - at < ENTRY_HEADER_SIZE) {
            throw b.error(where, at, (end - at) + " bytes remain, too few for an entry header");
        }
        int suffixLength = b.u8(where, at);
        int index = b.u8(where, at + 1);
        int valueSize = b.u16(where, at + 2);
        long entrySize = OnDisk.alignUp(ENTRY_HEADER_SIZE + suffixLength + valueSize, 4);
        if (entrySize > end - at) {
            throw b.error(where, at, "entry with a " + suffixLength + "-byte name and a "
                    + valueSize + "-byte value extends past the area's end at " + end);
        }
        XattrPrefix prefix = XattrPrefix.byIndex(index);
        if (prefix == null) {
            throw b.error(where, at + 1, "name index " + index + " is not supported, expected"
                    + " 1 (user.), 2 (system.posix_acl_access), 3 (system.posix_acl_default),"
                    + " 4 (trusted.) or 6 (security.)");
        }
        byte[] suffix = b.bytes(where, at + ENTRY_HEADER_SIZE, suffixLength);
        byte[] name = concat(prefix.prefix(), suffix);
        checkName(b, where, at, name);
        if (xattrs.get(name) != null) {
            throw b.error(where, at, "xattr '" + Node.display(name)
                    + "' appears twice");
        }
        xattrs.put(name, b.bytes(where, at + ENTRY_HEADER_SIZE + suffixLength, valueSize));
        return at + entrySize;
    }

    private static void checkName(MetaBuffer b, Where where, long at, byte[] name)
            throws RafsFormatException {
        if (name.length > Xattrs.MAX_NAME) {
            throw b.error(where, at, "xattr name of " + name.length + " bytes is longer than "
                    + Xattrs.MAX_NAME);
        }
        for (byte c : name) {
            if (c == 0) {
                throw b.error(where, at, "xattr name '" + Node.display(name)
                        + "' contains a NUL byte");
            }
        }
    }

    private static byte[] concat(byte[] a, byte[] c) {
        byte[] out = new byte[a.length + c.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(c, 0, out, a.length, c.length);
        return out;
    }
}
