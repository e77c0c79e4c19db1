package io.nydus.posix;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.POINTER;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The process's limit on open file descriptors ({@code RLIMIT_NOFILE}), read with
 * {@code getrlimit(2)} and set with {@code setrlimit(2)}.
 *
 * @param soft the limit the kernel enforces
 * @param hard the ceiling up to which an unprivileged process may raise the soft limit
 */
public record OpenFileLimit(long soft, long hard) {

    private static final int RLIMIT_NOFILE = 7;
    private static final long RLIMIT_SIZE = 2 * Long.BYTES;
    private static final MethodHandle GETRLIMIT =
            Libc.function("getrlimit", Libc.descriptor(INT, INT, POINTER));
    private static final MethodHandle SETRLIMIT =
            Libc.function("setrlimit", Libc.descriptor(INT, INT, POINTER));

    public OpenFileLimit {
        if (soft < 0 || hard < 0 || soft > hard) {
            throw new IllegalArgumentException("invalid open file limit: soft " + soft
                    + ", hard " + hard + "; both must be at least 0 and soft at most hard");
        }
    }

    /** Returns the current limit of this process. */
    public static OpenFileLimit current() throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment limit = arena.allocate(RLIMIT_SIZE, Long.BYTES);
            Libc.check(arena, "getrlimit", null, "RLIMIT_NOFILE", state ->
                    (int) GETRLIMIT.invokeExact(state, RLIMIT_NOFILE, limit));
            return new OpenFileLimit(unsigned(limit.get(ValueLayout.JAVA_LONG, 0)),
                    unsigned(limit.get(ValueLayout.JAVA_LONG, Long.BYTES)));
        }
    }

    /**
     * Sets this as the process's limit. Raising the hard limit needs CAP_SYS_RESOURCE.
     *
     * @throws PosixException with EPERM when the hard limit would rise without that capability
     *     or above the kernel's fs.nr_open
     */
    public void apply() throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment limit = arena.allocate(RLIMIT_SIZE, Long.BYTES);
            limit.set(ValueLayout.JAVA_LONG, 0, soft);
            limit.set(ValueLayout.JAVA_LONG, Long.BYTES, hard);
            Libc.check(arena, "setrlimit", null,
                    "RLIMIT_NOFILE to soft " + soft + ", hard " + hard, state ->
                    (int) SETRLIMIT.invokeExact(state, RLIMIT_NOFILE, limit));
        }
    }

    /** Maps RLIM_INFINITY (all bits set) to Long.MAX_VALUE, which no real limit reaches. */
    private static long unsigned(long value) {
        return value < 0 ? Long.MAX_VALUE : value;
    }
}
