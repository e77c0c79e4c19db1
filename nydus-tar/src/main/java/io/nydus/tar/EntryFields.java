package io.nydus.tar;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SequencedMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fields of one entry, each taken from the strongest source: a PAX record over a GNU long
 * name or link header over the ustar header block.
 */
final class EntryFields {

    private static final Logger LOG = LoggerFactory.getLogger(EntryFields.class);

    private final HeaderBlock header;
    private final PaxAttributes pax;
    private final Bytes longLinkName;
    private final EntryContext context;
    private final Bytes name;

    /**
     * Resolves the entry's name, which later errors then show.
     *
     * @throws TarFormatException if the name is missing or contains a NUL byte
     */
    EntryFields(HeaderBlock header, Bytes longName, Bytes longLinkName, PaxAttributes pax,
            EntryContext context) throws TarFormatException {
        this.header = header;
        this.pax = pax;
        this.longLinkName = longLinkName;
        this.context = context;
        this.name = resolveName(longName);
    }

    Bytes name() {
        return name;
    }

    /**
     * Returns the entry type. The old NUL typeflag on a name that ends in '/' is a directory, as
     * Go's archive/tar reads it, so the entry is the one that containerd unpacks. Typeflag '0'
     * stays a regular file whatever its name.
     *
     * @throws TarFormatException for a typeflag other than a file, link, device, directory or FIFO
     */
    EntryType type() throws TarFormatException {
        byte flag = header.typeFlag();
        return switch (flag) {
            case 0 -> name.byteAt(name.length() - 1) == '/'
                    ? EntryType.DIRECTORY : EntryType.FILE;
            case '0', '7', 'S' -> EntryType.FILE;
            case '1' -> EntryType.HARDLINK;
            case '2' -> EntryType.SYMLINK;
            case '3' -> EntryType.CHAR_DEVICE;
            case '4' -> EntryType.BLOCK_DEVICE;
            case '5' -> EntryType.DIRECTORY;
            case '6' -> EntryType.FIFO;
            default -> throw context.error("unsupported entry type " + describeFlag(flag));
        };
    }

    /**
     * Returns the bytes the entry stores after its header: 0 for the typeflags '1' to '6',
     * which carry no data, else the PAX size or the header's size field.
     */
    long storedSize(EntryType type) throws TarFormatException {
        byte flag = header.typeFlag();
        if (flag >= '1' && flag <= '6') {
            return 0;
        }
        long size = pax.size != null
                ? PaxRecords.parseDecimal(pax.size, "size", context)
                : header.numeric(HeaderBlock.Field.SIZE, context);
        if (size < 0) {
            throw context.error("negative size " + size);
        }
        return size;
    }

    /**
     * Returns whether the PAX sparse records are format 1.0 (map in the data) rather than 0.0 or
     * 0.1 (map in the records).
     *
     * @throws TarFormatException for another GNU.sparse.major and minor
     */
    boolean isSparseVersion1() throws TarFormatException {
        if (pax.sparseMajor == null && pax.sparseMinor == null) {
            return false;
        }
        String major = pax.sparseMajor == null ? "(missing)" : pax.sparseMajor.toString();
        String minor = pax.sparseMinor == null ? "(missing)" : pax.sparseMinor.toString();
        return switch (major + "." + minor) {
            case "1.0" -> true;
            case "0.0", "0.1" -> false;
            default -> throw context.error("unsupported GNU sparse format: GNU.sparse.major "
                    + major + ", GNU.sparse.minor " + minor);
        };
    }

    /** Returns the logical size of a PAX sparse file. */
    long sparseRealSize(boolean version1) throws TarFormatException {
        Bytes first = version1 ? pax.sparseRealSize : pax.sparseSize;
        Bytes second = version1 ? pax.sparseSize : pax.sparseRealSize;
        if (first != null) {
            return PaxRecords.parseDecimal(first, version1 ? "GNU.sparse.realsize"
                    : "GNU.sparse.size", context);
        }
        if (second != null) {
            return PaxRecords.parseDecimal(second, version1 ? "GNU.sparse.size"
                    : "GNU.sparse.realsize", context);
        }
        throw context.error("GNU sparse file without GNU.sparse.size or GNU.sparse.realsize");
    }

    /**
     * Builds the entry.
     *
     * @throws TarFormatException if a field is invalid or the fields do not fit together
     */
    TarEntry toEntry(EntryType type, long size, List<SparseSegment> segments, int index)
            throws TarFormatException {
        int mode = (int) (header.numeric(HeaderBlock.Field.MODE, context) & TarEntry.MODE_MASK);
        long uid = id(pax.uid, "uid", HeaderBlock.Field.UID);
        long gid = id(pax.gid, "gid", HeaderBlock.Field.GID);
        long[] mtime = pax.mtime != null
                ? PaxRecords.parseTime(pax.mtime, "mtime", context)
                : new long[] {header.numeric(HeaderBlock.Field.MTIME, context), 0};
        Bytes linkName = type == EntryType.HARDLINK || type == EntryType.SYMLINK
                ? linkName() : Bytes.EMPTY;
        boolean device = type == EntryType.CHAR_DEVICE || type == EntryType.BLOCK_DEVICE;
        long devMajor = device ? device(pax.devMajor, "SCHILY.devmajor",
                HeaderBlock.Field.DEV_MAJOR) : 0;
        long devMinor = device ? device(pax.devMinor, "SCHILY.devminor",
                HeaderBlock.Field.DEV_MINOR) : 0;
        Bytes entryName = type == EntryType.DIRECTORY ? stripTrailingSlashes(name) : name;
        SequencedMap<Bytes, Bytes> xattrs = new LinkedHashMap<>(pax.xattrs);
        checkAclXattrs(xattrs);
        mode = applyAcls(xattrs, mode);
        try {
            return new TarEntry(entryName, type, mode, uid, gid, size, mtime[0], (int) mtime[1],
                    linkName, devMajor, devMinor, xattrs, segments, index,
                    context.headerOffset());
        } catch (IllegalArgumentException e) {
            throw context.error(e.getMessage(), e);
        }
    }

