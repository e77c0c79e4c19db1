package io.nydus.fuse;

/**
 * Tells the kernel to drop what it cached of a file system whose tree changed other than
 * through a request on the mount, such as an image mounted below the root at run time.
 *
 * <p>Call it from a thread that no FUSE request waits for, such as an API thread, and never
 * from a {@link FuseFileSystem} method. The kernel holds a directory's lock while it waits for
 * the reply to a lookup or readdir in that directory, and an entry invalidation waits for the
 * same lock, so a worker that sent one could wait for itself.
 */
public interface FuseNotifier {

    /**
     * Drops the kernel's attributes and cached data of node {@code nodeId}, so the next access
     * requests them from the file system again.
     *
     * @return whether the kernel received the message. It is false while the session does not
     *     serve (before its init, after its end) and when the kernel rejected it, which is
     *     logged
     * @throws IllegalStateException if called from a worker of the session
     */
    boolean invalidateInode(long nodeId);

    /**
     * Drops the kernel's entry for {@code name} in directory {@code parent}, positive or
     * negative, so the next access to the name looks it up again. A name that the kernel has
     * not cached needs nothing dropped and counts as received.
     *
     * @return whether the kernel received the message. It is false while the session does not
     *     serve and when the kernel rejected it, which is logged
     * @throws IllegalArgumentException if {@code name} is empty, longer than 255 bytes, or
     *     contains '/' or NUL
     * @throws IllegalStateException if called from a worker of the session
     */
    boolean invalidateEntry(long parent, byte[] name);
}
