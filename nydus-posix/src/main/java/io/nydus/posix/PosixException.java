package io.nydus.posix;

import java.io.IOException;
import java.util.Optional;

/**
 * A failed C library call, with its errno, the call's name and the path it was about.
 *
 * <p>The message reads like {@code lstat /x/\xff: No such file or directory (ENOENT)}. ENOENT
 * is thrown as the subclass {@link NoSuchEntryException}; other values can be tested with
 * {@link #errno()} against the constants in {@link Errno}.
 */
public class PosixException extends IOException {

    private static final long serialVersionUID = 1L;

    private final int errno;
    private final String call;
    private final transient BytePath path;

    /**
     * Creates the exception for {@code call} failing with {@code errno}.
     *
     * @param path the path the call was about, or null for calls without one
     * @param subject the text after the call's name in the message, usually the escaped path
     */
    PosixException(int errno, String call, BytePath path, String subject) {
        super(call + " " + subject + ": " + Errno.description(errno) + " (" + Errno.name(errno)
                + ")");
        this.errno = errno;
        this.call = call;
        this.path = path;
    }

    /** Returns the exception for {@code errno}: {@link NoSuchEntryException} for ENOENT. */
    static PosixException of(int errno, String call, BytePath path, String subject) {
        if (errno == Errno.ENOENT) {
            return new NoSuchEntryException(call, path, subject);
        }
        return new PosixException(errno, call, path, subject);
    }

    /** Returns the errno value the call failed with. */
    public int errno() {
        return errno;
    }

    /** Returns the symbolic errno name, such as "ENOENT". */
    public String errnoName() {
        return Errno.name(errno);
    }

    /** Returns the errno description, such as "No such file or directory". */
    public String description() {
        return Errno.description(errno);
    }

    /** Returns the name of the failed call, such as "lstat". */
    public String call() {
        return call;
    }

    /** Returns the path the call was about, if it had one. */
    public Optional<BytePath> path() {
        return Optional.ofNullable(path);
    }

    /** Returns whether the call failed with {@code expectedErrno}. */
    public boolean is(int expectedErrno) {
        return errno == expectedErrno;
    }
}
