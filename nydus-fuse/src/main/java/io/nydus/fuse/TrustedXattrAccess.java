package io.nydus.fuse;

import java.util.Arrays;
import java.util.List;

/**
 * Decides which callers see {@code trusted.*} xattr names. A local file system lists them
 * only to callers with CAP_SYS_ADMIN, and the kernel leaves that filter to FUSE servers. The
 * kernel itself refuses the values to such callers.
 *
 * <p>A FUSE request carries the caller's file system uid but not its capabilities, so uid 0
 * is taken in place of CAP_SYS_ADMIN. The uid is the one the caller acts with: overlayfs
 * copies a file up with its mounter's uid, so a copy-up made for an unprivileged program in
 * a container still lists, and keeps, the lower file's {@code trusted.*} xattrs. Root of a
 * container with a user namespace of its own arrives with its host uid, not 0.
 */
final class TrustedXattrAccess {

    private static final byte[] PREFIX = {'t', 'r', 'u', 's', 't', 'e', 'd', '.'};

    private TrustedXattrAccess() {
    }

    /** Returns {@code names} without the {@code trusted.*} ones unless {@code uid} is 0. */
    static List<byte[]> filter(List<byte[]> names, int uid) {
        if (uid == 0) {
            return names;
        }
        return names.stream().filter(name -> !isTrusted(name)).toList();
    }

    static boolean isTrusted(byte[] name) {
        return name.length > PREFIX.length
                && Arrays.equals(name, 0, PREFIX.length, PREFIX, 0, PREFIX.length);
    }
}
