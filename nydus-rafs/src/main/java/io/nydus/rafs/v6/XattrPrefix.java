package io.nydus.rafs.v6;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * EROFS xattr name indexes: each stored name keeps only the suffix after its prefix. The two ACL
 * indexes stand for a whole name and store an empty suffix.
 */
public enum XattrPrefix {
    USER(1, "user."),
    POSIX_ACL_ACCESS(2, "system.posix_acl_access"),
    POSIX_ACL_DEFAULT(3, "system.posix_acl_default"),
    TRUSTED(4, "trusted."),
    SECURITY(6, "security.");

    private final int index;
    private final byte[] prefix;

    XattrPrefix(int index, String prefix) {
        this.index = index;
        this.prefix = prefix.getBytes(StandardCharsets.US_ASCII);
    }

    public int index() {
        return index;
    }

    /** Returns the prefix bytes (a copy). */
    public byte[] prefix() {
        return prefix.clone();
    }

    int prefixLength() {
        return prefix.length;
    }

    /**
     * Returns the prefix that {@code name} starts with, or null. ACL names must match exactly;
     * other prefixes need a non-empty suffix.
     */
    public static XattrPrefix match(byte[] name) {
        for (XattrPrefix p : values()) {
            boolean whole = p == POSIX_ACL_ACCESS || p == POSIX_ACL_DEFAULT;
            if (whole ? Arrays.equals(name, p.prefix) : startsWith(name, p.prefix)) {
                return p;
            }
        }
        return null;
    }

    private static boolean startsWith(byte[] name, byte[] prefix) {
        return name.length > prefix.length
                && Arrays.equals(name, 0, prefix.length, prefix, 0, prefix.length);
    }

    public static XattrPrefix byIndex(int index) {
        for (XattrPrefix p : values()) {
            if (p.index == index) {
                return p;
            }
        }
        return null;
    }
}
