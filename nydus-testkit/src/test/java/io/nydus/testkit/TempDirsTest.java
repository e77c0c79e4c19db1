package io.nydus.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.MountFlags;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class TempDirsTest {

    @Test
    void baseDirectoryIsOnDisk() throws IOException {
        String type = Files.getFileStore(TempDirs.baseDirectory()).type();
        assertNotEquals("tmpfs", type);
    }

    @Test
    void closeDeletesNonUtf8Names() throws IOException {
        TempDir dir = TempDirs.create("tempdirs");
        BytePath odd = dir.bytes().resolve(new byte[] {(byte) 0xff, (byte) 0x80});
        Posix.mkdir(odd, 0);
        Posix.open(odd.resolve(new byte[] {(byte) 0xfe}), OpenFlags.O_WRONLY | OpenFlags.O_CREAT,
                0).close();
        dir.close();
        assertFalse(Files.exists(dir.path()));
    }

    @Test
    void closeUnmountsNestedMounts() throws IOException {
        TempDir dir = TempDirs.create("tempdirs");
        BytePath outer = dir.bytes().resolve("outer");
        Posix.mkdir(outer, 0755);
        Posix.mount(BytePath.of("tmpfs"), outer, "tmpfs", MountFlags.MS_NOSUID, "size=1m");
        BytePath inner = outer.resolve("inner");
        Posix.mkdir(inner, 0755);
        Posix.mount(BytePath.of("tmpfs"), inner, "tmpfs", 0, "size=1m");
        assertEquals(List.of(inner.toPath(), outer.toPath()), TempDirs.mountsBelow(dir.path()));
        dir.close();
        assertEquals(List.of(), TempDirs.mountsBelow(dir.path()));
        assertFalse(Files.exists(dir.path()));
    }

    @Test
    void mountsBelowIgnoresNonUtf8MountElsewhere() throws IOException {
        try (TempDir other = TempDirs.create("tempdirs");
                TempDir dir = TempDirs.create("tempdirs")) {
            BytePath odd = other.bytes().resolve(new byte[] {'m', (byte) 0xff});
            Posix.mkdir(odd, 0700);
            Posix.mount(BytePath.of("tmpfs"), odd, "tmpfs", 0, "size=1m");
            try {
                BytePath mine = dir.bytes().resolve("mine");
                Posix.mkdir(mine, 0755);
                Posix.mount(BytePath.of("tmpfs"), mine, "tmpfs", 0, "size=1m");

                assertEquals(List.of(mine.toPath()), TempDirs.mountsBelow(dir.path()));
            } finally {
                Posix.umount2(odd, MountFlags.MNT_DETACH);
                Posix.rmdir(odd);
            }
        }
    }

    @Test
    void closeDetachesLoopDevices() throws IOException {
        TempDir dir = TempDirs.create("tempdirs");
        Path backing = dir.resolve("backing.img");
        Files.write(backing, new byte[1 << 20]);
        String device = Commands.run(List.of("losetup", "-f", "--show", "-r",
                backing.toString()), Duration.ofSeconds(30)).stdoutText().strip();
        assertEquals(List.of(device), TempDirs.loopDevicesBelow(dir.path()));
        dir.close();
        assertEquals(List.of(), TempDirs.loopDevicesBelow(dir.path()));
    }

    @Test
    void isMountPointSeesMount() throws IOException {
        try (TempDir dir = TempDirs.create("tempdirs")) {
            assertFalse(TempDirs.isMountPoint(dir.path()));
            Posix.mount(BytePath.of("tmpfs"), dir.bytes(), "tmpfs", 0, "size=1m");
            assertTrue(TempDirs.isMountPoint(dir.path()));
        }
    }

    @Test
    void mountinfoEscapesDecode() {
        assertEquals("/tmp/a b\\c", TempDirs.decodeMountinfoField("/tmp/a\\040b\\134c"));
        assertEquals("/tmp/x\\9", TempDirs.decodeMountinfoField("/tmp/x\\9"));
    }

    @Test
    void removeOfMissingDirectoryDoesNothing() throws IOException {
        Path missing;
        try (TempDir dir = TempDirs.create("tempdirs")) {
            missing = dir.path();
        }
        TempDirs.remove(missing);
        assertFalse(Files.exists(missing));
    }
}
