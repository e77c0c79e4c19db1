package io.nydus.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.LONG;
import static io.nydus.posix.Libc.POINTER;

/**
 * Extended attributes with raw byte names and values.
 *
 * <p>Methods on a path never follow a final symlink ({@code llistxattr}, {@code lgetxattr},
 * {@code lsetxattr}, {@code lremovexattr}); methods on an {@link Fd} use the {@code f*}
 * calls. Names carry their namespace prefix ({@code user.}, {@code trusted.},
 * {@code security.}, {@code system.}) and are 1 to 255 bytes without NUL. Values are up to
 * 65536 bytes. A file system without extended attributes (ENOTSUP) lists none and has none.
 */
public final class Xattrs {

    /** Make {@code set} fail with EEXIST if the attribute exists. */
    public static final int XATTR_CREATE = 1;
    /** Make {@code set} fail with ENODATA if the attribute does not exist. */
    public static final int XATTR_REPLACE = 2;
    /** The largest value and the largest name list the kernel handles, in bytes. */
    public static final int MAX_SIZE = 65536;

    private static final int MAX_NAME_LENGTH = 255;
    private static final int FIRST_BUFFER_SIZE = 4096;
    private static final int MAX_SIZE_ATTEMPTS = 5;
    private static final long ABSENT = -1;
    private static final long TOO_SMALL = -2;

    private static final Libc.LazyHandle LLISTXATTR =
            Libc.lazyFunction("llistxattr", Libc.descriptor(LONG, POINTER, POINTER, LONG));
    private static final Libc.LazyHandle FLISTXATTR =
            Libc.lazyFunction("flistxattr", Libc.descriptor(LONG, INT, POINTER, LONG));
    private static final Libc.LazyHandle LGETXATTR =
            Libc.lazyFunction("lgetxattr", Libc.descriptor(LONG, POINTER, POINTER, POINTER, LONG));
    private static final Libc.LazyHandle FGETXATTR =
            Libc.lazyFunction("fgetxattr", Libc.descriptor(LONG, INT, POINTER, POINTER, LONG));
    private static final Libc.LazyHandle LSETXATTR =
            Libc.lazyFunction("lsetxattr",
            Libc.descriptor(INT, POINTER, POINTER, POINTER, LONG, INT));
    private static final Libc.LazyHandle FSETXATTR =
            Libc.lazyFunction("fsetxattr",
            Libc.descriptor(INT, INT, POINTER, POINTER, LONG, INT));
    private static final Libc.LazyHandle LREMOVEXATTR =
            Libc.lazyFunction("lremovexattr", Libc.descriptor(INT, POINTER, POINTER));
    private static final Libc.LazyHandle FREMOVEXATTR =
            Libc.lazyFunction("fremovexattr", Libc.descriptor(INT, INT, POINTER));

    private Xattrs() {
    }

    /** A sized native call: fills {@code buffer} up to {@code size} bytes. */
    @FunctionalInterface
    private interface SizedCall {
        long invoke(MemorySegment callState, MemorySegment buffer, long size) throws Throwable;
    }

