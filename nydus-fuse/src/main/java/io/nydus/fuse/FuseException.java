package io.nydus.fuse;

/** A failure that the server answers with {@code -errno}. */
public final class FuseException extends Exception {
    public static final int ENOENT = 2;
    public static final int EIO = 5;
    public static final int EACCES = 13;
    public static final int ENOTDIR = 20;
    public static final int EISDIR = 21;
    public static final int EINVAL = 22;
    public static final int ERANGE = 34;
    public static final int ENOSYS = 38;
    public static final int ENODATA = 61;
    public static final int EROFS = 30;

    private final int errno;

    public FuseException(int errno, String message) {
        super(message);
        if (errno <= 0) {
            throw new IllegalArgumentException("errno " + errno + " must be positive");
        }
        this.errno = errno;
    }

    public FuseException(int errno, String message, Throwable cause) {
        this(errno, message);
        initCause(cause);
    }

    public int errno() {
        return errno;
    }
}
