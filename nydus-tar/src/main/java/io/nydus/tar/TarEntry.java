package io.nydus.tar;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * One file of a tar archive with every header extension applied: the ustar prefix, GNU long
 * names and links ({@code 'L'}, {@code 'K'}), global and per-entry PAX records, and the GNU
 * sparse formats. Names, link targets and xattrs are raw bytes.
 *
 * @param name the path as stored, without trailing slashes (a lone "/" stays); use {@link
 *     TarPaths#normalize} before placing it in a tree
 * @param type the file type
 * @param mode the permission bits with setuid, setgid and sticky ({@code mode & 07777})
 * @param uid the owner's user id
 * @param gid the owner's group id
 * @param size the logical file size in bytes: for sparse files the size with holes, and 0 for
 *     every type but {@link EntryType#FILE}
 * @param mtimeSeconds the modification time in whole seconds since the epoch, rounded down, so
 *     1.5 s before the epoch is -2 s plus 500,000,000 ns
 * @param mtimeNanos the nanoseconds to add to {@code mtimeSeconds}, 0 to 999,999,999
 * @param linkName the hard link's earlier entry or the symlink's target, not empty for those two
 *     types and empty for the others
 * @param devMajor the device's major number, 0 unless a character or block device
 * @param devMinor the device's minor number, 0 unless a character or block device
 * @param xattrs extended attributes, name to value, in the order of the archive's records
 * @param dataSegments the ranges of the file that hold data, ascending and disjoint: for a file
 *     without holes one segment {@code (0, size)}, and none when the size is 0 or the entry is not
 *     a file
 * @param index the entry's position among the entries the reader returned, starting at 0
 * @param headerOffset the offset of the entry's own header block (after its PAX and long name
 *     headers) in the decompressed tar stream
 */
public record TarEntry(
        Bytes name,
        EntryType type,
        int mode,
        long uid,
        long gid,
        long size,
        long mtimeSeconds,
        int mtimeNanos,
        Bytes linkName,
        long devMajor,
        long devMinor,
        SequencedMap<Bytes, Bytes> xattrs,
        List<SparseSegment> dataSegments,
        int index,
        long headerOffset) {

    /** The mask of permission bits kept in {@link #mode()}. */
    public static final int MODE_MASK = 07777;

    public TarEntry {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(linkName, "linkName");
        Objects.requireNonNull(xattrs, "xattrs");
        Objects.requireNonNull(dataSegments, "dataSegments");
        check(!name.isEmpty() && name.indexOf((byte) 0, 0) < 0,
                "name", name, "must be non-empty without NUL bytes");
        check((mode & ~MODE_MASK) == 0, "mode", Integer.toOctalString(mode), "exceeds 07777");
        check(uid >= 0, "uid", uid, "is negative");
        check(gid >= 0, "gid", gid, "is negative");
        check(size >= 0 && (type == EntryType.FILE || size == 0),
                "size", size, "must be 0 for a " + type + " and not negative");
        check(mtimeNanos >= 0 && mtimeNanos < 1_000_000_000,
                "mtimeNanos", mtimeNanos, "is outside 0 to 999999999");
        boolean link = type == EntryType.HARDLINK || type == EntryType.SYMLINK;
        check(link != linkName.isEmpty() && linkName.indexOf((byte) 0, 0) < 0,
                "linkName", linkName, "must be set, without NUL bytes, exactly for links");
        boolean device = type == EntryType.CHAR_DEVICE || type == EntryType.BLOCK_DEVICE;
        check(devMajor >= 0 && (device || devMajor == 0),
                "devMajor", devMajor, "must be 0 for a " + type + " and not negative");
        check(devMinor >= 0 && (device || devMinor == 0),
                "devMinor", devMinor, "must be 0 for a " + type + " and not negative");
        for (Bytes xattrName : xattrs.keySet()) {
            check(!xattrName.isEmpty(), "xattr name", xattrName, "is empty");
        }
        dataSegments = List.copyOf(dataSegments);
        checkSegments(dataSegments, size);
        check(index >= 0, "index", index, "is negative");
        check(headerOffset >= 0 && headerOffset % 512 == 0,
                "headerOffset", headerOffset, "is not the start of a 512-byte block");
        xattrs = Collections.unmodifiableSequencedMap(new LinkedHashMap<>(xattrs));
    }

    /** Returns whether some bytes of the file are holes, that is not covered by a data segment. */
    public boolean hasHoles() {
        long stored = 0;
        for (SparseSegment segment : dataSegments) {
            stored += segment.length();
        }
        return stored < size;
    }

    /** Returns "entry INDEX 'NAME'", the form error messages use. */
    public String describe() {
        return "tar entry " + index + " '" + name + "'";
    }

    private static void checkSegments(List<SparseSegment> segments, long size) {
        long end = 0;
        for (SparseSegment segment : segments) {
            check(segment.offset() >= end, "dataSegments", segments,
                    "overlap or are not ascending");
            end = segment.end();
        }
        check(end <= size, "dataSegments", segments, "end after the size " + size);
    }

    private static void check(boolean valid, String component, Object value, String problem) {
        if (!valid) {
            throw new IllegalArgumentException(
                    "invalid tar entry: " + component + " " + value + " " + problem);
        }
    }
}
