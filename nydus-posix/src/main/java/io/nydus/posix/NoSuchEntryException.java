package io.nydus.posix;

/** A call that failed with ENOENT because a path component does not exist. */
public final class NoSuchEntryException extends PosixException {

    private static final long serialVersionUID = 1L;

    NoSuchEntryException(String call, BytePath path, String subject) {
        super(Errno.ENOENT, call, path, subject);
    }
}
