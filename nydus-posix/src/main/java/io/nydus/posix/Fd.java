package io.nydus.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Objects;
import java.util.OptionalLong;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.LONG;
import static io.nydus.posix.Libc.POINTER;

/**
 * An open file descriptor from {@link Posix#open} or {@link Posix#openat}, closed by
 * {@link #close()}.
 *
 * <p>Reads and writes take a byte array, copied through native memory, or a native
 * {@link MemorySegment}, used directly. An instance is not safe for use by several threads while
 * one of them closes it. {@link #CWD} stands for the working directory in {@code *at} calls.
 */
public final class Fd implements AutoCloseable {

    public static final int SEEK_SET = 0;
    public static final int SEEK_CUR = 1;
    public static final int SEEK_END = 2;
    /** Seek to the next byte at or after the offset that lies in data, not in a hole. */
    public static final int SEEK_DATA = 3;
    /** Seek to the next hole at or after the offset; the end of the file counts as a hole. */
    public static final int SEEK_HOLE = 4;

    /** {@code AT_FDCWD}: the working directory, for the {@code dir} of {@code *at} calls. */
    public static final Fd CWD = new Fd(Libc.AT_FDCWD, BytePath.of("."), false);

    /** The largest transfer of one byte-array read or write, so buffers stay small. */
    private static final int MAX_ARRAY_TRANSFER = 1 << 20;

    private static final MethodHandle CLOSE = Libc.function("close", Libc.descriptor(INT, INT));
    private static final MethodHandle READ =
            Libc.function("read", Libc.descriptor(LONG, INT, POINTER, LONG));
    private static final MethodHandle PREAD =
            Libc.function("pread64", Libc.descriptor(LONG, INT, POINTER, LONG, LONG));
    private static final MethodHandle WRITE =
            Libc.function("write", Libc.descriptor(LONG, INT, POINTER, LONG));
    private static final MethodHandle PWRITE =
            Libc.function("pwrite64", Libc.descriptor(LONG, INT, POINTER, LONG, LONG));
    private static final Libc.LazyHandle FTRUNCATE =
            Libc.lazyFunction("ftruncate64", Libc.descriptor(INT, INT, LONG));
    private static final Libc.LazyHandle LSEEK =
            Libc.lazyFunction("lseek64", Libc.descriptor(LONG, INT, LONG, INT));
    private static final Libc.LazyHandle FSYNC =
            Libc.lazyFunction("fsync", Libc.descriptor(INT, INT));
    private static final Libc.LazyHandle DUP2 =
            Libc.lazyFunction("dup2", Libc.descriptor(INT, INT, INT));
    private static final Libc.LazyHandle FCHMOD =
            Libc.lazyFunction("fchmod", Libc.descriptor(INT, INT, INT));
    private static final Libc.LazyHandle FCHOWN =
            Libc.lazyFunction("fchown", Libc.descriptor(INT, INT, INT, INT));
    private static final Libc.LazyHandle FUTIMENS =
            Libc.lazyFunction("futimens", Libc.descriptor(INT, INT, POINTER));

    private static final Libc.LazyHandle FCNTL = Libc.lazyVariadic("fcntl",
            Libc.descriptor(INT, INT, INT, INT), 2);
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;

    private final int fd;
    private final BytePath path;
    private final boolean owned;
    private boolean closed;

    private Fd(int fd, BytePath path, boolean owned) {
        this.fd = fd;
        this.path = path;
        this.owned = owned;
    }

    /** Wraps the descriptor {@code fd}, opened from {@code path}, which {@link #close()} closes. */
    static Fd opened(int fd, BytePath path) {
        return new Fd(fd, path, true);
    }

    /**
     * Takes ownership of a descriptor opened elsewhere, such as by a child process or socket.
     *
     * @param label the path or name shown in error messages
     */
    public static Fd adopt(int fd, BytePath label) {
        if (fd < 0) {
            throw new IllegalArgumentException("file descriptor must not be negative, got " + fd);
        }
        return new Fd(fd, label, true);
    }

    /**
     * Hands the descriptor over to a new instance that shows {@code label} in errors. This
     * instance counts as closed afterwards, so the descriptor is closed once.
     */
    Fd relabeled(BytePath label) {
        checkOpen();
        closed = true;
        return new Fd(fd, label, owned);
    }

    /** Returns the descriptor number. */
    public int number() {
        checkOpen();
        return fd;
    }

