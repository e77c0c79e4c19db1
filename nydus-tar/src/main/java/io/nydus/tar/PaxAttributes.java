package io.nydus.tar;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;

/**
 * The PAX records in force for one entry: the global records, then the entry's own records,
 * applied in order so that later records override earlier ones. Values stay unparsed until the
 * entry is assembled, so an invalid value that a later record overrides does no harm.
 */
final class PaxAttributes {

    private static final Bytes SCHILY_XATTR = Bytes.ofUtf8("SCHILY.xattr.");
    private static final Bytes LIBARCHIVE_XATTR = Bytes.ofUtf8("LIBARCHIVE.xattr.");

    Bytes path;
    Bytes linkPath;
    Bytes size;
    Bytes uid;
    Bytes gid;
    Bytes mtime;
    Bytes devMajor;
    Bytes devMinor;
    Bytes aclAccess;
    Bytes aclDefault;

    Bytes sparseMajor;
    Bytes sparseMinor;
    Bytes sparseName;
    Bytes sparseSize;
    Bytes sparseRealSize;
    Bytes sparseNumBlocks;
    Bytes sparseMap;
    /** The GNU.sparse.offset and GNU.sparse.numbytes values of format 0.0, in record order. */
    final List<Bytes> sparseOffsets = new ArrayList<>();
    final List<Bytes> sparseNumBytes = new ArrayList<>();

    final SequencedMap<Bytes, Bytes> xattrs = new LinkedHashMap<>();

    /**
     * Applies one record. Other keys (atime, ctime, uname, gname, charset, comment and vendor
     * records without meaning for an image) are ignored, so archives that carry them still read.
     *
     * @throws TarFormatException if an xattr record is malformed
     */
    void apply(PaxRecords.Record record, EntryContext context) throws TarFormatException {
        Bytes key = record.key();
        Bytes value = record.value();
        if (key.startsWith(SCHILY_XATTR)) {
            Bytes name = percentDecode(key.slice(SCHILY_XATTR.length(), key.length()));
            putXattr(name, value, key, context);
            return;
        }
        if (key.startsWith(LIBARCHIVE_XATTR)) {
            Bytes name = percentDecode(key.slice(LIBARCHIVE_XATTR.length(), key.length()));
            putXattr(name, decodeBase64(value, key, context), key, context);
            return;
        }
        Bytes set = value.isEmpty() ? null : value;
        switch (new String(key.array(), StandardCharsets.ISO_8859_1)) {
            case "path" -> path = set;
            case "linkpath" -> linkPath = set;
            case "size" -> size = set;
            case "uid" -> uid = set;
            case "gid" -> gid = set;
            case "mtime" -> mtime = set;
            case "SCHILY.devmajor" -> devMajor = set;
            case "SCHILY.devminor" -> devMinor = set;
            case "SCHILY.acl.access" -> aclAccess = set;
            case "SCHILY.acl.default" -> aclDefault = set;
            case "GNU.sparse.major" -> sparseMajor = set;
            case "GNU.sparse.minor" -> sparseMinor = set;
            case "GNU.sparse.name" -> sparseName = set;
            case "GNU.sparse.size" -> sparseSize = set;
            case "GNU.sparse.realsize" -> sparseRealSize = set;
            case "GNU.sparse.numblocks" -> sparseNumBlocks = set;
            case "GNU.sparse.map" -> sparseMap = set;
            case "GNU.sparse.offset" -> sparseOffsets.add(value);
            case "GNU.sparse.numbytes" -> sparseNumBytes.add(value);
            default -> {
                // Ignored, see the method comment.
            }
        }
    }

    /** Returns whether any GNU sparse record is present. */
    boolean hasSparseRecords() {
        return sparseMajor != null || sparseMinor != null || sparseSize != null
                || sparseRealSize != null || sparseNumBlocks != null || sparseMap != null
                || !sparseOffsets.isEmpty() || !sparseNumBytes.isEmpty();
    }

    private void putXattr(Bytes name, Bytes value, Bytes key, EntryContext context)
            throws TarFormatException {
        if (name.isEmpty() || name.indexOf((byte) 0, 0) >= 0) {
            throw context.error("invalid PAX record " + EntryContext.quote(key)
                    + ": xattr name is empty or contains a NUL byte");
        }
        // A second record for the same name (libarchive writes a LIBARCHIVE.xattr and a
        // SCHILY.xattr record for each) replaces the value and keeps the first position.
        xattrs.put(name, value);
    }

    /**
     * Decodes %XX escapes in an xattr name. GNU tar 1.34 escapes '%' and '=' in SCHILY.xattr
     * names, and libarchive 3.6 escapes every byte outside printable ASCII in both of its record
     * kinds, so decoding every escape reads both right. A '%' not followed by two hex digits stays.
     */
    // NOTE: a writer that stores names raw (Go's archive/tar) and uses "%XX" in a name is misread.
    static Bytes percentDecode(Bytes encoded) {
        byte[] in = encoded.array();
        if (encoded.indexOf((byte) '%', 0) < 0) {
            return encoded;
        }
        byte[] out = new byte[in.length];
        int length = 0;
        for (int i = 0; i < in.length; i++) {
            int high = i + 2 < in.length ? Character.digit(in[i + 1], 16) : -1;
            int low = i + 2 < in.length ? Character.digit(in[i + 2], 16) : -1;
            if (in[i] == '%' && high >= 0 && low >= 0) {
                out[length++] = (byte) (high << 4 | low);
                i += 2;
            } else {
                out[length++] = in[i];
            }
        }
        return Bytes.of(out, 0, length);
    }

    private static Bytes decodeBase64(Bytes value, Bytes key, EntryContext context)
            throws TarFormatException {
        try {
            return Bytes.wrap(Base64.getDecoder().decode(value.array()));
        } catch (IllegalArgumentException e) {
            throw context.error("invalid PAX record " + EntryContext.quote(key)
                    + ": value is not base64: " + EntryContext.quote(value), e);
        }
    }
}