    /** Returns the names of the extended attributes of {@code path}, in the kernel's order. */
    public static List<byte[]> list(BytePath path) throws PosixException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            return splitNames(readSized(arena, "llistxattr", path, path.toString(),
                    (state, buffer, size) ->
                            (long) LLISTXATTR.get().invokeExact(state, cPath, buffer, size)));
        }
    }

    /** Returns the names of the extended attributes of the open file {@code fd}. */
    public static List<byte[]> list(Fd fd) throws PosixException {
        int number = fd.number();
        try (Arena arena = Arena.ofConfined()) {
            return splitNames(readSized(arena, "flistxattr", fd.path(), fd.path().toString(),
                    (state, buffer, size) ->
                            (long) FLISTXATTR.get().invokeExact(state, number, buffer, size)));
        }
    }

    /** Returns the value of attribute {@code name} of {@code path}, or empty if it has none. */
    public static Optional<byte[]> get(BytePath path, byte[] name) throws PosixException {
        String subject = path + " " + BytePath.escape(checkName(name));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            MemorySegment cName = BytePath.cString(arena, name);
            return Optional.ofNullable(readSized(arena, "lgetxattr", path, subject,
                    (state, buffer, size) ->
                            (long) LGETXATTR.get().invokeExact(state, cPath, cName, buffer, size)));
        }
    }

    /** Returns the value of the attribute with UTF-8 name {@code name}; see {@link #get}. */
    public static Optional<byte[]> get(BytePath path, String name) throws PosixException {
        return get(path, name.getBytes(StandardCharsets.UTF_8));
    }

    /** Returns the value of attribute {@code name} of the open file, or empty if it has none. */
    public static Optional<byte[]> get(Fd fd, byte[] name) throws PosixException {
        String subject = fd.path() + " " + BytePath.escape(checkName(name));
        int number = fd.number();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = BytePath.cString(arena, name);
            return Optional.ofNullable(readSized(arena, "fgetxattr", fd.path(), subject,
                    (state, buffer, size) -> (long) FGETXATTR.get()
                            .invokeExact(state, number, cName, buffer, size)));
        }
    }

    /**
     * Sets attribute {@code name} of {@code path} to {@code value}.
     *
     * @param flags 0, {@link #XATTR_CREATE} or {@link #XATTR_REPLACE}
     */
    public static void set(BytePath path, byte[] name, byte[] value, int flags)
            throws PosixException {
        String subject = path + " " + BytePath.escape(checkName(name));
        checkValue(value, subject);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            MemorySegment cName = BytePath.cString(arena, name);
            MemorySegment cValue = copyOf(arena, value);
            long length = value.length;
            Libc.check(arena, "lsetxattr", path, subject, state ->
                    (int) LSETXATTR.get().invokeExact(state, cPath, cName, cValue, length, flags));
        }
    }

    /** Sets the attribute with UTF-8 name {@code name}, creating or replacing it. */
    public static void set(BytePath path, String name, byte[] value) throws PosixException {
        set(path, name.getBytes(StandardCharsets.UTF_8), value, 0);
    }

    /** Sets attribute {@code name} of the open file; flags as for the path variant. */
    public static void set(Fd fd, byte[] name, byte[] value, int flags) throws PosixException {
        String subject = fd.path() + " " + BytePath.escape(checkName(name));
        checkValue(value, subject);
        int number = fd.number();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = BytePath.cString(arena, name);
            MemorySegment cValue = copyOf(arena, value);
            long length = value.length;
            Libc.check(arena, "fsetxattr", fd.path(), subject, state ->
                    (int) FSETXATTR.get().invokeExact(state, number, cName, cValue, length, flags));
        }
    }

    /** Removes attribute {@code name} of {@code path}; fails with ENODATA if it is absent. */
    public static void remove(BytePath path, byte[] name) throws PosixException {
        String subject = path + " " + BytePath.escape(checkName(name));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cPath = path.toCString(arena);
            MemorySegment cName = BytePath.cString(arena, name);
            Libc.check(arena, "lremovexattr", path, subject, state ->
                    (int) LREMOVEXATTR.get().invokeExact(state, cPath, cName));
        }
    }

    /** Removes attribute {@code name} of the open file; fails with ENODATA if it is absent. */
    public static void remove(Fd fd, byte[] name) throws PosixException {
        String subject = fd.path() + " " + BytePath.escape(checkName(name));
        int number = fd.number();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = BytePath.cString(arena, name);
            Libc.check(arena, "fremovexattr", fd.path(), subject, state ->
                    (int) FREMOVEXATTR.get().invokeExact(state, number, cName));
        }
    }

    /**
     * Reads a variable-size result: first into a small buffer, and after ERANGE into a buffer of
     * the size the kernel reports for a zero-size call. The size can change between the two
     * calls, and the attribute can be removed between them, so this repeats a few times.
     *
     * @return the bytes, or null for ENODATA and ENOTSUP
     */
    private static byte[] readSized(Arena arena, String operation, BytePath path, String subject,
            SizedCall call) throws PosixException {
        long size = FIRST_BUFFER_SIZE;
        for (int attempt = 0; attempt < MAX_SIZE_ATTEMPTS; attempt++) {
            MemorySegment buffer = arena.allocate(Math.max(size, 1));
            long capacity = size;
            long result = callSized(arena, operation, path, subject,
                    state -> call.invoke(state, buffer, capacity));
            if (result >= 0) {
                return buffer.asSlice(0, result).toArray(ValueLayout.JAVA_BYTE);
            }
            if (result == ABSENT) {
                return null;
            }
            size = callSized(arena, operation, path, subject,
                    state -> call.invoke(state, MemorySegment.NULL, 0L));
            if (size == ABSENT) {
                return null;
            }
            if (size < 0) {
                throw PosixException.of(Errno.ERANGE, operation, path, subject);
            }
        }
        throw PosixException.of(Errno.ERANGE, operation, path, subject);
    }

    /**
     * Runs a sized call, repeating it after EINTR.
     *
     * @return the call's result; {@link #ABSENT} for ENODATA and ENOTSUP; {@link #TOO_SMALL} for
     *     ERANGE
     */
    private static long callSized(Arena arena, String operation, BytePath path, String subject,
            Libc.Call call) throws PosixException {
        while (true) {
            long result = Libc.tryOnce(arena, call);
            if (result >= 0) {
                return result;
            }
            int errno = (int) -result;
            if (errno == Errno.ENODATA || errno == Errno.ENOTSUP) {
                return ABSENT;
            }
            if (errno == Errno.ERANGE) {
                return TOO_SMALL;
            }
            if (errno != Errno.EINTR) {
                throw PosixException.of(errno, operation, path, subject);
            }
        }
    }

    private static List<byte[]> splitNames(byte[] list) {
        List<byte[]> names = new ArrayList<>();
        if (list == null) {
            return names;
        }
        int start = 0;
        for (int i = 0; i < list.length; i++) {
            if (list[i] == 0) {
                if (i > start) {
                    names.add(Arrays.copyOfRange(list, start, i));
                }
                start = i + 1;
            }
        }
        return names;
    }

    private static byte[] checkName(byte[] name) {
        if (name.length == 0 || name.length > MAX_NAME_LENGTH) {
            throw new IllegalArgumentException("extended attribute name must be 1 to "
                    + MAX_NAME_LENGTH + " bytes, got " + name.length + ": "
                    + BytePath.escape(name));
        }
        for (byte b : name) {
            if (b == 0) {
                throw new IllegalArgumentException(
                        "extended attribute name contains NUL: " + BytePath.escape(name));
            }
        }
        return name;
    }

    private static void checkValue(byte[] value, String subject) {
        if (value.length > MAX_SIZE) {
            throw new IllegalArgumentException("extended attribute value of " + subject
                    + " is " + value.length + " bytes, more than " + MAX_SIZE);
        }
    }

    private static MemorySegment copyOf(Arena arena, byte[] value) {
        MemorySegment segment = arena.allocate(Math.max(value.length, 1));
        MemorySegment.copy(value, 0, segment, ValueLayout.JAVA_BYTE, 0, value.length);
        return segment;
    }
}
