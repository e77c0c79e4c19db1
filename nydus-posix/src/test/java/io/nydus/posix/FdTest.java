package io.nydus.posix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FdTest {

    private static final int CREATE = OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_EXCL
            | OpenFlags.O_CLOEXEC;

    private ScratchDirectory scratch;

    @BeforeEach
    void createScratch() throws IOException {
        scratch = ScratchDirectory.create();
    }

    @AfterEach
    void deleteScratch() throws IOException {
        scratch.close();
    }

    @Test
    void writeThenReadBytes() throws IOException {
        BytePath file = scratch.resolve("f");
        byte[] data = {0, 1, (byte) 0xff, '\n'};
        try (Fd fd = Posix.open(file, CREATE, 0600)) {
            fd.writeAll(data);
            assertEquals(0, fd.lseek(0, Fd.SEEK_SET));
            byte[] back = new byte[8];
            assertEquals(4, fd.read(back, 2, 6));
            assertArrayEquals(data, java.util.Arrays.copyOfRange(back, 2, 6));
            assertEquals(0, fd.read(back, 0, 8));
        }
    }

    @Test
    void preadAndPwriteLeaveOffset() throws IOException {
        BytePath file = scratch.resolve("f");
        try (Fd fd = Posix.open(file, CREATE, 0600)) {
            fd.pwriteAll("hello world".getBytes(StandardCharsets.US_ASCII), 0);
            fd.pwrite("W".getBytes(StandardCharsets.US_ASCII), 0, 1, 6);
            byte[] word = new byte[5];
            assertEquals(5, fd.pread(word, 0, 5, 6));
            assertEquals("World", new String(word, StandardCharsets.US_ASCII));
            assertEquals(0, fd.lseek(0, Fd.SEEK_CUR));
        }
    }

    @Test
    void segmentReadAndWrite() throws IOException {
        BytePath file = scratch.resolve("f");
        try (Fd fd = Posix.open(file, CREATE, 0600); Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(3);
            out.set(ValueLayout.JAVA_BYTE, 0, (byte) 7);
            out.set(ValueLayout.JAVA_BYTE, 2, (byte) 9);
            assertEquals(3, fd.pwrite(out, 10));
            MemorySegment in = arena.allocate(16);
            assertEquals(13, fd.pread(in, 0));
            assertEquals(7, in.get(ValueLayout.JAVA_BYTE, 10));
            assertEquals(9, in.get(ValueLayout.JAVA_BYTE, 12));
            assertEquals(3, fd.write(out));
            assertEquals(3, fd.lseek(0, Fd.SEEK_CUR));
        }
    }

    @Test
    void heapSegmentIsRejected() throws IOException {
        try (Fd fd = Posix.open(scratch.resolve("f"), CREATE, 0600)) {
            MemorySegment heap = MemorySegment.ofArray(new byte[4]);
            assertThrows(IllegalArgumentException.class, () -> fd.read(heap));
        }
    }

    @Test
    void sparseFileHolesAndData() throws IOException {
        BytePath file = scratch.resolve("sparse");
        long size = 64L << 20;
        try (Fd fd = Posix.open(file, CREATE, 0600)) {
            fd.ftruncate(size);
            fd.pwriteAll(new byte[] {1, 2, 3, 4}, size - 4);
            fd.fsync();
            long dataStart = fd.seekData(0).orElseThrow();
            assertTrue(dataStart >= size - 4096, "data at " + dataStart);
            assertTrue(dataStart <= size - 4, "data at " + dataStart);
            assertEquals(OptionalLong.of(0), fd.seekHole(0));
            assertEquals(OptionalLong.of(size), fd.seekHole(dataStart));
            assertEquals(OptionalLong.empty(), fd.seekData(size));
            Stat stat = fd.fstat();
            assertEquals(size, stat.size());
            assertTrue(stat.blocks() * 512 < 1 << 20, "allocated " + stat.blocks() * 512);
        }
    }

    @Test
    void duplicateToRedirectsTargetDescriptor() throws IOException {
        BytePath first = scratch.resolve("first");
        BytePath second = scratch.resolve("second");
        try (Fd target = Posix.open(first, CREATE, 0600);
                Fd source = Posix.open(second, CREATE, 0600)) {
            source.duplicateTo(target.number());
            target.writeAll("through the copy".getBytes(StandardCharsets.US_ASCII));

            assertEquals(0, Posix.stat(first).size());
            assertEquals(source.fstat().ino(), target.fstat().ino());
            assertEquals("through the copy".length(), Posix.stat(second).size());
        }
    }

    @Test
    void ftruncateShrinks() throws IOException {
        try (Fd fd = Posix.open(scratch.resolve("f"), CREATE, 0600)) {
            fd.writeAll(new byte[100]);
            fd.ftruncate(10);
            assertEquals(10, fd.fstat().size());
        }
    }

    @Test
    void createExclusiveFailsOnExisting() throws IOException {
        BytePath file = scratch.resolve("f");
        Posix.open(file, CREATE, 0600).close();
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.open(file, CREATE, 0600));
        assertEquals(Errno.EEXIST, e.errno());
        assertEquals("open", e.call());
    }

    @Test
    void noFollowRejectsSymlink() throws IOException {
        BytePath link = scratch.resolve("link");
        Posix.symlink("target".getBytes(StandardCharsets.UTF_8), link);
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.open(link, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW));
        assertEquals(Errno.ELOOP, e.errno());
    }

    @Test
    void directoryFlagRejectsFile() throws IOException {
        BytePath file = scratch.resolve("f");
        Posix.open(file, CREATE, 0600).close();
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.open(file, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY));
        assertEquals(Errno.ENOTDIR, e.errno());
    }

    @Test
    void pathDescriptorOnSymlinkStatsTheLink() throws IOException {
        BytePath link = scratch.resolve("link");
        Posix.symlink("abc".getBytes(StandardCharsets.UTF_8), link);
        try (Fd fd = Posix.open(link, OpenFlags.O_PATH | OpenFlags.O_NOFOLLOW)) {
            Stat stat = fd.fstat();
            assertTrue(stat.isSymlink());
            assertEquals(3, stat.size());
        }
    }

    @Test
    void fchmodFchownFutimens() throws IOException {
        try (Fd fd = Posix.open(scratch.resolve("f"), CREATE, 0600)) {
            fd.fchown(123, 456);
            fd.fchmod(06711);
            fd.futimens(Timespec.omit(), new Timespec(-1, 999_999_999));
            Stat stat = fd.fstat();
            assertEquals(123, stat.uid());
            assertEquals(456, stat.gid());
            assertEquals(06711, stat.permissions());
            assertEquals(new Timespec(-1, 999_999_999), stat.mtime());
        }
    }

    @Test
    void closedDescriptorIsRejected() throws IOException {
        Fd fd = Posix.open(scratch.resolve("f"), CREATE, 0600);
        fd.close();
        fd.close();
        assertThrows(IllegalStateException.class, fd::fstat);
    }

    @Test
    void readBeyondOneMebibyteIsShortButComplete() throws IOException {
        byte[] data = new byte[3 << 20];
        new java.util.Random(1).nextBytes(data);
        try (Fd fd = Posix.open(scratch.resolve("f"), CREATE, 0600)) {
            fd.writeAll(data);
            byte[] back = new byte[data.length];
            int done = 0;
            while (done < back.length) {
                int count = fd.pread(back, done, back.length - done, done);
                assertTrue(count > 0);
                done += count;
            }
            assertArrayEquals(data, back);
        }
    }
}
