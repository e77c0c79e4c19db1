package io.nydus.posix;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.LONG;
import static io.nydus.posix.Libc.POINTER;

/**
 * Stream sockets in the file system that carry a file descriptor beside their bytes
 * ({@code SCM_RIGHTS}), which Java's own socket channels cannot. A sender connects, sends its
 * bytes with one descriptor and closes. The receiver reads until the end of the stream.
 *
 * <p>The layouts of {@code msghdr}, {@code iovec} and {@code cmsghdr} are those of 64-bit Linux.
 */
public final class UnixSockets {

    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int MSG_CTRUNC = 0x8;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int POLLIN = 1;
    private static final int SUN_PATH_SIZE = 108;
    private static final int SOCKADDR_UN_SIZE = 2 + SUN_PATH_SIZE;
    private static final int MSGHDR_SIZE = 56;
    private static final int CMSG_HEADER_SIZE = 16;
    /** Room for up to 16 descriptors in one control message. */
    private static final int CONTROL_SIZE = CMSG_HEADER_SIZE + 16 * Integer.BYTES;
    private static final int RECEIVE_BUFFER = 64 * 1024;

    private static final Libc.LazyHandle SOCKET =
            Libc.lazyFunction("socket", Libc.descriptor(INT, INT, INT, INT));
    private static final Libc.LazyHandle BIND =
            Libc.lazyFunction("bind", Libc.descriptor(INT, INT, POINTER, INT));
    private static final Libc.LazyHandle LISTEN =
            Libc.lazyFunction("listen", Libc.descriptor(INT, INT, INT));
    private static final Libc.LazyHandle ACCEPT4 =
            Libc.lazyFunction("accept4", Libc.descriptor(INT, INT, POINTER, POINTER, INT));
    private static final Libc.LazyHandle CONNECT =
            Libc.lazyFunction("connect", Libc.descriptor(INT, INT, POINTER, INT));
    private static final Libc.LazyHandle SENDMSG =
            Libc.lazyFunction("sendmsg", Libc.descriptor(LONG, INT, POINTER, INT));
    private static final Libc.LazyHandle RECVMSG =
            Libc.lazyFunction("recvmsg", Libc.descriptor(LONG, INT, POINTER, INT));
    private static final Libc.LazyHandle POLL =
            Libc.lazyFunction("poll", Libc.descriptor(INT, POINTER, LONG, INT));

    private UnixSockets() {
    }

    /**
     * A message from a peer: its bytes and the descriptors that came with them. The caller owns
     * the descriptors and closes them.
     */
    public record Message(byte[] data, List<Fd> descriptors) {

        public Message {
            data = data.clone();
            descriptors = List.copyOf(descriptors);
        }

        @Override
        public byte[] data() {
            return data.clone();
        }

        /** Closes every descriptor that came with the message. */
        public void closeDescriptors() {
            for (Fd fd : descriptors) {
                try {
                    fd.close();
                } catch (PosixException e) {
                    // A descriptor that cannot be closed leaks nothing more by trying the rest.
                }
            }
        }
    }

    /**
     * Deletes the socket file at {@code path} that an earlier process left, if there is one.
     * Any other kind of file is kept and rejected, because the path then names a user's file
     * by mistake. A socket that accepts a connection is kept and rejected too, because a
     * running process listens there, and taking its path would send its clients elsewhere.
     *
     * @param purpose what the socket serves, for the message, such as "API socket"
     * @throws IOException if {@code path} exists and is not a socket, or a process listens on
     *     it
     */
    public static void deleteStale(Path path, String purpose) throws IOException {
        BytePath file = BytePath.of(path);
        Stat stat;
        try {
            stat = Posix.lstat(file);
        } catch (NoSuchEntryException e) {
            return;
        }
        if (stat.type() != FileType.SOCKET) {
            throw new IOException("cannot listen on " + purpose + " " + path + ": the path"
                    + " exists and is not a socket; remove it or give another path");
        }
        if (accepts(path)) {
            throw new IOException("cannot listen on " + purpose + " " + path + ": another"
                    + " process listens on it; stop that process or give another path");
        }
        Posix.unlink(file);
    }

