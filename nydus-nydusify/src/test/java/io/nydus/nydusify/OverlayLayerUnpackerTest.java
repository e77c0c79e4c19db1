package io.nydus.nydusify;

import static io.nydus.nydusify.SeedImage.run;
import static io.nydus.nydusify.SeedImage.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileType;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Xattrs;
import io.nydus.tar.TarArchive;
import io.nydus.tar.TarReader;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Unpacks GNU tar archives with {@link OverlayLayerUnpacker} as the bottom layer and looks at
 * the layer directory it leaves for overlayfs.
 */
class OverlayLayerUnpackerTest {
    private static final long SPARSE_SIZE = 64 << 20;
    private static final long DATA_OFFSET = 40_000_000;

    @Test
    void sparseFileKeepsItsHoles() throws Exception {
        try (TempDir temp = TempDirs.create("unpacker-")) {
            Path source = Files.createDirectories(temp.resolve("source"));
            Path sparse = source.resolve("sparse");
            run("truncate", "-s", Long.toString(SPARSE_SIZE), sparse.toString());
            run("sh", "-c", "printf middle | dd of=\"$1\" bs=1 seek=" + DATA_OFFSET
                    + " conv=notrunc status=none", "sh", sparse.toString());

            BytePath layer = unpack(temp, source, "--sparse");

            BytePath unpacked = layer.resolve("sparse");
            Stat stat = Posix.lstat(unpacked);
            assertEquals(SPARSE_SIZE, stat.size());
            assertTrue(stat.blocks() * 512 < 1 << 20, "allocated blocks " + stat.blocks());
            assertArrayEquals(Files.readAllBytes(sparse), Files.readAllBytes(unpacked.toPath()));
        }
    }

    @Test
    void whiteoutsBecomeOverlayfsOnes() throws Exception {
        try (TempDir temp = TempDirs.create("unpacker-")) {
            Path source = Files.createDirectories(temp.resolve("source"));
            write(source.resolve("etc/.wh.gone"), "");
            write(source.resolve("cache/.wh..wh..opq"), "");
            write(source.resolve("cache/kept"), "kept\n");

            BytePath layer = unpack(temp, source);

            Stat whiteout = Posix.lstat(layer.resolve("etc/gone"));
            assertEquals(FileType.CHAR_DEVICE, whiteout.type());
            assertEquals(0, whiteout.rdev());
            assertEquals(Optional.empty(), Posix.lstatIfExists(layer.resolve("etc/.wh.gone")));
            assertArrayEquals(new byte[] {'y'}, Xattrs.get(layer.resolve("cache"),
                    "trusted.overlay.opaque").orElseThrow());
            assertTrue(Posix.lstat(layer.resolve("cache/kept")).isRegularFile());
        }
    }

    /** Archives {@code source} with GNU tar and unpacks it as the bottom layer. */
    private static BytePath unpack(TempDir temp, Path source, String... tarOptions)
            throws IOException {
        Path tar = temp.resolve("layer.tar");
        List<String> argv = new ArrayList<>(List.of("tar",
                "--format=posix", "--sort=name", "--numeric-owner"));
        argv.addAll(List.of(tarOptions));
        argv.addAll(List.of("-C", source.toString(), "-cf", tar.toString(), "."));
        run(argv.toArray(String[]::new));
        BytePath layer = BytePath.of(temp.resolve("layer"));
        try (TarReader reader = TarArchive.open(Files.newInputStream(tar))) {
            new OverlayLayerUnpacker(layer, null, () -> null, tar.toString()).unpack(reader);
        }
        return layer;
    }
}