    /** Returns the path this descriptor was opened from, as used in error messages. */
    public BytePath path() {
        return path;
    }

    /**
     * Reads up to {@code length} bytes at the file offset into {@code buffer}.
     *
     * @return the number of bytes read, 0 at the end of the file
     */
    public int read(byte[] buffer, int offset, int length) throws PosixException {
        return transferArray(buffer, offset, length, -1, false);
    }

    /** Reads up to {@code dst.byteSize()} bytes at the file offset into the native {@code dst}. */
    public long read(MemorySegment dst) throws PosixException {
        return transfer(dst, -1, false);
    }

    /**
     * Reads up to {@code length} bytes at {@code position} into {@code buffer}, leaving the file
     * offset unchanged.
     *
     * @return the number of bytes read, 0 at or after the end of the file
     */
    public int pread(byte[] buffer, int offset, int length, long position) throws PosixException {
        return transferArray(buffer, offset, length, checkPosition(position), false);
    }

    /** Reads up to {@code dst.byteSize()} bytes at {@code position} into the native {@code dst}. */
    public long pread(MemorySegment dst, long position) throws PosixException {
        return transfer(dst, checkPosition(position), false);
    }

    /**
     * Writes up to {@code length} bytes of {@code buffer} at the file offset.
     *
     * @return the number of bytes written, which may be fewer than {@code length}
     */
    public int write(byte[] buffer, int offset, int length) throws PosixException {
        return transferArray(buffer, offset, length, -1, true);
    }

    /** Writes up to {@code src.byteSize()} bytes of the native {@code src} at the file offset. */
    public long write(MemorySegment src) throws PosixException {
        return transfer(src, -1, true);
    }

    /** Writes up to {@code length} bytes of {@code buffer} at {@code position}. */
    public int pwrite(byte[] buffer, int offset, int length, long position)
            throws PosixException {
        return transferArray(buffer, offset, length, checkPosition(position), true);
    }

    /** Writes up to {@code src.byteSize()} bytes of the native {@code src} at {@code position}. */
    public long pwrite(MemorySegment src, long position) throws PosixException {
        return transfer(src, checkPosition(position), true);
    }

    /** Writes all of {@code buffer} at the file offset, repeating short writes. */
    public void writeAll(byte[] buffer) throws PosixException {
        int done = 0;
        while (done < buffer.length) {
            done += write(buffer, done, buffer.length - done);
        }
    }

    /** Writes all of {@code buffer} at {@code position}, repeating short writes. */
    public void pwriteAll(byte[] buffer, long position) throws PosixException {
        int done = 0;
        while (done < buffer.length) {
            done += pwrite(buffer, done, buffer.length - done, position + done);
        }
    }

    /** Sets the file's length to {@code length}, cutting data or adding a hole. */
    public void ftruncate(long length) throws PosixException {
        checkPosition(length);
        call("ftruncate", state -> (int) FTRUNCATE.get().invokeExact(state, number(), length));
    }

    /** Moves the file offset like {@code lseek(2)} and returns the new offset. */
    public long lseek(long offset, int whence) throws PosixException {
        return call("lseek",
                state -> (long) LSEEK.get().invokeExact(state, number(), offset, whence));
    }

    /**
     * Returns the start of the first data region at or after {@code offset}, or empty when only
     * a hole follows (ENXIO). Moves the file offset there.
     */
    public OptionalLong seekData(long offset) throws PosixException {
        return seekOrEnd(offset, SEEK_DATA);
    }

    /**
     * Returns the start of the first hole at or after {@code offset}, which is the file size
     * when data runs to the end, or empty when {@code offset} is past the end (ENXIO).
     */
    public OptionalLong seekHole(long offset) throws PosixException {
        return seekOrEnd(offset, SEEK_HOLE);
    }

    private OptionalLong seekOrEnd(long offset, int whence) throws PosixException {
        try {
            return OptionalLong.of(lseek(checkPosition(offset), whence));
        } catch (PosixException e) {
            if (e.is(Errno.ENXIO)) {
                return OptionalLong.empty();
            }
            throw e;
        }
    }

    /** Returns the status of the open file, like {@code fstat(2)}. */
    public Stat fstat() throws PosixException {
        return StatCall.fstat(number(), path);
    }

    /** Flushes the file's data and metadata to the storage device. */
    public void fsync() throws PosixException {
        call("fsync", state -> (int) FSYNC.get().invokeExact(state, number()));
    }

