package io.nydus.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static io.nydus.posix.Libc.INT;
import static io.nydus.posix.Libc.LONG;
import static io.nydus.posix.Libc.POINTER;

/** Lists a directory with {@code getdents64(2)}, which returns names as raw bytes. */
final class DirectoryReader {

    private static final int BUFFER_SIZE = 64 * 1024;
    // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
    private static final long RECORD_LENGTH_OFFSET = 16;
    private static final long NAME_OFFSET = 19;

    private static final MethodHandle GETDENTS64 =
            Libc.function("getdents64", Libc.descriptor(LONG, INT, POINTER, LONG));

    private DirectoryReader() {
    }

    /** Returns the names in {@code dir} from its start, without "." and "..". */
    static List<byte[]> read(Fd dir) throws PosixException {
        return read(dir, 0);
    }

    /**
     * Returns the names in {@code dir} from directory position {@code position} on, without
     * "." and "..". A position is what {@code telldir(3)} returns, and the file system
     * decides what it means.
     */
    static List<byte[]> read(Fd dir, long position) throws PosixException {
        dir.lseek(position, Fd.SEEK_SET);
        List<byte[]> names = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(BUFFER_SIZE, 8);
            int fd = dir.number();
            while (true) {
                long filled = Libc.check(arena, "getdents64", dir.path(), state ->
                        (long) GETDENTS64.invokeExact(state, fd, buffer, (long) BUFFER_SIZE));
                if (filled == 0) {
                    return names;
                }
                decode(buffer.asSlice(0, filled), names);
            }
        }
    }

    private static void decode(MemorySegment records, List<byte[]> names) {
        long offset = 0;
        while (offset < records.byteSize()) {
            int recordLength = Short.toUnsignedInt(
                    records.get(ValueLayout.JAVA_SHORT_UNALIGNED, offset + RECORD_LENGTH_OFFSET));
            MemorySegment nameField = records.asSlice(offset + NAME_OFFSET,
                    recordLength - NAME_OFFSET);
            byte[] name = nameBytes(nameField);
            if (!isDotOrDotDot(name)) {
                names.add(name);
            }
            offset += recordLength;
        }
    }

    private static byte[] nameBytes(MemorySegment field) {
        long length = 0;
        while (field.get(ValueLayout.JAVA_BYTE, length) != 0) {
            length++;
        }
        return field.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
    }

    private static boolean isDotOrDotDot(byte[] name) {
        return (name.length == 1 && name[0] == '.')
                || (name.length == 2 && name[0] == '.' && name[1] == '.');
    }
}
