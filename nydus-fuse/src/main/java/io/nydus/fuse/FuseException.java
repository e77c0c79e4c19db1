package io.nydus.fuse;

import io.nydus.posix.Errno;

/**
 * A failure that the server returns to the kernel as {@code -errno}. The values are those of
 * {@link Errno}, such as {@link Errno#ENOENT}.
 */
public final class FuseException extends Exception {

    private static final long serialVersionUID = 1L;

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
