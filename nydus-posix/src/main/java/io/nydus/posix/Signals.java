package io.nydus.posix;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.POINTER;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The dispositions of this process's signals, read with {@code sigaction(2)} and reset with
 * {@code signal(2)}.
 */
public final class Signals {

    /**
     * Room for glibc's {@code struct sigaction}, which is 152 bytes on x86-64. Its first field,
     * the handler, is the only one read.
     */
    private static final long SIGACTION_SIZE = 256;
    private static final long SIG_DFL = 0;
    private static final long SIG_IGN = 1;
    private static final MethodHandle SIGACTION =
            Libc.function("sigaction", Libc.descriptor(INT, INT, POINTER, POINTER));
    private static final MethodHandle SIGNAL =
            Libc.plain("signal", Libc.descriptor(POINTER, INT, POINTER));

    private Signals() {
    }

    /** Returns whether {@code signal} is ignored (SIG_IGN), as a parent may leave it. */
    public static boolean isIgnored(int signal) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment action = arena.allocate(SIGACTION_SIZE, Long.BYTES);
            Libc.check(arena, "sigaction", null, "signal " + signal, state ->
                    (int) SIGACTION.invokeExact(state, signal, MemorySegment.NULL, action));
            return action.get(ValueLayout.JAVA_LONG, 0) == SIG_IGN;
        }
    }

    /** Sets {@code signal} back to its default action (SIG_DFL). */
    public static void restoreDefault(int signal) {
        MemorySegment previous;
        try {
            previous = (MemorySegment) SIGNAL.invokeExact(signal,
                    MemorySegment.ofAddress(SIG_DFL));
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
        if (previous.address() == -1) {
            throw new IllegalArgumentException("signal " + signal + " cannot be reset");
        }
    }
}
