package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.Posix;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.rafs.v6.RafsFlags;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Unpacking to directories and tar archives: containment, refusals and corrupt data. */
class UnpackerTest {
    private static final byte[] USER_XATTR = "user.note".getBytes(StandardCharsets.US_ASCII);
    /**
     * Depth of the deep test tree: one-letter directories whose deepest path still fits in
     * PATH_MAX below the temp directory.
     */
    private static final int DEEP_TREE_DEPTH = 2000;

    private TempDir work;

    @BeforeEach
    void createWork() throws IOException {
        work = TempDirs.create("unpacker-");
    }

    @AfterEach
    void removeWork() throws IOException {
        work.close();
    }

    @Test
    void escapingSymlinkStaysInsideOutput() throws IOException {
        Path source = Files.createDirectories(work.resolve("source"));
        Files.createSymbolicLink(source.resolve("link"), Path.of("../../outside"));
        Files.createSymbolicLink(source.resolve("absolute"), work.resolve("absolute-target"));
        Files.createDirectories(source.resolve("link-dir"));
        Files.writeString(source.resolve("link-dir/file"), "data");
        Files.writeString(source.resolve("outside"), "inside the image");
        TestImage image = TestImage.fromDirectory(source, Compressor.ZSTD,
                work.resolve("image"));
        Path output = work.resolve("area/nested/out");
        Files.createDirectories(output.getParent());
        List<Path> before = listOutside(output);

        Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output);

        assertEquals(before, listOutside(output));
        assertFalse(Files.exists(work.resolve("area/outside"), LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(work.resolve("absolute-target"), LinkOption.NOFOLLOW_LINKS));
        assertEquals(Path.of("../../outside"), Files.readSymbolicLink(output.resolve("link")));
        assertEquals("inside the image", Files.readString(output.resolve("outside")));
    }

    @Test
    void deepTreeUnpacksAsSource() throws IOException {
        Path source = work.resolve("deep");
        Path leaf = source.resolve("d/".repeat(DEEP_TREE_DEPTH) + "leaf");
        Files.createDirectories(leaf.getParent());
        Files.writeString(leaf, "deep leaf");
        TestImage image = TestImage.fromDirectory(source, Compressor.ZSTD,
                work.resolve("deep-image"));
        Path output = work.resolve("deep-out");

        Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output);

        TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                TreeSnapshot.capture(output),
                TreeComparator.Options.defaults().ignoringRootMtime());
    }

    @Test
    void nonEmptyOutputRejected() throws IOException {
        TestImage image = smallImage();
        Path output = Files.createDirectories(work.resolve("out"));
        Files.writeString(output.resolve("existing"), "x");
        IOException e = assertThrows(IOException.class,
                () -> Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output));
        assertTrue(e.getMessage().contains("not empty"), e.getMessage());
    }

    @Test
    void symlinkOutputRejected() throws IOException {
        TestImage image = smallImage();
        Path target = Files.createDirectories(work.resolve("target"));
        Path output = Files.createSymbolicLink(work.resolve("out"), target);
        assertThrows(IOException.class,
                () -> Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output));
        try (Stream<Path> entries = Files.list(target)) {
            assertEquals(0, entries.count());
        }
    }

    @Test
    void corruptChunkFailsUnpack() throws IOException {
        TestImage image = smallImage();
        Chunk chunk = firstChunk(image);
        long middle = chunk.compressedOffset() + chunk.compressedSize() / 2;
        BlobCorruption.flip(image.blobFile(), middle);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> Unpacker.unpack(image.bootstrap(), image.blobDir(), work.resolve("out")));
        assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
    }

    @Test
    void failedUnpackLeavesNoPartialTree() throws IOException {
        TestImage image = smallImage();
        Chunk chunk = firstChunk(image);
        BlobCorruption.flip(image.blobFile(), chunk.compressedOffset());
        Path output = work.resolve("out");
        assertThrows(RafsFormatException.class,
                () -> Unpacker.unpack(image.bootstrap(), image.blobDir(), output));
        assertFalse(Files.exists(output, LinkOption.NOFOLLOW_LINKS));
        try (Stream<Path> entries = Files.list(work.path())) {
            assertTrue(entries.noneMatch(p -> p.getFileName().toString().contains("out")));
        }
    }

    @Test
    void emptyOutputDirectoryIsReplaced() throws IOException {
        TestImage image = smallImage();
        Path output = work.resolve("out");
        Files.createDirectory(output);
        Unpacker.unpack(image.bootstrap(), image.blobDir(), output);
        try (Stream<Path> entries = Files.list(output)) {
            assertTrue(entries.findAny().isPresent(), "the unpacked tree is in the output");
        }
    }

    @Test
    void userXattrOnSymlinkSkipped() throws IOException {
        Path bootstrap = work.resolve("symlink-xattr.boot");
        writeSymlinkWithUserXattr(bootstrap);
        Path output = work.resolve("out");

        Unpacker.Result result = Unpacker.unpackToDirectory(bootstrap, null, output);

        assertEquals(1, result.skipped());
        assertEquals(Path.of("target"), Files.readSymbolicLink(output.resolve("link")));
        assertEquals(1_500_000_000L, Posix.lstat(BytePath.of(output.resolve("link")))
                .mtime().seconds());
    }

    @Test
    void userXattrOnSymlinkKeptInTar() throws IOException {
        Path bootstrap = work.resolve("symlink-xattr.boot");
        writeSymlinkWithUserXattr(bootstrap);
        Path archive = work.resolve("out.tar");

        Unpacker.Result result = Unpacker.unpack(bootstrap, null, archive);

        assertEquals(0, result.skipped());
        String listing = Commands.run(List.of("tar", "--xattrs", "--xattrs-include=*", "-tvvf",
                archive.toString()), Duration.ofMinutes(1)).stdoutText();
        assertTrue(listing.contains("user.note"), listing);
    }

    @Test
    void tarOutputReplacesNoPartialFile() throws IOException {
        TestImage image = smallImage();
        Chunk chunk = firstChunk(image);
        BlobCorruption.flip(image.blobFile(), chunk.compressedOffset());
        Path archive = work.resolve("out.tar");
        assertThrows(RafsFormatException.class,
                () -> Unpacker.unpack(image.bootstrap(), image.blobDir(), archive));
        try (Stream<Path> entries = Files.list(work.path())) {
            assertTrue(entries.noneMatch(p -> p.getFileName().toString().contains("out.tar")));
        }
    }

    @Test
    void sparseMapEndsWithHole() {
        List<PaxTarWriter.Region> regions = List.of(new PaxTarWriter.Region(0, 4096),
                new PaxTarWriter.Region(8192, 100));
        byte[] map = PaxTarWriter.sparseMap(regions, 1 << 20);
        assertEquals(512, map.length);
        String text = new String(map, StandardCharsets.US_ASCII).replace("\0", "");
        assertEquals("3\n0\n4096\n8192\n100\n1048576\n0\n", text);
    }

    @Test
    void sparseMapEndingInDataHasNoEmptyRegion() {
        byte[] map = PaxTarWriter.sparseMap(List.of(new PaxTarWriter.Region(4096, 10)), 4106);
        String text = new String(map, StandardCharsets.US_ASCII).replace("\0", "");
        assertEquals("1\n4096\n10\n", text);
    }

    @Test
    void paxTimeBeforeEpoch() {
        assertEquals("-0.500000000", PaxTarWriter.paxTime(-1, 500_000_000));
        assertEquals("-86399.999999999", PaxTarWriter.paxTime(-86_400, 1));
        assertEquals("-5", PaxTarWriter.paxTime(-5, 0));
        assertEquals("12.000000007", PaxTarWriter.paxTime(12, 7));
    }

    @Test
    void paxTimeIgnoresDefaultLocale() {
        // The Java locale ar-EG formats numbers with Arabic-Indic digits.
        Locale before = Locale.getDefault();
        Locale.setDefault(Locale.of("ar", "EG"));
        try {
            assertEquals("12.000000007", PaxTarWriter.paxTime(12, 7));
            assertEquals("-0.500000000", PaxTarWriter.paxTime(-1, 500_000_000));
        } finally {
            Locale.setDefault(before);
        }
    }

    private TestImage smallImage() throws IOException {
        Path source = Files.createDirectories(work.resolve("small"));
        Files.write(source.resolve("file"), new byte[100_000]);
        byte[] data = new byte[200_000];
        new java.util.Random(1).nextBytes(data);
        Files.write(source.resolve("random"), data);
        return TestImage.fromDirectory(source, Compressor.ZSTD, work.resolve("small-image"));
    }

    private static Chunk firstChunk(TestImage image) throws IOException {
        Node random = BootstrapReader.read(image.bootstrap()).root()
                .child("random".getBytes(StandardCharsets.US_ASCII));
        return random.inode().chunks().getFirst();
    }

    /** Writes an image whose only entry is a symlink with a user.* xattr, as tar-rafs allows. */
    private static void writeSymlinkWithUserXattr(Path bootstrap) throws IOException {
        Node root = Node.root(new Inode(FileType.DIRECTORY).permissions(0755));
        Inode link = new Inode(FileType.SYMLINK).permissions(0777)
                .symlinkTarget("target".getBytes(StandardCharsets.US_ASCII))
                .mtime(1_500_000_000L, 5);
        link.xattrs().put(USER_XATTR, "value".getBytes(StandardCharsets.US_ASCII));
        root.put(Node.of("link".getBytes(StandardCharsets.US_ASCII), link));
        long flags = RafsFlags.COMPRESSION_ZSTD | RafsFlags.HASH_BLAKE3
                | RafsFlags.EXPLICIT_UID_GID;
        Bootstrap image = new Bootstrap(root, List.of(), Bootstrap.DEFAULT_CHUNK_SIZE, flags,
                List.of());
        Files.write(bootstrap, BootstrapWriter.write(image));
    }

    /** Lists every path below the work directory except those inside {@code output}. */
    private List<Path> listOutside(Path output) throws IOException {
        try (Stream<Path> paths = Files.walk(work.path())) {
            return paths.filter(p -> !p.startsWith(output)).sorted().toList();
        }
    }
}