    /** Returns whether a process accepts connections on the socket file at {@code path}. */
    private static boolean accepts(Path path) {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            return channel.connect(UnixDomainSocketAddress.of(path));
        } catch (IOException e) {
            // Refused, as when the socket file outlived its process, so the file is left over.
            return false;
        }
    }

    /** Binds a listening socket at {@code path}, replacing a socket file left there. */
    public static Fd listen(BytePath path) throws PosixException {
        Fd socket = newSocket(path);
        try (Arena arena = Arena.ofConfined()) {
            Posix.lstatIfExists(path).filter(stat -> stat.type() == FileType.SOCKET)
                    .ifPresent(stat -> unlinkQuietly(path));
            MemorySegment address = address(arena, path);
            int fd = socket.number();
            Libc.check(arena, "bind", path, state ->
                    (int) BIND.get().invokeExact(state, fd, address, SOCKADDR_UN_SIZE));
            Libc.check(arena, "listen", path, state ->
                    (int) LISTEN.get().invokeExact(state, fd, 4));
            return socket;
        } catch (PosixException | RuntimeException e) {
            closeQuietly(socket);
            throw e;
        }
    }

    /**
     * Waits up to {@code timeout} for a peer on {@code listener} and returns its connection,
     * or empty when none came in time.
     */
    public static Optional<Fd> accept(Fd listener, Duration timeout) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            if (!awaitReadable(arena, listener, System.nanoTime() + timeout.toNanos())) {
                return Optional.empty();
            }
            int fd = listener.number();
            long accepted = Libc.check(arena, "accept", listener.path(), state ->
                    (int) ACCEPT4.get().invokeExact(state, fd, MemorySegment.NULL,
                            MemorySegment.NULL, SOCK_CLOEXEC));
            return Optional.of(Fd.adopt((int) accepted, listener.path()));
        }
    }

    /** Connects to the listening socket at {@code path}. */
    public static Fd connect(BytePath path) throws PosixException {
        Fd socket = newSocket(path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = address(arena, path);
            int fd = socket.number();
            Libc.check(arena, "connect", path, state ->
                    (int) CONNECT.get().invokeExact(state, fd, address, SOCKADDR_UN_SIZE));
            return socket;
        } catch (PosixException | RuntimeException e) {
            closeQuietly(socket);
            throw e;
        }
    }

    /**
     * Sends {@code data} with {@code passed} attached to its first byte. The peer gets its own
     * descriptor of the same open file.
     */
    public static void send(Fd socket, byte[] data, Fd passed) throws PosixException {
        if (data.length == 0) {
            throw new IllegalArgumentException("a descriptor travels with at least one byte");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(data.length);
            MemorySegment.copy(data, 0, bytes, ValueLayout.JAVA_BYTE, 0, data.length);
            MemorySegment control = arena.allocate(CMSG_HEADER_SIZE + 8, 8);
            control.set(ValueLayout.JAVA_LONG, 0, CMSG_HEADER_SIZE + Integer.BYTES);
            control.set(ValueLayout.JAVA_INT, 8, SOL_SOCKET);
            control.set(ValueLayout.JAVA_INT, 12, SCM_RIGHTS);
            control.set(ValueLayout.JAVA_INT, CMSG_HEADER_SIZE, passed.number());
            long offset = 0;
            while (offset < data.length) {
                MemorySegment header = header(arena, bytes.asSlice(offset),
                        offset == 0 ? control : MemorySegment.NULL);
                int fd = socket.number();
                offset += Libc.check(arena, "sendmsg", socket.path(), state ->
                        (long) SENDMSG.get().invokeExact(state, fd, header, MSG_NOSIGNAL));
            }
        }
    }

    /**
     * Reads until the peer closes its end and returns the bytes and descriptors it sent.
     *
     * @throws PosixException if the peer does not close within {@code timeout}, the message
     *     exceeds {@code maxBytes}, its control data was cut off (the kernel then closed the
     *     descriptors that did not fit), or a read fails; the descriptors received so far are
     *     closed
     */
    public static Message receive(Fd socket, int maxBytes, Duration timeout)
            throws PosixException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        List<Fd> descriptors = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(RECEIVE_BUFFER);
            MemorySegment control = arena.allocate(CONTROL_SIZE, 8);
            while (true) {
                if (!awaitReadable(arena, socket, deadline)) {
                    throw PosixException.of(Errno.ETIMEDOUT, "recvmsg", socket.path(),
                            "message on " + socket.path() + ": the peer did not finish it"
                                    + " within " + timeout.toMillis() + " ms");
                }
                MemorySegment header = header(arena, buffer, control);
                int fd = socket.number();
                long count = Libc.check(arena, "recvmsg", socket.path(), state ->
                        (long) RECVMSG.get().invokeExact(state, fd, header, MSG_CMSG_CLOEXEC));
                collectDescriptors(header, socket, descriptors);
                if ((header.get(ValueLayout.JAVA_INT, 48) & MSG_CTRUNC) != 0) {
                    throw protocolError(socket, "its control data was cut off");
                }
                if (count == 0) {
                    return new Message(data.toByteArray(), descriptors);
                }
                if (data.size() + count > maxBytes) {
                    throw protocolError(socket, "it sent more than " + maxBytes + " bytes");
                }
                data.write(buffer.asSlice(0, count).toArray(ValueLayout.JAVA_BYTE), 0,
                        (int) count);
            }
        } catch (PosixException | RuntimeException e) {
            new Message(new byte[0], descriptors).closeDescriptors();
            throw e;
        }
    }

    /** Waits until {@code fd} is readable. Returns false once {@code deadline} has passed. */
    private static boolean awaitReadable(Arena arena, Fd fd, long deadline)
            throws PosixException {
        MemorySegment poll = arena.allocate(8, 4);
        poll.set(ValueLayout.JAVA_INT, 0, fd.number());
        poll.set(ValueLayout.JAVA_SHORT, 4, (short) POLLIN);
        long nanos = deadline - System.nanoTime();
        if (nanos <= 0) {
            return false;
        }
        int millis = (int) Math.min(Integer.MAX_VALUE, Math.max(1, nanos / 1_000_000));
        return Libc.check(arena, "poll", fd.path(), state ->
                (int) POLL.get().invokeExact(state, poll, 1L, millis)) > 0;
    }

    private static void collectDescriptors(MemorySegment header, Fd socket, List<Fd> into) {
        long length = header.get(ValueLayout.JAVA_LONG, 40);
        if (length < CMSG_HEADER_SIZE) {
            return;
        }
        MemorySegment control = header.get(ValueLayout.ADDRESS, 32).reinterpret(length);
        long offset = 0;
        while (offset + CMSG_HEADER_SIZE <= length) {
            long cmsgLength = control.get(ValueLayout.JAVA_LONG, offset);
            int level = control.get(ValueLayout.JAVA_INT, offset + 8);
            int type = control.get(ValueLayout.JAVA_INT, offset + 12);
            if (cmsgLength < CMSG_HEADER_SIZE || offset + cmsgLength > length) {
                return;
            }
            if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                for (long at = CMSG_HEADER_SIZE; at + Integer.BYTES <= cmsgLength;
                        at += Integer.BYTES) {
                    int fd = control.get(ValueLayout.JAVA_INT, offset + at);
                    into.add(Fd.adopt(fd, BytePath.of("descriptor from " + socket.path())));
                }
            }
            offset += (cmsgLength + 7) & ~7L;
        }
    }

    private static PosixException protocolError(Fd socket, String reason) {
        return PosixException.of(Errno.EPROTO, "recvmsg", socket.path(),
                "message on " + socket.path() + ": " + reason);
    }

    /** Returns a {@code msghdr} with one {@code iovec} over {@code bytes}. */
    private static MemorySegment header(Arena arena, MemorySegment bytes,
            MemorySegment control) {
        MemorySegment iovec = arena.allocate(16, 8);
        iovec.set(ValueLayout.ADDRESS, 0, bytes);
        iovec.set(ValueLayout.JAVA_LONG, 8, bytes.byteSize());
        MemorySegment header = arena.allocate(MSGHDR_SIZE, 8);
        header.set(ValueLayout.ADDRESS, 16, iovec);
        header.set(ValueLayout.JAVA_LONG, 24, 1);
        header.set(ValueLayout.ADDRESS, 32, control);
        header.set(ValueLayout.JAVA_LONG, 40, control.equals(MemorySegment.NULL) ? 0
                : control.byteSize());
        return header;
    }

    private static Fd newSocket(BytePath path) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            long fd = Libc.check(arena, "socket", path, state ->
                    (int) SOCKET.get().invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
                            0));
            return Fd.adopt((int) fd, path);
        }
    }

    private static MemorySegment address(Arena arena, BytePath path) throws PosixException {
        byte[] name = path.bytes();
        if (name.length >= SUN_PATH_SIZE) {
            throw PosixException.of(Errno.ENAMETOOLONG, "bind", path, path + " is "
                    + name.length + " bytes long; a socket path has at most "
                    + (SUN_PATH_SIZE - 1));
        }
        MemorySegment address = arena.allocate(SOCKADDR_UN_SIZE, 2);
        address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(name, 0, address, ValueLayout.JAVA_BYTE, 2, name.length);
        return address;
    }

    private static void unlinkQuietly(BytePath path) {
        try {
            Posix.unlink(path);
        } catch (PosixException e) {
            // bind reports the path if the file is still there.
        }
    }

    private static void closeQuietly(Fd fd) {
        try {
            fd.close();
        } catch (PosixException e) {
            // The error that made the caller give up matters more.
        }
    }
}
