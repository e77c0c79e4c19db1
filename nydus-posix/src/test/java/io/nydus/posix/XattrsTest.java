package io.nydus.posix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class XattrsTest {

    private static final byte[] BINARY = {0, '\n', (byte) 0xff, 'v', 0};

    private ScratchDirectory scratch;
    private BytePath file;

    @BeforeEach
    void createFile() throws IOException {
        scratch = ScratchDirectory.create();
        file = scratch.resolve("f");
        Posix.open(file, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL, 0644).close();
    }

    @AfterEach
    void deleteScratch() throws IOException {
        scratch.close();
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static List<String> escaped(List<byte[]> names) {
        return names.stream().sorted(Arrays::compareUnsigned).map(BytePath::escape).toList();
    }

    @Test
    void binaryValuesInEveryNamespace() throws IOException {
        for (String name : List.of("user.bin", "trusted.bin", "security.bin")) {
            Xattrs.set(file, utf8(name), BINARY, Xattrs.XATTR_CREATE);
            assertArrayEquals(BINARY, Xattrs.get(file, name).orElseThrow(), name);
        }
        assertEquals(List.of("security.bin", "trusted.bin", "user.bin"),
                escaped(Xattrs.list(file)));
    }

    @Test
    void getWhileAttributeIsRemoved() throws Exception {
        // A value larger than the first buffer makes get ask for its size. When another
        // process removes the attribute between the two calls, the attribute is absent.
        // ext4 keeps values of at most one block, so the file is on tmpfs.
        BytePath tmpfs = scratch.resolve("tmpfs");
        Posix.mkdir(tmpfs, 0700);
        Posix.mount(BytePath.of("tmpfs"), tmpfs, "tmpfs", 0, "size=1m");
        try {
            BytePath file = tmpfs.resolve("f");
            Posix.open(file, OpenFlags.O_WRONLY | OpenFlags.O_CREAT, 0644).close();
            getWhileRemoving(file);
        } finally {
            Posix.umount2(tmpfs, MountFlags.MNT_DETACH);
        }
    }

    private static void getWhileRemoving(BytePath file) throws Exception {
        byte[] name = utf8("user.changing");
        byte[] large = new byte[Xattrs.MAX_SIZE / 8];
        AtomicBoolean running = new AtomicBoolean(true);
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                while (running.get()) {
                    Xattrs.set(file, name, large, 0);
                    Xattrs.remove(file, name);
                }
            } catch (PosixException e) {
                throw new IllegalStateException(e);
            }
        });
        int reads = 0;
        try {
            for (long end = System.nanoTime() + 3_000_000_000L; System.nanoTime() < end; reads++) {
                Xattrs.get(file, name).ifPresent(value -> assertEquals(large.length, value.length));
            }
        } finally {
            running.set(false);
            writer.join();
        }
        assertTrue(reads > 0);
    }

    @Test
    void nonUtf8NameAfterPrefix() throws IOException {
        byte[] name = {'u', 's', 'e', 'r', '.', (byte) 0xff, (byte) 0x80};
        Xattrs.set(file, name, utf8("v"), 0);
        assertArrayEquals(name, Xattrs.list(file).get(0));
        assertArrayEquals(utf8("v"), Xattrs.get(file, name).orElseThrow());
    }

    @Test
    void emptyValueIsPresent() throws IOException {
        Xattrs.set(file, "user.empty", new byte[0]);
        assertEquals(0, Xattrs.get(file, "user.empty").orElseThrow().length);
    }

    @Test
    void missingAttributeIsEmpty() throws IOException {
        assertTrue(Xattrs.get(file, "user.none").isEmpty());
    }

    @Test
    void missingFileFails() {
        assertThrows(NoSuchEntryException.class,
                () -> Xattrs.list(scratch.resolve("missing")));
    }

    @Test
    void createFlagRejectsExisting() throws IOException {
        Xattrs.set(file, "user.a", utf8("1"));
        PosixException e = assertThrows(PosixException.class,
                () -> Xattrs.set(file, utf8("user.a"), utf8("2"), Xattrs.XATTR_CREATE));
        assertEquals(Errno.EEXIST, e.errno());
        assertTrue(e.getMessage().contains("user.a"), e.getMessage());
    }

    @Test
    void removeDeletesAttribute() throws IOException {
        Xattrs.set(file, "user.a", utf8("1"));
        Xattrs.remove(file, utf8("user.a"));
        assertTrue(Xattrs.list(file).isEmpty());
        PosixException e = assertThrows(PosixException.class,
                () -> Xattrs.remove(file, utf8("user.a")));
        assertEquals(Errno.ENODATA, e.errno());
    }

    @Test
    void descriptorVariants() throws IOException {
        try (Fd fd = Posix.open(file, OpenFlags.O_RDONLY)) {
            Xattrs.set(fd, utf8("trusted.fd"), BINARY, 0);
            assertArrayEquals(BINARY, Xattrs.get(fd, utf8("trusted.fd")).orElseThrow());
            assertEquals(List.of("trusted.fd"), escaped(Xattrs.list(fd)));
            Xattrs.remove(fd, utf8("trusted.fd"));
            assertTrue(Xattrs.get(fd, utf8("trusted.fd")).isEmpty());
        }
    }

    @Test
    void symlinkTakesTrustedButNotUser() throws IOException {
        BytePath link = scratch.resolve("link");
        Posix.symlink(utf8("f"), link);
        Xattrs.set(link, "trusted.link", utf8("on-link"));
        assertTrue(Xattrs.get(file, "trusted.link").isEmpty());
        assertArrayEquals(utf8("on-link"), Xattrs.get(link, "trusted.link").orElseThrow());
        PosixException e = assertThrows(PosixException.class,
                () -> Xattrs.set(link, "user.x", utf8("v")));
        assertEquals(Errno.EPERM, e.errno());
    }

    @Test
    void largeValueNeedsRetryWithRightSize() throws IOException {
        // ext4 keeps a value in one block, so the 64 KiB value goes to a tmpfs.
        BytePath mount = scratch.resolve("tmpfs");
        Posix.mkdir(mount, 0755);
        Posix.mount(BytePath.of("tmpfs"), mount, "tmpfs", 0, "size=4m");
        try {
            BytePath onTmpfs = mount.resolve("f");
            Posix.open(onTmpfs, OpenFlags.O_WRONLY | OpenFlags.O_CREAT, 0644).close();
            byte[] value = new byte[Xattrs.MAX_SIZE];
            new java.util.Random(7).nextBytes(value);
            Xattrs.set(onTmpfs, "trusted.big", value);
            assertArrayEquals(value, Xattrs.get(onTmpfs, "trusted.big").orElseThrow());
        } finally {
            Posix.umount2(mount, 0);
        }
    }

    @Test
    void manyNamesListBeyondFirstBuffer() throws IOException {
        BytePath mount = scratch.resolve("tmpfs");
        Posix.mkdir(mount, 0755);
        Posix.mount(BytePath.of("tmpfs"), mount, "tmpfs", 0, "size=4m");
        try {
            BytePath onTmpfs = mount.resolve("f");
            Posix.open(onTmpfs, OpenFlags.O_WRONLY | OpenFlags.O_CREAT, 0644).close();
            for (int i = 0; i < 100; i++) {
                Xattrs.set(onTmpfs, "trusted." + "n".repeat(60) + i, utf8("v"));
            }
            assertEquals(100, Xattrs.list(onTmpfs).size());
        } finally {
            Posix.umount2(mount, 0);
        }
    }

    @Test
    void invalidNamesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> Xattrs.get(file, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> Xattrs.get(file, new byte[256]));
        assertThrows(IllegalArgumentException.class,
                () -> Xattrs.set(file, utf8("user.a"), new byte[Xattrs.MAX_SIZE + 1], 0));
    }
}
