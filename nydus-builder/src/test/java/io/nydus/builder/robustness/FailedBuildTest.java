package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.ImageBuilder;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Builds tarballs that fail part-way, after chunks were already written, and expects an
 * {@link IOException} that names the tarball, no blob and no temporary file left behind, and the
 * bootstrap that was at the output path before the build left unchanged.
 */
class FailedBuildTest {
    private static final String SOURCE = "layer.tar";
    private static final byte[] OLD_BOOTSTRAP = "the bootstrap of an earlier build"
            .getBytes(StandardCharsets.US_ASCII);

    @Test
    void truncatedTarLeavesNoOutput() throws IOException {
        byte[] tar = withData().file("last", bytes(300_000)).finish();
        byte[] truncated = Arrays.copyOf(tar, tar.length - 200_000);
        assertFailsCleanly(truncated, "truncated");
    }

    @Test
    void unknownXattrNamespaceLeavesNoOutput() throws IOException {
        byte[] tar = withData().pax("SCHILY.xattr.bogus.name", "value")
                .file("with-xattr", bytes(10)).finish();
        assertFailsCleanly(tar, "bogus.name");
    }

    @Test
    void deviceMajorOverLimitLeavesNoOutput() throws IOException {
        byte[] tar = withData().charDevice("dev/big-major", 4096, 0).finish();
        assertFailsCleanly(tar, "4096");
    }

    @Test
    void deviceMinorOverLimitLeavesNoOutput() throws IOException {
        byte[] tar = withData().charDevice("dev/big-minor", 1, 1_048_576).finish();
        assertFailsCleanly(tar, "1048576");
    }

    @Test
    void unwritableBootstrapLeavesNoBlob() throws IOException {
        byte[] tar = withData().finish();
        try (TempDir work = TempDirs.create("failed-build-")) {
            Path notADirectory = Files.write(work.resolve("file"), new byte[] {1});
            Path bootstrap = notADirectory.resolve("bootstrap");

            IOException e = assertThrows(IOException.class, () -> build(tar, work, bootstrap));

            assertTrue(e.getMessage().startsWith("cannot write " + bootstrap + ": "),
                    e.getMessage());
            assertEquals(List.of(), names(work.resolve("blobs")));
            assertEquals(List.of("file"), names(work.path()));
        }
    }

    @Test
    void largestDeviceNumberBuilds() throws IOException {
        byte[] tar = withData().charDevice("dev/largest", 4095, 1_048_575).finish();
        try (TempDir work = TempDirs.create("failed-build-")) {
            Path bootstrap = work.resolve("out/bootstrap");
            build(tar, work, bootstrap);
            var root = io.nydus.rafs.v6.BootstrapReader.read(bootstrap).root();
            var device = root.child(name("dev")).child(name("largest")).inode();
            assertEquals(4095, device.rdevMajor());
            assertEquals(1_048_575, device.rdevMinor());
        }
    }

    /** Starts a tarball with two files of several chunks, so the blob has data in it. */
    private static TarWriter withData() {
        return new TarWriter().file("first", bytes(3 << 20)).file("second", bytes(2 << 20));
    }

    private static void assertFailsCleanly(byte[] tar, String expectedInMessage)
            throws IOException {
        try (TempDir work = TempDirs.create("failed-build-")) {
            Path out = Files.createDirectories(work.resolve("out"));
            Path bootstrap = out.resolve("bootstrap");
            Files.write(bootstrap, OLD_BOOTSTRAP);

            IOException e = assertThrows(IOException.class, () -> build(tar, work, bootstrap));

            String message = e.getMessage();
            assertTrue(message.contains(SOURCE), "the message does not name the tarball: "
                    + message);
            assertTrue(message.contains(expectedInMessage), "the message does not name the"
                    + " problem: " + message);
            assertArrayEquals(OLD_BOOTSTRAP, Files.readAllBytes(bootstrap),
                    "the earlier bootstrap was changed");
            assertEquals(List.of("bootstrap"), names(out));
            assertEquals(List.of(), names(work.resolve("blobs")));
        }
    }

    private static void build(byte[] tar, TempDir work, Path bootstrap) throws IOException {
        new ImageBuilder(BuildOptions.defaults().withThreads(2)).buildTar(
                new ByteArrayInputStream(tar), SOURCE, bootstrap,
                ImageBuilder.BlobTarget.inDirectory(work.resolve("blobs")));
    }

    private static List<String> names(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (var paths = Files.list(dir)) {
            return paths.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static byte[] name(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] bytes(int length) {
        byte[] b = new byte[length];
        new SplittableRandom(length).nextBytes(b);
        return b;
    }
}
