package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Node;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Decodes a directory's data blocks. Each block holds 12-byte dirents, then their names without
 * terminators; the first dirent's name offset gives the entry count. A name ends at the next
 * entry's name offset, and the block's last name at the block's end (or `i_size` in the last
 * block) or at its first NUL byte.
 */
final class DirentDecoder {
    private static final int MAX_FILE_TYPE = 7;
    private static final byte[] DOT = {'.'};
    private static final byte[] DOT_DOT = {'.', '.'};

    /** One directory entry other than `.` and `..`. */
    record Dirent(byte[] name, long nid, int fileType, long offset) {
    }

    private final MetaBuffer b;
    private final SuperBlockInfo sb;
    private final InodeDecoder inodes;

    DirentDecoder(MetaBuffer b, SuperBlockInfo sb, InodeDecoder inodes) {
        this.b = b;
        this.sb = sb;
        this.inodes = inodes;
    }

    /**
     * Returns the entries of directory {@code dir} other than `.` and `..`, in name order, after
     * checking that `.` names the directory itself and `..` names {@code parentNid}.
     */
    List<Dirent> decode(OnDiskInode dir, long parentNid) throws RafsFormatException {
        Where where = new Where("directory data of inode nid ", dir.nid());
        if (dir.layout() == OnDisk.LAYOUT_CHUNK_BASED) {
            throw b.error(where, dir.offset(), "a directory cannot be chunk-based");
        }
        if (dir.size() > b.size()) {
            throw b.error(where, dir.offset() + 8, "i_size " + dir.size()
                    + " is larger than the " + b.size() + "-byte bootstrap");
        }
        b.charge(where, dir.offset(), dir.size());
        List<Dirent> entries = new ArrayList<>();
        byte[] previous = null;
        long blockSize = sb.blockSize();
        for (long pos = 0; pos < dir.size(); pos += blockSize) {
            int length = (int) Math.min(blockSize, dir.size() - pos);
            long at = inodes.blockOffset(dir, pos / blockSize, length);
            for (Dirent d : decodeBlock(where, at, length)) {
                if (previous != null && Arrays.compareUnsigned(previous, d.name) >= 0) {
                    throw b.error(where, d.offset, "name '" + Node.display(d.name)
                            + "' is not after '" + Node.display(previous)
                            + "' in byte order (duplicate or unsorted entries)");
                }
                previous = d.name;
                if (!isDotEntry(dir, parentNid, d)) {
                    entries.add(d);
                }
            }
        }
        return entries;
    }

    private boolean isDotEntry(OnDiskInode dir, long parentNid, Dirent d)
            throws RafsFormatException {
        boolean dot = Arrays.equals(d.name, DOT);
        boolean dotDot = Arrays.equals(d.name, DOT_DOT);
        long expected = dot ? dir.nid() : parentNid;
        if ((dot || dotDot) && d.nid != expected) {
            throw b.error("directory data of " + InodeDecoder.describe(dir.nid()), d.offset,
                    "entry '" + Node.display(d.name) + "' points to nid "
                            + Long.toUnsignedString(d.nid) + ", expected " + expected);
        }
        return dot || dotDot;
    }

    private List<Dirent> decodeBlock(Where where, long at, int length)
            throws RafsFormatException {
        if (length < OnDisk.DIRENT_SIZE) {
            throw b.error(where, at, "a directory block of " + length
                    + " bytes cannot hold a 12-byte dirent");
        }
        int firstNameOffset = b.u16(where, at + 8);
        if (firstNameOffset == 0 || firstNameOffset % OnDisk.DIRENT_SIZE != 0
                || firstNameOffset >= length) {
            throw b.error(where, at + 8, "first e_nameoff " + firstNameOffset + " is invalid:"
                    + " expected a multiple of 12 below the block's " + length + " bytes");
        }
        int count = firstNameOffset / OnDisk.DIRENT_SIZE;
        List<Dirent> dirents = new ArrayList<>(count);
        int nameOffset = firstNameOffset;
        for (int i = 0; i < count; i++) {
            long entryAt = at + (long) OnDisk.DIRENT_SIZE * i;
            int nextNameOffset = i + 1 < count ? b.u16(where, entryAt + 20) : length;
            dirents.add(decodeEntry(where, at, entryAt, nameOffset, nextNameOffset, length,
                    i + 1 == count));
            nameOffset = nextNameOffset;
        }
        return dirents;
    }

    private Dirent decodeEntry(Where where, long blockAt, long entryAt, int nameOffset,
            int nameEnd, int blockLength, boolean last) throws RafsFormatException {
        if (nameEnd <= nameOffset || nameEnd > blockLength) {
            throw b.error(where, entryAt + 8, "e_nameoff " + nameOffset + " and the next name"
                    + " offset " + nameEnd + " leave no valid name in a " + blockLength
                    + "-byte block");
        }
        byte[] name = b.bytes(where, blockAt + nameOffset, nameEnd - nameOffset);
        if (last) {
            name = trimAtNul(name);
        }
        checkName(where, entryAt, name);
        int fileType = b.u8(where, entryAt + 10);
        if (fileType > MAX_FILE_TYPE) {
            throw b.error(where, entryAt + 10, "e_file_type " + fileType + " is unknown");
        }
        return new Dirent(name, b.u64(where, entryAt), fileType, entryAt);
    }

    private static byte[] trimAtNul(byte[] name) {
        for (int i = 0; i < name.length; i++) {
            if (name[i] == 0) {
                return Arrays.copyOf(name, i);
            }
        }
        return name;
    }

    private void checkName(Where where, long entryAt, byte[] name) throws RafsFormatException {
        if (name.length == 0 || name.length > Node.MAX_NAME) {
            throw b.error(where, entryAt, "name of " + name.length + " bytes, expected 1.."
                    + Node.MAX_NAME);
        }
        for (byte c : name) {
            if (c == '/' || c == 0) {
                throw b.error(where, entryAt, "name '" + Node.display(name)
                        + "' contains a '/' or NUL byte");
            }
        }
    }
}
