package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.ImageChecker;
import io.nydus.builder.Unpacker;
import io.nydus.posix.BytePath;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@link Packer} on generated trees, checked by unpacking the image again. */
class PackerTest {

    @Test
    void packedTreeMatchesSource() throws IOException {
        try (TempDir dir = TempDirs.create("pack-")) {
            Path source = dir.resolve("source");
            TreeGenerator.createSmall(BytePath.of(source));
            Path output = dir.resolve("output");

            PackResult result = new Packer().pack(PackOptions.defaults(source, output,
                    "image.boot"));

            assertEquals(output.resolve("image.boot"), result.bootstrap());
            assertEquals(output.resolve(result.blobId()), result.blob());
            assertEquals(result.blobId(),
                    BootstrapReader.read(result.bootstrap()).blobs().getFirst().blobId());
            ImageChecker.Summary summary = ImageChecker.check(result.bootstrap(), output);
            assertTrue(summary.chunksVerified() > 0, summary.toString());
            Path unpacked = dir.resolve("unpacked");
            Unpacker.unpack(result.bootstrap(), output, unpacked);
            TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                    TreeSnapshot.capture(unpacked),
                    TreeComparator.Options.defaults().ignoringRootMtime());
        }
    }

    @Test
    void compressorAndChunkSizeReachImage() throws IOException {
        try (TempDir dir = TempDirs.create("pack-")) {
            Path source = dir.resolve("source");
            TreeGenerator.createSmall(BytePath.of(source));
            Path output = dir.resolve("output");

            PackResult result = new Packer().pack(PackOptions.defaults(source, output, "boot")
                    .withCompressor(Compressor.NONE).withChunkSize(0x4000));

            var blob = BootstrapReader.read(result.bootstrap()).blobs().getFirst();
            assertEquals(Compressor.NONE, blob.compressor());
            assertEquals(0x4000, blob.chunkSize());
            ImageChecker.check(result.bootstrap(), output);
        }
    }

    @Test
    void chunkDictCoveringEverythingWritesNoBlob() throws IOException {
        try (TempDir dir = TempDirs.create("pack-")) {
            Path source = dir.resolve("source");
            TreeGenerator.createSmall(BytePath.of(source));
            Path output = dir.resolve("output");
            PackResult dict = new Packer().pack(PackOptions.defaults(source, output, "dict"));

            PackResult result = new Packer().pack(PackOptions.defaults(source, output, "again")
                    .withChunkDict(PackOptions.parseChunkDict("bootstrap:local:"
                            + dict.bootstrap())));

            assertNull(result.blob());
            assertTrue(result.chunksReused() > 0);
            assertEquals(1, BootstrapReader.read(result.bootstrap()).blobs().size());
            ImageChecker.check(result.bootstrap(), output);
            Path unpacked = dir.resolve("unpacked");
            Unpacker.unpack(result.bootstrap(), output, unpacked);
            TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                    TreeSnapshot.capture(unpacked),
                    TreeComparator.Options.defaults().ignoringRootMtime());
        }
    }

    @Test
    void parentBootstrapIsOverlaid() throws IOException {
        try (TempDir dir = TempDirs.create("pack-")) {
            Path lower = Files.createDirectories(dir.resolve("lower/etc"));
            Files.writeString(lower.resolve("keep"), "kept from the parent\n");
            Files.writeString(lower.resolve("gone"), "deleted by the upper layer\n");
            Path upper = Files.createDirectories(dir.resolve("upper/etc"));
            Files.writeString(upper.resolve(".wh.gone"), "");
            Files.writeString(upper.resolve("new"), "added by the upper layer\n");
            Path output = dir.resolve("output");
            PackResult parent = new Packer().pack(PackOptions.defaults(dir.resolve("lower"),
                    output, "parent.boot"));

            PackResult result = new Packer().pack(PackOptions.defaults(dir.resolve("upper"),
                    output, "image.boot").withParentBootstrap(parent.bootstrap()));

            assertEquals(2, BootstrapReader.read(result.bootstrap()).blobs().size());
            ImageChecker.check(result.bootstrap(), output);
            Path unpacked = dir.resolve("unpacked");
            Unpacker.unpack(result.bootstrap(), output, unpacked);
            assertEquals("kept from the parent\n", Files.readString(unpacked.resolve("etc/keep")));
            assertEquals("added by the upper layer\n",
                    Files.readString(unpacked.resolve("etc/new")));
            assertFalse(Files.exists(unpacked.resolve("etc/gone")));
            assertFalse(Files.exists(unpacked.resolve("etc/.wh.gone")));
        }
    }

    @Test
    void missingSourceIsNamed() throws IOException {
        try (TempDir dir = TempDirs.create("pack-")) {
            Path source = dir.resolve("absent");

            NoSuchFileException e = assertThrows(NoSuchFileException.class,
                    () -> new Packer().pack(PackOptions.defaults(source, dir.resolve("out"),
                            "boot")));

            assertEquals(source.toString(), e.getFile());
        }
    }

    @Test
    void missingChunkDictIsNamed() throws IOException {
        try (TempDir dir = TempDirs.create("pack-")) {
            Path source = Files.createDirectories(dir.resolve("source"));
            Path dict = dir.resolve("absent.boot");

            NoSuchFileException e = assertThrows(NoSuchFileException.class,
                    () -> new Packer().pack(PackOptions.defaults(source, dir.resolve("out"),
                            "boot").withChunkDict(dict)));

            assertEquals(dict.toString(), e.getFile());
            assertTrue(e.getMessage().contains("chunk dictionary"), e.getMessage());
        }
    }

    @Test
    void chunkDictForms() {
        assertEquals(Path.of("/d/dict.boot"), PackOptions.parseChunkDict("/d/dict.boot"));
        assertEquals(Path.of("/d/dict.boot"),
                PackOptions.parseChunkDict("bootstrap:local:/d/dict.boot"));
        assertEquals(Path.of("/d/dict.boot"), PackOptions.parseChunkDict("bootstrap=/d/dict.boot"));
        IllegalArgumentException registry = assertThrows(IllegalArgumentException.class,
                () -> PackOptions.parseChunkDict("bootstrap:registry:example.com/dict:v1"));
        assertTrue(registry.getMessage().contains("bootstrap:registry:example.com/dict:v1"));
        assertThrows(IllegalArgumentException.class,
                () -> PackOptions.parseChunkDict("bootstrap:local:"));
    }

    @Test
    void bootstrapNameWithSlashIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PackOptions.defaults(Path.of("src"), Path.of("out"), "sub/boot"));

        assertTrue(e.getMessage().contains("'sub/boot'"), e.getMessage());
    }
}
