package io.nydus.testkit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Comparator;
import java.util.List;

/**
 * Binary values of the extended attributes that the kernel interprets: POSIX ACLs
 * ({@code system.posix_acl_access}, {@code system.posix_acl_default}) and file capabilities
 * ({@code security.capability}).
 *
 * <p>Both formats are little-endian. An ACL is a version word (2) followed by 8-byte entries
 * of tag (u16), permissions (u16) and id (u32), sorted by tag and then id. A version 2
 * capability is a word of revision and flags followed by permitted and inheritable words for
 * capabilities 0-31 and then for 32-63.
 */
public final class XattrValues {

    public static final int ACL_USER_OBJ = 0x01;
    public static final int ACL_USER = 0x02;
    public static final int ACL_GROUP_OBJ = 0x04;
    public static final int ACL_GROUP = 0x08;
    public static final int ACL_MASK = 0x10;
    public static final int ACL_OTHER = 0x20;

    /** The capability number of {@code CAP_NET_BIND_SERVICE}. */
    public static final int CAP_NET_BIND_SERVICE = 10;

    private static final int ACL_VERSION = 2;
    private static final long ACL_UNDEFINED_ID = 0xffff_ffffL;
    private static final int VFS_CAP_REVISION_2 = 0x0200_0000;
    private static final int VFS_CAP_FLAGS_EFFECTIVE = 0x1;

    private XattrValues() {
    }

    /**
     * One ACL entry.
     *
     * @param tag one of the {@code ACL_*} tags
     * @param id the user or group id for {@link #ACL_USER} and {@link #ACL_GROUP}, else ignored
     * @param permissions read 4, write 2, execute 1
     */
    public record AclEntry(int tag, long id, int permissions) {

        /** Validates tag, id and permissions. */
        public AclEntry {
            if (Integer.bitCount(tag) != 1 || tag > ACL_OTHER) {
                throw new IllegalArgumentException("invalid ACL tag 0x" + Integer.toHexString(tag));
            }
            if (id < 0 || id > ACL_UNDEFINED_ID) {
                throw new IllegalArgumentException("ACL id must be 0 to 2^32 - 1, got " + id);
            }
            if ((permissions & ~7) != 0) {
                throw new IllegalArgumentException("ACL permissions must be 0 to 7, got "
                        + permissions);
            }
        }

        /** Returns an entry without id, for USER_OBJ, GROUP_OBJ, MASK and OTHER. */
        public static AclEntry of(int tag, int permissions) {
            return new AclEntry(tag, ACL_UNDEFINED_ID, permissions);
        }

        private boolean named() {
            return tag == ACL_USER || tag == ACL_GROUP;
        }
    }

    /** Returns the xattr value of an ACL with {@code entries}, which it sorts as required. */
    public static byte[] posixAcl(List<AclEntry> entries) {
        List<AclEntry> sorted = entries.stream()
                .sorted(Comparator.comparingInt(AclEntry::tag).thenComparingLong(AclEntry::id))
                .toList();
        ByteBuffer value = ByteBuffer.allocate(4 + 8 * sorted.size())
                .order(ByteOrder.LITTLE_ENDIAN);
        value.putInt(ACL_VERSION);
        for (AclEntry entry : sorted) {
            value.putShort((short) entry.tag());
            value.putShort((short) entry.permissions());
            value.putInt((int) (entry.named() ? entry.id() : ACL_UNDEFINED_ID));
        }
        return value.array();
    }

    /**
     * Returns a version 2 {@code security.capability} value (20 bytes).
     *
     * @param permitted the permitted capabilities as a bit set, bit N for capability N
     * @param inheritable the inheritable capabilities as a bit set
     * @param effective whether the permitted set becomes effective on exec
     */
    public static byte[] capabilityV2(long permitted, long inheritable, boolean effective) {
        ByteBuffer value = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
        value.putInt(VFS_CAP_REVISION_2 | (effective ? VFS_CAP_FLAGS_EFFECTIVE : 0));
        value.putInt((int) permitted);
        value.putInt((int) inheritable);
        value.putInt((int) (permitted >>> 32));
        value.putInt((int) (inheritable >>> 32));
        return value.array();
    }
}
