package io.nydus.tar;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Conversion of the POSIX.1e ACL text of PAX records {@code SCHILY.acl.access} and {@code
 * SCHILY.acl.default} into the binary value of the Linux xattrs {@code system.posix_acl_access}
 * and {@code system.posix_acl_default}, the form the kernel stores.
 *
 * <p>GNU tar 1.34 writes entries such as {@code user:daemon:rw-} separated by newlines and
 * libarchive 3.6 writes {@code user:daemon:rw-:1} separated by commas, with the numeric id as a
 * fourth field. The binary form is a little-endian u32 version 2, then per entry a u16 tag, a u16
 * permission set and a u32 id, sorted by tag and id as the kernel requires.
 */
final class PosixAcls {

    static final Bytes ACCESS_XATTR = Bytes.ofUtf8("system.posix_acl_access");
    static final Bytes DEFAULT_XATTR = Bytes.ofUtf8("system.posix_acl_default");

    private static final int VERSION = 2;
    private static final int TAG_USER_OBJ = 0x01;
    private static final int TAG_USER = 0x02;
    private static final int TAG_GROUP_OBJ = 0x04;
    private static final int TAG_GROUP = 0x08;
    private static final int TAG_MASK = 0x10;
    private static final int TAG_OTHER = 0x20;
    private static final long UNDEFINED_ID = 0xffff_ffffL;

    private record AclEntry(int tag, int permissions, long id) {}

    /** An ACL text that names a user or group without a numeric id, which no image can map. */
    static final class UnresolvedNameException extends Exception {
        private static final long serialVersionUID = 1L;

        UnresolvedNameException(String message) {
            super(message);
        }
    }

    private PosixAcls() {}

    /** A parsed ACL, its entries sorted by tag and id as the kernel requires. */
    static final class Acl {
        private final List<AclEntry> entries;

        private Acl(List<AclEntry> entries) {
            this.entries = entries;
        }

        /**
         * Returns whether the ACL has only the owner, group and other entries, which the mode
         * bits already express, so that a file system stores no access ACL xattr for it.
         */
        boolean isMinimal() {
            return entries.stream().allMatch(e -> e.tag() == TAG_USER_OBJ
                    || e.tag() == TAG_GROUP_OBJ || e.tag() == TAG_OTHER);
        }

        /**
         * Returns the rwx bits that setting this access ACL gives the file's mode, as Linux
         * does: owner from user::, group from mask:: if present or else group::, other from
         * other::. libarchive stores group:: in the header's group bits, so the mode of an
         * extracted file differs from the header when the ACL has a mask.
         */
        int modeBits() {
            int owner = 0;
            int group = 0;
            int mask = -1;
            int other = 0;
            for (AclEntry entry : entries) {
                switch (entry.tag()) {
                    case TAG_USER_OBJ -> owner = entry.permissions();
                    case TAG_GROUP_OBJ -> group = entry.permissions();
                    case TAG_MASK -> mask = entry.permissions();
                    case TAG_OTHER -> other = entry.permissions();
                    default -> {
                        // Named entries do not show in the mode.
                    }
                }
            }
            return owner << 6 | (mask >= 0 ? mask : group) << 3 | other;
        }

        /** Returns the value of the system.posix_acl_access or _default xattr. */
        Bytes toXattr() {
            ByteBuffer value = ByteBuffer.allocate(4 + 8 * entries.size())
                    .order(ByteOrder.LITTLE_ENDIAN);
            value.putInt(VERSION);
            for (AclEntry entry : entries) {
                value.putShort((short) entry.tag());
                value.putShort((short) entry.permissions());
                value.putInt((int) entry.id());
            }
            return Bytes.wrap(value.array());
        }
    }

    /**
     * Parses an ACL text: entries separated by commas or newlines, "#" comments ignored.
     *
     * @return the ACL, or empty if the text has no entries
     * @throws UnresolvedNameException if an entry names a user or group by name only
     * @throws IllegalArgumentException if the text is not a valid ACL, with the reason
     */
    static Optional<Acl> parse(Bytes text) throws UnresolvedNameException {
        List<AclEntry> entries = new ArrayList<>();
        String acl = new String(text.array(), StandardCharsets.ISO_8859_1);
        for (String item : acl.split("[,\n]")) {
            int comment = item.indexOf('#');
            String entry = (comment >= 0 ? item.substring(0, comment) : item).strip();
            if (!entry.isEmpty()) {
                entries.add(parseEntry(entry));
            }
        }
        if (entries.isEmpty()) {
            return Optional.empty();
        }
        entries.sort(Comparator.comparingInt(AclEntry::tag).thenComparingLong(AclEntry::id));
        validate(entries);
        return Optional.of(new Acl(List.copyOf(entries)));
    }

