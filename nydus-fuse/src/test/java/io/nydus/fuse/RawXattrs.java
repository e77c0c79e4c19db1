package io.nydus.fuse;

import io.nydus.posix.BytePath;
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
 * lgetxattr(2) and llistxattr(2) with a caller-chosen buffer size, which {@code Xattrs} hides,
 * to check the size-0 probe and ERANGE.
 */
final class RawXattrs {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(
            MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle LGETXATTR = handle("lgetxattr", ValueLayout.ADDRESS,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);
    private static final MethodHandle LLISTXATTR = handle("llistxattr", ValueLayout.ADDRESS,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);

    private RawXattrs() {
    }

    /** Returns lgetxattr's result with a buffer of {@code size} bytes, or {@code -errno}. */
    static long getxattr(BytePath path, String name, long size) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment buffer = size == 0 ? MemorySegment.NULL : arena.allocate(size);
            long result = (long) LGETXATTR.invokeExact(state, cPath(arena, path),
                    arena.allocateFrom(name), buffer, size);
            return result < 0 ? -(int) ERRNO.get(state, 0L) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Returns llistxattr's result with a buffer of {@code size} bytes, or {@code -errno}. */
    static long listxattr(BytePath path, long size) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment buffer = size == 0 ? MemorySegment.NULL : arena.allocate(size);
            long result = (long) LLISTXATTR.invokeExact(state, cPath(arena, path), buffer, size);
            return result < 0 ? -(int) ERRNO.get(state, 0L) : result;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static MemorySegment cPath(Arena arena, BytePath path) {
        byte[] bytes = path.bytes();
        MemorySegment segment = arena.allocate(bytes.length + 1L);
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return segment;
    }

    private static MethodHandle handle(String name, ValueLayout... arguments) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, arguments),
                Linker.Option.captureCallState("errno"));
    }
}