    private Bytes resolveName(Bytes longName) throws TarFormatException {
        Bytes resolved;
        if (pax.sparseName != null && pax.hasSparseRecords()) {
            resolved = pax.sparseName;
        } else if (pax.path != null) {
            resolved = pax.path;
        } else if (longName != null) {
            resolved = longName;
        } else {
            resolved = header.name();
        }
        if (resolved.isEmpty()) {
            throw context.error("entry has an empty name");
        }
        if (resolved.indexOf((byte) 0, 0) >= 0) {
            throw context.error("name " + EntryContext.quote(resolved) + " contains a NUL byte");
        }
        return resolved;
    }

    private Bytes linkName() throws TarFormatException {
        Bytes resolved;
        if (pax.linkPath != null) {
            resolved = pax.linkPath;
        } else if (longLinkName != null) {
            resolved = longLinkName;
        } else {
            resolved = header.linkName();
        }
        if (resolved.isEmpty()) {
            throw context.error("link entry has an empty link name");
        }
        if (resolved.indexOf((byte) 0, 0) >= 0) {
            throw context.error("link name " + EntryContext.quote(resolved)
                    + " contains a NUL byte");
        }
        return resolved;
    }

    private long id(Bytes paxValue, String key, HeaderBlock.Field field)
            throws TarFormatException {
        long value = paxValue != null
                ? PaxRecords.parseDecimal(paxValue, key, context)
                : header.numeric(field, context);
        if (value < 0) {
            throw context.error("negative " + key + " " + value);
        }
        return value;
    }

    private long device(Bytes paxValue, String key, HeaderBlock.Field field)
            throws TarFormatException {
        if (paxValue != null) {
            return PaxRecords.parseDecimal(paxValue, key, context);
        }
        if (!header.hasDeviceFields()) {
            return 0;
        }
        long value = header.numeric(field, context);
        if (value < 0) {
            throw context.error("negative device number " + value + " in field " + field.label);
        }
        return value;
    }

    /** Rejects a raw ACL xattr that Linux would refuse to read or set. */
    private void checkAclXattrs(Map<Bytes, Bytes> xattrs) throws TarFormatException {
        for (Bytes name : List.of(PosixAcls.ACCESS_XATTR, PosixAcls.DEFAULT_XATTR)) {
            Bytes value = xattrs.get(name);
            if (value == null) {
                continue;
            }
            try {
                PosixAcls.checkXattr(value);
            } catch (IllegalArgumentException e) {
                throw context.error("invalid xattr " + name + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Adds the xattr of each ACL text record whose raw xattr is absent (libarchive writes only
     * the text) and returns the mode that setting the access ACL gives the file.
     */
    private int applyAcls(SequencedMap<Bytes, Bytes> xattrs, int mode) throws TarFormatException {
        int result = mode;
        if (pax.aclAccess != null && !xattrs.containsKey(PosixAcls.ACCESS_XATTR)) {
            Optional<PosixAcls.Acl> acl = parseAcl(pax.aclAccess, "SCHILY.acl.access");
            if (acl.isPresent()) {
                result = (mode & ~0777) | acl.get().modeBits();
                if (!acl.get().isMinimal()) {
                    xattrs.put(PosixAcls.ACCESS_XATTR, acl.get().toXattr());
                }
            }
        }
        if (pax.aclDefault != null && !xattrs.containsKey(PosixAcls.DEFAULT_XATTR)) {
            parseAcl(pax.aclDefault, "SCHILY.acl.default")
                    .ifPresent(acl -> xattrs.put(PosixAcls.DEFAULT_XATTR, acl.toXattr()));
        }
        return result;
    }

    private Optional<PosixAcls.Acl> parseAcl(Bytes text, String key) throws TarFormatException {
        try {
            return PosixAcls.parse(text);
        } catch (PosixAcls.UnresolvedNameException e) {
            LOG.warn("tar entry {} {}: {}; the ACL is left out", context.index(),
                    EntryContext.quote(name), e.getMessage());
            return Optional.empty();
        } catch (IllegalArgumentException e) {
            throw context.error("invalid PAX record " + key + ": " + e.getMessage(), e);
        }
    }

    private static Bytes stripTrailingSlashes(Bytes name) {
        int end = name.length();
        while (end > 1 && name.byteAt(end - 1) == '/') {
            end--;
        }
        return name.slice(0, end);
    }

    private static String describeFlag(byte flag) {
        String hex = String.format("0x%02x", flag & 0xff);
        return flag >= 0x20 && flag < 0x7f ? "'" + (char) flag + "' (" + hex + ")" : hex;
    }
}