    /**
     * Makes descriptor {@code target} refer to this open file, like {@code dup2(2)}; whatever
     * {@code target} referred to before is closed. The new descriptor is not close-on-exec.
     */
    public void duplicateTo(int target) throws PosixException {
        if (target < 0) {
            throw new IllegalArgumentException("target descriptor must not be negative, got "
                    + target);
        }
        call("dup2", state -> (int) DUP2.get().invokeExact(state, number(), target));
    }

    /** Sets the permission bits (07777) of the open file. */
    public void fchmod(int mode) throws PosixException {
        int bits = Posix.checkPermissions(mode);
        call("fchmod", state -> (int) FCHMOD.get().invokeExact(state, number(), bits));
    }

    /** Sets the owner of the open file; -1 leaves that id unchanged. */
    public void fchown(long uid, long gid) throws PosixException {
        int user = Posix.checkId("uid", uid);
        int group = Posix.checkId("gid", gid);
        call("fchown", state -> (int) FCHOWN.get().invokeExact(state, number(), user, group));
    }

    /** Sets access and modification times of the open file; see {@link Timespec#omit()}. */
    public void futimens(Timespec atime, Timespec mtime) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment times = Posix.timespecPair(arena, atime, mtime);
            Libc.check(arena, "futimens", path,
                    state -> (int) FUTIMENS.get().invokeExact(state, number(), times));
        }
    }

    /** Sets O_NONBLOCK on the open file, which every descriptor of that file shares. */
    public void setNonBlocking() throws PosixException {
        int descriptor = number();
        int flags = (int) call("fcntl", state ->
                (int) FCNTL.get().invokeExact(state, descriptor, F_GETFL, 0));
        if ((flags & OpenFlags.O_NONBLOCK) == 0) {
            int nonBlocking = flags | OpenFlags.O_NONBLOCK;
            call("fcntl", state ->
                    (int) FCNTL.get().invokeExact(state, descriptor, F_SETFL, nonBlocking));
        }
    }

    /** Closes the descriptor; later calls are ignored. {@link #CWD} is never closed. */
    @Override
    public void close() throws PosixException {
        if (closed || !owned) {
            return;
        }
        closed = true;
        try (Arena arena = Arena.ofConfined()) {
            // The kernel frees the descriptor even when close fails, so it is never retried.
            long result = Libc.tryOnce(arena, state -> (int) CLOSE.invokeExact(state, fd));
            if (result < 0 && result != -Errno.EINTR) {
                throw PosixException.of((int) -result, "close", path, String.valueOf(path));
            }
        }
    }

    private int transferArray(byte[] buffer, int offset, int length, long position,
            boolean write) throws PosixException {
        Objects.checkFromIndexSize(offset, length, buffer.length);
        int size = Math.min(length, MAX_ARRAY_TRANSFER);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bounce = arena.allocate(Math.max(size, 1)).asSlice(0, size);
            if (write) {
                MemorySegment.copy(buffer, offset, bounce, ValueLayout.JAVA_BYTE, 0, size);
                return (int) transfer(bounce, position, true);
            }
            int count = (int) transfer(bounce, position, false);
            MemorySegment.copy(bounce, ValueLayout.JAVA_BYTE, 0, buffer, offset, count);
            return count;
        }
    }

    private long transfer(MemorySegment segment, long position, boolean write)
            throws PosixException {
        if (!segment.isNative()) {
            throw new IllegalArgumentException("read and write need a native memory segment");
        }
        long size = segment.byteSize();
        int descriptor = number();
        if (write) {
            return position < 0
                    ? call("write", s -> (long) WRITE.invokeExact(s, descriptor, segment, size))
                    : call("pwrite", s ->
                            (long) PWRITE.invokeExact(s, descriptor, segment, size, position));
        }
        return position < 0
                ? call("read", s -> (long) READ.invokeExact(s, descriptor, segment, size))
                : call("pread", s ->
                        (long) PREAD.invokeExact(s, descriptor, segment, size, position));
    }

    private long call(String operation, Libc.Call call) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            return Libc.check(arena, operation, path, call);
        }
    }

    private static long checkPosition(long position) {
        if (position < 0) {
            throw new IllegalArgumentException("file position must not be negative, got "
                    + position);
        }
        return position;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("file descriptor for " + path + " is closed");
        }
    }

    @Override
    public String toString() {
        return "Fd[" + fd + ", " + path + (closed ? ", closed" : "") + "]";
    }
}
