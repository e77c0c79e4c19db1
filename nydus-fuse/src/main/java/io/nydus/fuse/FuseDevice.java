package io.nydus.fuse;

import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.UnixSockets;
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
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.StampedLock;

/**
 * An open {@code /dev/fuse} descriptor and an eventfd that wakes the workers waiting on it.
 *
 * <p>The descriptor is non-blocking: a worker reads until EAGAIN, then waits in epoll for the
 * descriptor and the eventfd together. {@link #wake()} makes the eventfd readable for good, so
 * every waiting worker returns. Blocking reads could not be ended while a lazily detached mount
 * is still in use, because only the last close of the descriptor aborts the connection.
 *
 * <p>The hot-path calls return {@code -errno} instead of throwing, since ENOENT (an interrupted
 * request), EAGAIN and ENODEV (the session ended) are ordinary outcomes here.
 *
 * <p>Every call on the descriptors holds the read side of a lock that {@link #close} takes for
 * writing, and returns ENODEV once the device is closed. A worker that finishes a request
 * after the close so never writes its reply to a descriptor number that was reused meanwhile.
 */
final class FuseDevice {

    private static final BytePath DEVICE = BytePath.of("/dev/fuse");
    private static final int EFD_NONBLOCK = 04000;
    private static final int EFD_CLOEXEC = 02000000;
    private static final int EPOLLIN = 1;
    /** Wakes one of the waiting workers per request instead of all of them. */
    private static final int EPOLLEXCLUSIVE = 1 << 28;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int EPOLL_CLOEXEC = 02000000;
    /** {@code struct epoll_event} is packed on x86_64 only. */
    private static final boolean PACKED_EPOLL_EVENT =
            "amd64".equals(System.getProperty("os.arch"));
    private static final int EPOLL_EVENT_SIZE = PACKED_EPOLL_EVENT ? 12 : 16;
    private static final int EPOLL_DATA_OFFSET = PACKED_EPOLL_EVENT ? 4 : 8;
    private static final long WAKEUP_TOKEN = 1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(
            MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle READ = function("read", ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);
    private static final MethodHandle WRITE = function("write", ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);
    private static final MethodHandle EPOLL_CREATE1 = function("epoll_create1",
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);
    private static final MethodHandle EPOLL_CTL = function("epoll_ctl", ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS);
    private static final MethodHandle EPOLL_WAIT = function("epoll_wait", ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);
    private static final MethodHandle CLOSE = function("close", ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT);
    private static final MethodHandle EVENTFD = function("eventfd", ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);

    private final Fd device;
    private final Fd wakeup;
    /** Held for reading by each call on the descriptors, for writing by {@link #close}. */
    private final StampedLock callLock = new StampedLock();
    /** Set first in {@link #close}, so that no new call starts. */
    private volatile boolean closed;
    /** Whether both descriptors are closed. Changed only under the write lock. */
    private boolean released;

    private FuseDevice(Fd device, Fd wakeup) {
        this.device = device;
        this.wakeup = wakeup;
    }

    /** Opens {@code /dev/fuse} for one mount, with its wake-up eventfd. */
    static FuseDevice open() throws IOException {
        return adopt(Posix.open(DEVICE,
                OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK));
    }

    /**
     * Takes over {@code device}, a {@code /dev/fuse} descriptor of a mount that another process
     * served, and gives it a wake-up eventfd. The descriptor is made non-blocking, as the
     * workers expect.
     */
    static FuseDevice adopt(Fd device) throws IOException {
        try {
            device.setNonBlocking();
        } catch (IOException e) {
            device.close();
            throw e;
        }
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

    /**
     * Sends {@code data} on {@code socket} with this device's descriptor attached, so that the
     * peer keeps the connection open after this process ends.
     */
    void sendTo(Fd socket, byte[] data) throws PosixException {
        long stamp = callLock.readLock();
        try {
            if (closed) {
                throw new IllegalStateException("the FUSE device is closed, so it cannot be"
                        + " handed over");
            }
            UnixSockets.send(socket, data, device);
        } finally {
            callLock.unlockRead(stamp);
        }
    }

    /**
     * Asks the kernel to queue again every request that was read but got no reply, such as
     * those of a killed server. The notification was added in Linux 6.9, and older kernels
     * reject it. Returns 0 or {@code -errno}.
     */
    long notifyResend() {
        return sendNotification(Protocol.NOTIFY_RESEND, new byte[0]);
    }

    /**
     * Asks the kernel to drop the attributes of node {@code nodeId} and its cached data from
     * {@code offset} on, {@code length} bytes or, with 0, to the end. Returns 0 or
     * {@code -errno}: ENOENT when the kernel has no such inode.
     */
    long notifyInvalInode(long nodeId, long offset, long length) {
        ByteBuffer body = body(Protocol.NOTIFY_INVAL_INODE_SIZE);
        body.putLong(0, nodeId).putLong(8, offset).putLong(16, length);
        return sendNotification(Protocol.NOTIFY_INVAL_INODE, body.array());
    }

    /**
     * Asks the kernel to drop its entry for {@code name} in directory {@code parent} and, when
     * it has that entry cached, the directory's attributes. Returns 0 or {@code -errno}:
     * ENOENT when the kernel has no such entry cached.
     */
    long notifyInvalEntry(long parent, byte[] name) {
        // The name is followed by a NUL that the kernel checks for.
        ByteBuffer body = body(Protocol.NOTIFY_INVAL_ENTRY_SIZE + name.length + 1);
        body.putLong(0, parent).putInt(8, name.length).putInt(12, 0)
                .put(Protocol.NOTIFY_INVAL_ENTRY_SIZE, name);
        return sendNotification(Protocol.NOTIFY_INVAL_ENTRY, body.array());
    }

    private static ByteBuffer body(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.nativeOrder());
    }

    /**
     * Writes a notification: a header with unique 0 and {@code code} in its error field,
     * then {@code body}. Returns 0 or {@code -errno}, which is ENODEV once the device is
     * closed.
     */
    private long sendNotification(int code, byte[] body) {
        int length = Protocol.OUT_HEADER_SIZE + body.length;
        long stamp = callLock.readLock();
        try (Arena arena = Arena.ofConfined()) {
            if (closed) {
                return -Errno.ENODEV;
            }
            MemorySegment message = arena.allocate(length, 8);
            message.set(Encoding.INT, 0, length);
            message.set(Encoding.INT, 4, code);
            message.set(Encoding.LONG, 8, 0L);
            MemorySegment.copy(body, 0, message, ValueLayout.JAVA_BYTE,
                    Protocol.OUT_HEADER_SIZE, body.length);
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = device.number();
            long written = invoke(() -> (long) WRITE.invokeExact(state, fd, message,
                    (long) length));
            return written < 0 ? -(int) ERRNO.get(state, 0L) : 0;
        } finally {
            callLock.unlockRead(stamp);
        }
    }

    /** Opens a per-thread channel whose buffers live in {@code arena}. */
    Channel channel(Arena arena) throws IOException {
        return new Channel(arena);
    }

    /**
     * Makes every worker's {@link Channel#awaitRequest()} return false from now on. Does nothing
     * once the device is closed.
     */
    void wake() throws PosixException {
        long stamp = callLock.readLock();
        try {
            if (closed) {
                return;
            }
            byte[] one = {1, 0, 0, 0, 0, 0, 0, 0};
            wakeup.write(one, 0, one.length);
        } finally {
            callLock.unlockRead(stamp);
        }
    }

    /** Returns whether {@link #close} was called. */
    boolean isClosed() {
        return closed;
    }

    /**
     * Closes both descriptors, so the kernel aborts the connection once no other process has
     * the device open. No call on them starts from here on, and the calls under way get up to
     * {@code timeout} to end. Later calls close what is still open.
     *
     * @return whether the descriptors are closed; false when a call under way did not end in
     *     time, which leaves them open until the process exits
     */
    boolean close(Duration timeout) throws PosixException {
        closed = true;
        long stamp;
        try {
            stamp = callLock.tryWriteLock(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        if (stamp == 0) {
            return false;
        }
        try {
            if (!released) {
                released = true;
                try {
                    device.close();
                } finally {
                    wakeup.close();
                }
            }
            return true;
        } finally {
            callLock.unlockWrite(stamp);
        }
    }

    /**
     * The native calls of one worker thread: its errno capture segment and an epoll instance
     * that waits for the device and the wake-up eventfd.
     */
    final class Channel implements AutoCloseable {

        private final MemorySegment callState;
        private final MemorySegment events;
        private final int deviceFd;
        private final int epollFd;

        private Channel(Arena arena) throws IOException {
            this.callState = arena.allocate(CALL_STATE);
            this.events = arena.allocate(2L * EPOLL_EVENT_SIZE, 8);
            this.deviceFd = device.number();
            this.epollFd = (int) checked("epoll_create1",
                    invoke(() -> (int) EPOLL_CREATE1.invokeExact(callState, EPOLL_CLOEXEC)));
            try {
                watch(deviceFd, EPOLLIN | EPOLLEXCLUSIVE, 0);
                watch(wakeup.number(), EPOLLIN, WAKEUP_TOKEN);
            } catch (IOException e) {
                close();
                throw e;
            }
        }

        private void watch(int fd, int flags, long token) throws IOException {
            MemorySegment event = events.asSlice(0, EPOLL_EVENT_SIZE);
            event.set(ValueLayout.JAVA_INT_UNALIGNED, 0, flags);
            event.set(ValueLayout.JAVA_LONG_UNALIGNED, EPOLL_DATA_OFFSET, token);
            checked("epoll_ctl", invoke(() -> (int) EPOLL_CTL.invokeExact(callState, epollFd,
                    EPOLL_CTL_ADD, fd, event)));
        }

        /**
         * Reads one request into {@code buffer} and returns its length or {@code -errno}, which
         * is ENODEV once the device is closed.
         */
        long read(MemorySegment buffer) {
            return transfer(READ, buffer);
        }

        /**
         * Writes one reply and returns the count written or {@code -errno}, which is ENODEV once
         * the device is closed.
         */
        long write(MemorySegment reply) {
            return transfer(WRITE, reply);
        }

        /** Calls read(2) or write(2) on the device with all of {@code buffer}. */
        private long transfer(MethodHandle call, MemorySegment buffer) {
            long size = buffer.byteSize();
            long stamp = callLock.readLock();
            try {
                if (closed) {
                    return -Errno.ENODEV;
                }
                long result = invoke(() -> (long) call.invokeExact(callState, deviceFd, buffer,
                        size));
                return result < 0 ? -errno() : result;
            } finally {
                callLock.unlockRead(stamp);
            }
        }

        /**
         * Waits until a request may be waiting or the device reports an error, which the next
         * read returns. Returns false once {@link FuseDevice#wake()} was called.
         */
        boolean awaitRequest() {
            long ready = invoke(() -> (int) EPOLL_WAIT.invokeExact(callState, epollFd, events, 2,
                    -1));
            if (ready < 0 && errno() != Errno.EINTR) {
                throw new IllegalStateException("epoll_wait on /dev/fuse failed: "
                        + Errno.description(errno()) + " (" + Errno.name(errno()) + ")");
            }
            for (int i = 0; i < ready; i++) {
                long token = events.get(ValueLayout.JAVA_LONG_UNALIGNED,
                        (long) i * EPOLL_EVENT_SIZE + EPOLL_DATA_OFFSET);
                if (token == WAKEUP_TOKEN) {
                    return false;
                }
            }
            return true;
        }

        /** Closes the epoll instance. */
        @Override
        public void close() {
            invoke(() -> (int) CLOSE.invokeExact(callState, epollFd));
        }

        private long checked(String call, long result) throws IOException {
            if (result < 0) {
                throw new IOException(call + " for /dev/fuse failed: "
                        + Errno.description(errno()) + " (" + Errno.name(errno()) + ")");
            }
            return result;
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