    /**
     * Checks a raw system.posix_acl_access or system.posix_acl_default value as Linux checks a
     * value that it sets. The value is version 2 and whole 8-byte entries with known tags and
     * rwx permissions, which is all that Linux checks when it reads one. The entries come in
     * the order user::, named users, group::, named groups, mask::, other::, and named entries
     * need a mask. A value without entries means no ACL.
     *
     * @throws IllegalArgumentException if the value is invalid, with the reason
     */
    static void checkXattr(Bytes value) {
        int length = value.length();
        if (length < 4 || (length - 4) % 8 != 0) {
            throw new IllegalArgumentException("the value has " + length
                    + " bytes, expected a 4-byte header and 8-byte entries");
        }
        ByteBuffer buffer = ByteBuffer.wrap(value.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        int version = buffer.getInt();
        if (version != VERSION) {
            throw new IllegalArgumentException("version " + version + ", expected " + VERSION);
        }
        AclOrder order = new AclOrder();
        for (int index = 0; buffer.hasRemaining(); index++) {
            int tag = Short.toUnsignedInt(buffer.getShort());
            int permissions = Short.toUnsignedInt(buffer.getShort());
            buffer.getInt();
            if ((permissions & ~7) != 0) {
                throw new IllegalArgumentException("entry " + index + " has permissions 0x"
                        + Integer.toHexString(permissions) + ", expected rwx bits only");
            }
            order.add(index, tag);
        }
        order.finish(length > 4);
    }

    /**
     * The order that Linux requires of ACL entries, checked one tag at a time: the state is the
     * next tag that may come (0 after other::).
     */
    private static final class AclOrder {
        private int state = TAG_USER_OBJ;
        private boolean needsMask;

        void add(int index, int tag) {
            boolean valid = switch (tag) {
                case TAG_USER_OBJ -> advance(state == TAG_USER_OBJ, TAG_USER);
                case TAG_USER -> named(state == TAG_USER);
                case TAG_GROUP_OBJ -> advance(state == TAG_USER, TAG_GROUP);
                case TAG_GROUP -> named(state == TAG_GROUP);
                case TAG_MASK -> advance(state == TAG_GROUP, TAG_OTHER);
                case TAG_OTHER -> advance(state == TAG_OTHER || (state == TAG_GROUP && !needsMask),
                        0);
                default -> throw new IllegalArgumentException("entry " + index
                        + " has unknown tag 0x" + Integer.toHexString(tag));
            };
            if (!valid) {
                throw new IllegalArgumentException("entry " + index + " has tag 0x"
                        + Integer.toHexString(tag) + " out of order or repeated; expected"
                        + " user::, named users, group::, named groups, mask::, other::"
                        + (needsMask ? " (mask:: is needed with named entries)" : ""));
            }
        }

        void finish(boolean hasEntries) {
            if (hasEntries && state != 0) {
                throw new IllegalArgumentException("the ACL ends before its other:: entry"
                        + (needsMask ? " or lacks mask::" : ""));
            }
        }

        private boolean advance(boolean allowed, int next) {
            if (allowed) {
                state = next;
            }
            return allowed;
        }

        private boolean named(boolean allowed) {
            needsMask |= allowed;
            return allowed;
        }
    }

    private static AclEntry parseEntry(String entry) throws UnresolvedNameException {
        String[] fields = entry.split(":", -1);
        if (fields.length < 3 || fields.length > 4) {
            throw new IllegalArgumentException(
                    "ACL entry '" + entry + "' is not TAG:QUALIFIER:PERMS");
        }
        String qualifier = fields[1];
        int permissions = parsePermissions(fields[2], entry);
        return switch (fields[0]) {
            case "user", "u" ->
                    qualified(TAG_USER_OBJ, TAG_USER, qualifier, fields, permissions, entry);
            case "group", "g" ->
                    qualified(TAG_GROUP_OBJ, TAG_GROUP, qualifier, fields, permissions, entry);
            case "mask", "m" -> new AclEntry(TAG_MASK, permissions, UNDEFINED_ID);
            case "other", "o" -> new AclEntry(TAG_OTHER, permissions, UNDEFINED_ID);
            default -> throw new IllegalArgumentException(
                    "ACL entry '" + entry + "' has an unknown tag");
        };
    }

    private static AclEntry qualified(int ownerTag, int namedTag, String qualifier, String[] fields,
            int permissions, String entry) throws UnresolvedNameException {
        if (qualifier.isEmpty()) {
            return new AclEntry(ownerTag, permissions, UNDEFINED_ID);
        }
        String id = fields.length == 4 ? fields[3] : qualifier;
        if (!id.matches("[0-9]{1,10}") || Long.parseLong(id) >= UNDEFINED_ID) {
            throw new UnresolvedNameException("ACL entry '" + entry + "' names '" + qualifier
                    + "' without a numeric id");
        }
        return new AclEntry(namedTag, permissions, Long.parseLong(id));
    }

    private static int parsePermissions(String text, String entry) {
        int permissions = 0;
        for (char c : text.toCharArray()) {
            permissions |= switch (c) {
                case 'r' -> 4;
                case 'w' -> 2;
                case 'x' -> 1;
                case '-' -> 0;
                default -> throw new IllegalArgumentException(
                        "ACL entry '" + entry + "' has invalid permissions '" + text + "'");
            };
        }
        return permissions;
    }

    private static void validate(List<AclEntry> sorted) {
        int[] counts = new int[0x21];
        AclEntry previous = null;
        for (AclEntry entry : sorted) {
            counts[entry.tag()]++;
            if (previous != null && previous.tag() == entry.tag() && previous.id() == entry.id()) {
                throw new IllegalArgumentException("ACL has two entries for tag " + entry.tag()
                        + " and id " + entry.id());
            }
            previous = entry;
        }
        if (counts[TAG_USER_OBJ] != 1 || counts[TAG_GROUP_OBJ] != 1 || counts[TAG_OTHER] != 1) {
            throw new IllegalArgumentException(
                    "ACL needs exactly one user::, group:: and other:: entry");
        }
        boolean named = counts[TAG_USER] + counts[TAG_GROUP] > 0;
        if (counts[TAG_MASK] > 1 || (named && counts[TAG_MASK] == 0)) {
            throw new IllegalArgumentException("ACL with named entries needs exactly one mask");
        }
    }
}
