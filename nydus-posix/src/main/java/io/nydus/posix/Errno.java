package io.nydus.posix;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Linux errno values that callers test for, and their symbolic names and descriptions.
 *
 * <p>The numbers are the same on x86_64 and aarch64. Names and descriptions come from glibc's
 * {@code strerrorname_np} and {@code strerrordesc_np}, which are thread-safe and ignore the
 * locale.
 */
public final class Errno {

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int ENXIO = 6;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int EACCES = 13;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int EXDEV = 18;
    public static final int ENODEV = 19;
    public static final int ENOTDIR = 20;
    public static final int EISDIR = 21;
    public static final int EINVAL = 22;
    public static final int EFBIG = 27;
    public static final int ENOSPC = 28;
    public static final int EROFS = 30;
    public static final int EMLINK = 31;
    public static final int ERANGE = 34;
    public static final int ENAMETOOLONG = 36;
    public static final int ENOSYS = 38;
    public static final int ENOTEMPTY = 39;
    public static final int ELOOP = 40;
    public static final int ENODATA = 61;
    public static final int EPROTO = 71;
    public static final int EOVERFLOW = 75;
    public static final int ENOTCONN = 107;
    public static final int ETIMEDOUT = 110;
    /** Operation not supported; the same number as {@code EOPNOTSUPP} on Linux. */
    public static final int ENOTSUP = 95;
    public static final int EOPNOTSUPP = 95;

    private static final MethodHandle STRERRORNAME_NP = Libc.plainOrNull(
            "strerrorname_np", Libc.descriptor(Libc.POINTER, Libc.INT));
    private static final MethodHandle STRERRORDESC_NP = Libc.plainOrNull(
            "strerrordesc_np", Libc.descriptor(Libc.POINTER, Libc.INT));

    private Errno() {
    }

    /** Returns the symbolic name of {@code errno}, such as "ENOENT", or "E" and the number. */
    public static String name(int errno) {
        String name = lookUp(STRERRORNAME_NP, errno);
        return name == null ? "E" + errno : name;
    }

    /**
     * Returns the English description of {@code errno}, such as "No such file or directory".
     */
    public static String description(int errno) {
        String description = lookUp(STRERRORDESC_NP, errno);
        return description == null ? "Unknown error " + errno : description;
    }

    private static String lookUp(MethodHandle function, int errno) {
        if (function == null) {
            return null;
        }
        MemorySegment text;
        try {
            text = (MemorySegment) function.invokeExact(errno);
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
        return text.equals(MemorySegment.NULL) ? null : Libc.readCString(text);
    }
}
