package io.nydus.fuse;

import io.nydus.posix.Errno;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A read-only file system served over FUSE, addressed by inode number the way the kernel's
 * protocol addresses it. Names, link targets and xattr values are bytes, never decoded.
 *
 * <p>Methods are called from several worker threads at once. A method reports a failure by
 * throwing {@link FuseException} with an errno; any other exception becomes {@code EIO} and is
 * logged by the server. Inode 1 is the root. The server replies to every writing request with
 * {@code EROFS} itself, so none of them appear here, and reports only an open for writing
 * through {@link #openRejected}.
 */
public interface FuseFileSystem {

    /** The root directory's inode number, fixed by the protocol. */
    long ROOT = 1;

    /** Receives what init agreed on, once the server has replied to the kernel's init request. */
    default void init(FuseConnection connection) {
    }

    /**
     * Receives the notifier of the session that serves this file system, before the session's
     * first request. A file system whose tree changes other than through requests keeps it to
     * tell the kernel what to drop from its caches.
     */
    default void setNotifier(FuseNotifier notifier) {
    }

    /** Returns the entry named {@code name} in directory {@code parent}; ENOENT if absent. */
    Entry lookup(long parent, byte[] name) throws FuseException;

    /**
     * Receives a lookup in {@code parent} that the server rejected with ENAMETOOLONG without
     * calling {@link #lookup}, because the name is longer than 255 bytes. A file system that
     * counts lookups counts this one here.
     */
    default void lookupRejected(long parent) {
    }

    /**
     * Returns how long the kernel may remember that a name is absent after {@link #lookup}
     * threw ENOENT; 0 makes it ask again each time.
     */
    default double negativeTimeoutSeconds() {
        return 0;
    }

    /** Drops {@code count} of the references to {@code inode} that lookups gave the kernel. */
    default void forget(long inode, long count) {
    }

    /**
     * Drops the references of one BATCH_FORGET request: {@code counts[i]} of those to
     * {@code inodes[i]}. The default calls {@link #forget} for each inode.
     */
    default void batchForget(long[] inodes, long[] counts) {
        for (int i = 0; i < inodes.length; i++) {
            forget(inodes[i], counts[i]);
        }
    }

    Attr getattr(long inode) throws FuseException;

    /** Returns how long the kernel may cache the attributes that {@link #getattr} returns. */
    default double attrTimeoutSeconds() {
        return 1.0;
    }

    byte[] readlink(long inode) throws FuseException;

    /** Opens a file for reading; returns a handle passed back to read and release. */
    default long open(long inode, int flags) throws FuseException {
        return 0;
    }

    /**
     * Receives an open of {@code inode} for writing that the server rejected with EROFS without
     * calling {@link #open}. A file system that counts opens counts this one here.
     */
    default void openRejected(long inode) {
    }

    /**
     * Reads up to {@code target.byteSize()} bytes at {@code offset} into {@code target}, a native
     * buffer owned by the server, and returns the count; fewer only at the end of the file.
     * The target starts on a 4096-byte boundary and is valid only during the call.
     */
    int read(long inode, long handle, long offset, MemorySegment target) throws FuseException;

    default void release(long inode, long handle) {
    }

    default long opendir(long inode) throws FuseException {
        return 0;
    }

    /**
     * Returns whether the kernel may keep the listing of directory {@code inode} from one open
     * to the next. A directory whose entries change at run time returns false, so each open
     * lists it again.
     */
    default boolean isListingCacheable(long inode) {
        return true;
    }

    /**
     * Lists the directory from position {@code offset} (0 at the start, else a value an earlier
     * {@link DirEntry#nextOffset()} returned) into {@code sink} until the sink reports it is full.
     * "." and ".." are included by the file system.
     */
    void readdir(long inode, long handle, long offset, DirSink sink) throws FuseException;

    default void releasedir(long inode, long handle) {
    }

    StatFs statfs(long inode) throws FuseException;

    /** Returns the value of xattr {@code name}; ENODATA if the inode has no such xattr. */
    byte[] getxattr(long inode, byte[] name) throws FuseException;

    /**
     * Returns the value of xattr {@code name} for a caller whose buffer has {@code size} bytes,
     * where 0 requests the size of the value alone; ERANGE if the value does not fit. The
     * default calls {@link #getxattr(long, byte[])}, so a file system that counts ERANGE
     * replies overrides this method.
     */
    default byte[] getxattr(long inode, byte[] name, long size) throws FuseException {
        return requireFits(getxattr(inode, name), size);
    }

    /** Returns xattr data {@code value}; ERANGE if it is longer than a {@code size} above 0. */
    static byte[] requireFits(byte[] value, long size) throws FuseException {
        if (size != 0 && value.length > size) {
            throw new FuseException(Errno.ERANGE, "xattr data of " + value.length
                    + " bytes exceeds the buffer of " + size);
        }
        return value;
    }

    /** Returns the full names of the inode's xattrs. */
    List<byte[]> listxattr(long inode) throws FuseException;

    /** Checks access. With {@code default_permissions} the kernel checks modes itself instead. */
    default void access(long inode, int mask) throws FuseException {
    }

    /** Called when the file system is unmounted or the session ends. */
    default void destroy() {
    }
}
