package io.nydus.fuse;

import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import java.io.IOException;
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
 * An open {@code /dev/fuse} descriptor and an eventfd that wakes the workers waiting on it.
 *
 * <p>The descriptor is non-blocking: a worker reads until EAGAIN, then polls the descriptor and
 * the eventfd together. {@link #wake()} makes the eventfd readable for good, so every waiting
 * worker returns. Blocking reads could not be ended while a lazily detached mount is still in
 * use, because only the last close of the descriptor aborts the connection.
 *
 * <p>The hot-path calls return {@code -errno} instead of throwing, since ENOENT (an interrupted
 * request), EAGAIN and ENODEV (the session ended) are ordinary outcomes here.
 */
final class FuseDevice implements AutoCloseable {

    private static final BytePath DEVICE = BytePath.of("/dev/fuse");
    private static final int EFD_NONBLOCK = 04000;
    private static final int EFD_CLOEXEC = 02000000;
    private static final short POLLIN = 1;
    private static final int POLLFD_SIZE = 8;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(
            MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle READ = function("read", ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);
    private static final MethodHandle WRITE = function("write", ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);
    private static final MethodHandle POLL = function("poll", ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT);
    private static final MethodHandle EVENTFD = function("eventfd", ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);

    private final Fd device;
    private final Fd wakeup;

    private FuseDevice(Fd device, Fd wakeup) {
        this.device = device;
        this.wakeup = wakeup;
    }

    /** Opens {@code /dev/fuse} for one mount, with its wake-up eventfd. */
    static FuseDevice open() throws IOException {
        Fd device = Posix.open(DEVICE,
                OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) invoke(() -> (int) EVENTFD.invokeExact(state, 0,
                    EFD_NONBLOCK | EFD_CLOEXEC));
            if (fd < 0) {
                int errno = (int) ERRNO.get(state, 0L);
                device.close();
                throw new IOException("eventfd failed: " + Errno.description(errno) + " ("
                        + Errno.name(errno) + ")");
            }
            return new FuseDevice(device, Fd.adopt(fd, BytePath.of("eventfd")));
        }
    }

    /** Returns the descriptor number passed to mount(2) as {@code fd=N}. */
    int number() {
        return device.number();
    }

    /** Returns a per-thread channel whose call state lives in {@code arena}. */
    Channel channel(Arena arena) {
        return new Channel(arena);
    }

    /** Makes every worker's {@link Channel#awaitRequest()} return false from now on. */
    void wake() throws PosixException {
        byte[] one = {1, 0, 0, 0, 0, 0, 0, 0};
        wakeup.write(one, 0, one.length);
    }

    /** Closes both descriptors; once no descriptor is left, the kernel aborts the connection. */
    @Override
    public void close() throws PosixException {
        try {
            device.close();
        } finally {
            wakeup.close();
        }
    }

    /** The native calls of one worker thread, with their errno capture segment. */
    final class Channel {

        private final MemorySegment callState;
        private final MemorySegment pollFds;
        private final int deviceFd;

        private Channel(Arena arena) {
            this.callState = arena.allocate(CALL_STATE);
            this.pollFds = arena.allocate(2L * POLLFD_SIZE, 8);
            this.deviceFd = device.number();
            pollFds.set(ValueLayout.JAVA_INT, 0, deviceFd);
            pollFds.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
            pollFds.set(ValueLayout.JAVA_INT, POLLFD_SIZE, wakeup.number());
            pollFds.set(ValueLayout.JAVA_SHORT, POLLFD_SIZE + 4, POLLIN);
        }

        /** Reads one request into {@code buffer}; returns its length or {@code -errno}. */
        long read(MemorySegment buffer) {
            long size = buffer.byteSize();
            long result = invoke(() -> (long) READ.invokeExact(callState, deviceFd, buffer, size));
            return result < 0 ? -errno() : result;
        }

        /** Writes one reply; returns the count written or {@code -errno}. */
        long write(MemorySegment reply) {
            long size = reply.byteSize();
            long result = invoke(() -> (long) WRITE.invokeExact(callState, deviceFd, reply, size));
            return result < 0 ? -errno() : result;
        }

        /**
         * Waits until a request may be waiting or the device reports an error, which the next
         * read returns. Returns false once {@link FuseDevice#wake()} was called.
         */
        boolean awaitRequest() {
            pollFds.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
            pollFds.set(ValueLayout.JAVA_SHORT, POLLFD_SIZE + 6, (short) 0);
            long result = invoke(() -> (int) POLL.invokeExact(callState, pollFds, 2L, -1));
            if (result < 0 && errno() != Errno.EINTR) {
                throw new IllegalStateException("poll on /dev/fuse failed: "
                        + Errno.description(errno()) + " (" + Errno.name(errno()) + ")");
            }
            return pollFds.get(ValueLayout.JAVA_SHORT, POLLFD_SIZE + 6) == 0;
        }

        private int errno() {
            return (int) ERRNO.get(callState, 0L);
        }
    }

    @FunctionalInterface
    private interface NativeCall {
        long call() throws Throwable;
    }

    private static long invoke(NativeCall call) {
        try {
            return call.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("native call failed", t);
        }
    }

    private static MethodHandle function(String name, ValueLayout result,
            ValueLayout... arguments) {
        MemorySegment address = LINKER.defaultLookup().find(name).orElseThrow(() ->
                new UnsupportedOperationException("C library has no function " + name));
        return LINKER.downcallHandle(address, FunctionDescriptor.of(result, arguments),
                Linker.Option.captureCallState("errno"));
    }
}
