package io.nydus.posix;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Downcall handles into the C library and the one place that turns a -1 result into a
 * {@link PosixException}.
 *
 * <p>Every handle made by {@link #function} captures errno right after the call through
 * {@link Linker.Option#captureCallState}, because the JVM may run code that changes the
 * thread's errno before Java code could read it. Such a handle takes the capture segment as its
 * first argument.
 */
final class Libc {

    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    static final AddressLayout POINTER = ValueLayout.ADDRESS;

    /** The {@code dirfd} value that makes an {@code *at} call resolve against the cwd. */
    static final int AT_FDCWD = -100;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private Libc() {
    }

    /** A native call that returns -1 on failure; its argument is the errno capture segment. */
    @FunctionalInterface
    interface Call {
        long invoke(MemorySegment callState) throws Throwable;
    }

    /** Returns a function descriptor with the given result and argument layouts. */
    static FunctionDescriptor descriptor(MemoryLayout result, MemoryLayout... arguments) {
        return FunctionDescriptor.of(result, arguments);
    }

    /** Returns a handle for the libc function {@code name} that captures errno. */
    static MethodHandle function(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(address(name), descriptor, CAPTURE_ERRNO);
    }

    /**
     * Returns an errno-capturing handle for a variadic function, fixing the types of the
     * variadic arguments from {@code firstVariadic} on.
     */
    static MethodHandle variadic(String name, FunctionDescriptor descriptor, int firstVariadic) {
        return LINKER.downcallHandle(address(name), descriptor, CAPTURE_ERRNO,
                Linker.Option.firstVariadicArg(firstVariadic));
    }

    /** Returns a handle for {@code name} without errno capture, for calls with no error result. */
    static MethodHandle plain(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(address(name), descriptor);
    }

    /** Returns a handle like {@link #plain}, or null when the C library lacks {@code name}. */
    static MethodHandle plainOrNull(String name, FunctionDescriptor descriptor) {
        return LINKER.defaultLookup().find(name)
                .map(address -> LINKER.downcallHandle(address, descriptor))
                .orElse(null);
    }

    /** Returns an errno-capturing handle for {@code name} that is linked on first use. */
    static LazyHandle lazyFunction(String name, FunctionDescriptor descriptor) {
        return new LazyHandle(name, descriptor, true);
    }

    /** Returns a handle like {@link #plain} that is linked on first use. */
    static LazyHandle lazyPlain(String name, FunctionDescriptor descriptor) {
        return new LazyHandle(name, descriptor, false);
    }

    /** Returns a handle like {@link #variadic} that is linked on first use. */
    static LazyHandle lazyVariadic(String name, FunctionDescriptor descriptor,
            int firstVariadic) {
        return new LazyHandle(name, descriptor, true, firstVariadic);
    }

    /**
     * A handle for a libc function that is linked when it is first needed. Linking a handle of
     * a new signature generates classes and takes several milliseconds. A command makes only a
     * few kinds of calls, and linking all of them when their classes load cost each command
     * about 0.15 s of its start. The calls that nearly every command makes stay
     * {@code static final} handles, which the JIT compiler can inline.
     */
    static final class LazyHandle {
        private final String name;
        private final FunctionDescriptor descriptor;
        private final boolean captureErrno;
        /** The index of the first variadic argument, or -1 for a fixed argument list. */
        private final int firstVariadic;
        private volatile MethodHandle handle;

        private LazyHandle(String name, FunctionDescriptor descriptor, boolean captureErrno) {
            this(name, descriptor, captureErrno, -1);
        }

        private LazyHandle(String name, FunctionDescriptor descriptor, boolean captureErrno,
                int firstVariadic) {
            this.name = name;
            this.descriptor = descriptor;
            this.captureErrno = captureErrno;
            this.firstVariadic = firstVariadic;
        }

        /** Returns the linked handle; two threads may both link it, which is harmless. */
        MethodHandle get() {
            MethodHandle linked = handle;
            if (linked == null) {
                if (firstVariadic >= 0) {
                    linked = variadic(name, descriptor, firstVariadic);
                } else {
                    linked = captureErrno ? function(name, descriptor) : plain(name, descriptor);
                }
                handle = linked;
            }
            return linked;
        }
    }

    private static MemorySegment address(String name) {
        return LINKER.defaultLookup().find(name).orElseThrow(() ->
                new UnsupportedOperationException("C library has no function " + name));
    }

    /**
     * Runs {@code call}, retrying while it fails with EINTR.
     *
     * @return the call's result, which is not -1
     * @throws PosixException naming {@code operation} and {@code subject} if the call fails
     */
    static long check(Arena arena, String operation, BytePath path, String subject, Call call)
            throws PosixException {
        MemorySegment callState = arena.allocate(CALL_STATE);
        while (true) {
            long result = invoke(call, callState);
            if (result != -1) {
                return result;
            }
            int errno = errno(callState);
            if (errno != Errno.EINTR) {
                throw PosixException.of(errno, operation, path, subject);
            }
        }
    }

    /** Runs {@code call} like {@link #check} for a call about {@code path} alone. */
    static long check(Arena arena, String operation, BytePath path, Call call)
            throws PosixException {
        return check(arena, operation, path, String.valueOf(path), call);
    }

    /** Runs {@code call} once and returns its result, or the negated errno if it returned -1. */
    static long tryOnce(Arena arena, Call call) {
        MemorySegment callState = arena.allocate(CALL_STATE);
        long result = invoke(call, callState);
        return result == -1 ? -errno(callState) : result;
    }

    private static long invoke(Call call, MemorySegment callState) {
        try {
            return call.invoke(callState);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    private static int errno(MemorySegment callState) {
        return (int) ERRNO.get(callState, 0L);
    }

    /** Wraps a throwable from a downcall, which only happens on a wrong handle type. */
    static RuntimeException unexpected(Throwable t) {
        if (t instanceof RuntimeException runtime) {
            throw runtime;
        }
        if (t instanceof Error error) {
            throw error;
        }
        return new IllegalStateException("native call failed", t);
    }

    /** Reads the NUL-terminated string at {@code address}, as UTF-8. */
    static String readCString(MemorySegment address) {
        return address.reinterpret(Integer.MAX_VALUE).getString(0);
    }
}
