package io.nydus.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.testkit.TreeGenerator.Feature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Mounts images made by erofs-utils' mkfs.erofs with the kernel's EROFS driver. */
class KernelErofsTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private TempDir temp;
    private Path source;
    private Path mountPoint;
    private byte[] content;

    @BeforeEach
    void makeSource() throws IOException {
        temp = TempDirs.create("kernel-erofs");
        source = Files.createDirectory(temp.resolve("source"));
        mountPoint = Files.createDirectory(temp.resolve("mnt"));
        content = new byte[100_000];
        new SplittableRandom(9).nextBytes(content);
        Files.write(source.resolve("data"), content);
        Files.writeString(source.resolve("hello"), "hello erofs\n");
    }

    @AfterEach
    void removeTemp() throws IOException {
        temp.close();
    }

    @Test
    void mountsSingleFileImage() throws IOException {
        Path image = temp.resolve("image.erofs");
        Commands.run(List.of("mkfs.erofs", "--quiet", image.toString(), source.toString()),
                TIMEOUT);
        try (KernelErofs erofs = KernelErofs.mount(image, mountPoint)) {
            assertTrue(TempDirs.isMountPoint(mountPoint));
            assertEquals("hello erofs\n", Files.readString(erofs.mountPoint().resolve("hello")));
            assertArrayEquals(content, Files.readAllBytes(erofs.mountPoint().resolve("data")));
            assertEquals(List.of(), erofs.loopDevices());
        }
        assertFalse(TempDirs.isMountPoint(mountPoint));
        assertEquals(List.of(), TempDirs.loopDevicesBelow(temp.path()));
    }

    @Test
    void mountsImageWithBlobDevice() throws IOException {
        Path meta = temp.resolve("meta.erofs");
        Path blob = temp.resolve("blob.data");
        Commands.run(List.of("mkfs.erofs", "--quiet", "--chunksize=4096",
                "--blobdev=" + blob, meta.toString(), source.toString()), TIMEOUT);
        List<String> loops;
        try (KernelErofs erofs = KernelErofs.mount(meta, List.of(blob), mountPoint)) {
            loops = erofs.loopDevices();
            assertEquals(1, loops.size());
            // mount(8) adds a loop device of its own for the metadata image.
            assertTrue(TempDirs.loopDevicesBelow(temp.path()).containsAll(loops));
            assertArrayEquals(content, Files.readAllBytes(erofs.mountPoint().resolve("data")));
        }
        assertFalse(TempDirs.isMountPoint(mountPoint));
        assertEquals(List.of(), TempDirs.loopDevicesBelow(temp.path()));
    }

    @Test
    void mountSnapshotsMatchSource() throws IOException {
        Path image = temp.resolve("image.erofs");
        Commands.run(List.of("mkfs.erofs", "--quiet", image.toString(), source.toString()),
                TIMEOUT);
        try (KernelErofs erofs = KernelErofs.mount(image, mountPoint)) {
            TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                    TreeSnapshot.capture(erofs.mountPoint()),
                    TreeComparator.Options.defaults());
        }
    }

    @Test
    void everyCaseTreeSurvivesMkfsErofs() throws IOException {
        // erofs-utils 1.5 fails with ENOENT on 255-byte names, so names stop at 254 bytes here.
        Path tree = temp.resolve("every-case");
        TreeGenerator.createEveryCase(BytePath.of(tree),
                Feature.allExcept(Feature.LONGEST_NAMES, Feature.LARGE_FILES));
        Path image = temp.resolve("every-case.erofs");
        Commands.run(List.of("mkfs.erofs", "--quiet", image.toString(), tree.toString()),
                TIMEOUT);
        try (KernelErofs erofs = KernelErofs.mount(image, mountPoint)) {
            TreeComparator.assertSameTree(TreeSnapshot.capture(tree),
                    TreeSnapshot.capture(erofs.mountPoint()),
                    TreeComparator.Options.defaults());
        }
    }

    @Test
    void failedMountNamesImageAndDetachesLoops() throws IOException {
        Path notAnImage = temp.resolve("garbage.img");
        Files.write(notAnImage, new byte[64 * 1024]);
        Path blob = temp.resolve("blob.data");
        Files.write(blob, new byte[4096]);
        CommandException e = assertThrows(CommandException.class,
                () -> KernelErofs.mount(notAnImage, List.of(blob), mountPoint));
        assertTrue(e.getMessage().contains("garbage.img"), e.getMessage());
        assertFalse(TempDirs.isMountPoint(mountPoint));
        assertEquals(List.of(), TempDirs.loopDevicesBelow(temp.path()));
    }

    @Test
    void missingImageIsRejected() {
        IOException e = assertThrows(IOException.class,
                () -> KernelErofs.mount(temp.resolve("missing.erofs"), mountPoint));
        assertTrue(e.getMessage().contains("missing.erofs"), e.getMessage());
    }
}
