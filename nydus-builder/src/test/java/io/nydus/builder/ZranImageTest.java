package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.Commands;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import io.nydus.testkit.TreeSnapshot;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * ZRAN (targz-ref) images built from GNU tar piped to gzip and from upstream's gzip fixtures:
 * the tarball stays the data blob, and check, unpack and a kernel mount of the exported block
 * image read every file from it. Needs root for the tree's devices, owners and the mount.
 */
class ZranImageTest {
    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    /** Tar archives cannot hold sockets. Their "./" entry carries the root's metadata. */
    private static final TreeComparator.Options TAR_BUILD =
            TreeComparator.Options.defaults().skippingSockets();
    private static final String FIXTURES = "nydus/zran/";

    private static TempDir work;
    private static Path source;
    private static TreeSnapshot expected;
    private static byte[] tar;

    @BeforeAll
    static void createTree() throws IOException {
        work = TempDirs.create("zran-image-");
        source = work.resolve("source");
        TreeGenerator.createEveryCase(BytePath.of(source));
        expected = TreeSnapshot.capture(source);
        Path archive = work.resolve("source.tar");
        Commands.run(List.of("tar", "--format=posix", "--xattrs", "--xattrs-include=*",
                "--numeric-owner", "-cf", archive.toString(), "-C", source.toString(), "."),
                TIMEOUT);
        tar = Files.readAllBytes(archive);
    }

    @AfterAll
    static void removeTree() throws IOException {
        if (work != null) {
            work.close();
        }
    }

    /** Builds {@code tarGz} into {@code dir} and puts the tarball in the blob directory. */
    private static TestImage build(Path tarGz, Path dir) throws IOException {
        Path blobs = Files.createDirectories(dir.resolve("blobs"));
        BuildResult result = new ImageBuilder(BuildOptions.defaults()).buildTargzRef(tarGz,
                dir.resolve("bootstrap"), ImageBuilder.BlobTarget.inDirectory(blobs));
        Files.copy(tarGz, blobs.resolve(result.blob().blobId()));
        return new TestImage(result.bootstrapFile(), blobs, result.blob().blobId());
    }

    private static Path gzipWithGnuGzip(String name) throws IOException {
        Path plain = work.resolve(name + ".tar");
        Files.write(plain, tar);
        Commands.run(List.of("gzip", "-f", plain.toString()), TIMEOUT);
        return work.resolve(name + ".tar.gz");
    }

    private static Path gzipInMembers(String name, int... splits) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int from = 0;
        for (int i = 0; i <= splits.length; i++) {
            int to = i < splits.length ? splits[i] : tar.length;
            ByteArrayOutputStream member = new ByteArrayOutputStream();
            try (OutputStream gz = new GZIPOutputStream(member)) {
                gz.write(tar, from, to - from);
            }
            out.write(member.toByteArray());
            from = to;
        }
        return Files.write(work.resolve(name + ".tar.gz"), out.toByteArray());
    }

    @Test
    void gnuGzipTarballUnpacksAsSource() throws IOException {
        TestImage image = build(gzipWithGnuGzip("gnu"), work.resolve("image-gnu"));

        Path output = work.resolve("unpack-gnu");
        Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output);
        TreeComparator.assertSameTree(expected, TreeSnapshot.capture(output), TAR_BUILD);
    }

    @Test
    void gnuGzipTarballPassesCheck() throws IOException {
        TestImage image = build(gzipWithGnuGzip("check"), work.resolve("image-check"));

        ImageChecker.Summary summary = ImageChecker.check(image.bootstrap(), image.blobDir());
        BlobInfo blob = BootstrapReader.read(image.bootstrap()).blobs().getFirst();
        assertEquals(blob.chunkCount(), summary.chunksVerified());
        assertTrue(summary.chunksVerified() > 10, summary.toString());
    }

    @Test
    void multiMemberGzipUnpacksAsSource() throws IOException {
        int third = tar.length / 3;
        TestImage image = build(gzipInMembers("members", 1000, third, third + 1, 2 * third),
                work.resolve("image-members"));

        Path output = work.resolve("unpack-members");
        Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output);
        TreeComparator.assertSameTree(expected, TreeSnapshot.capture(output), TAR_BUILD);
    }

    @Test
    void exportedBlockImageMountsAsSource() throws IOException {
        TestImage image = build(gzipInMembers("mount", tar.length / 2),
                work.resolve("image-mount"));

        Path block = work.resolve("zran.erofs");
        BlockExporter.export(image.bootstrap(), image.blobDir(), block);
        Path mountPoint = Files.createDirectory(work.resolve("mount"));
        try (KernelErofs mount = KernelErofs.mount(block, mountPoint)) {
            TreeComparator.assertSameTree(expected,
                    TreeSnapshot.capture(mount.mountPointBytes()), TAR_BUILD);
        }
    }

    @Test
    void bootstrapNamesTarballAndRefBlob() throws IOException {
        Path tarGz = gzipWithGnuGzip("table");
        TestImage image = build(tarGz, work.resolve("image-table"));

        Bootstrap bootstrap = BootstrapReader.read(image.bootstrap());
        BlobInfo blob = bootstrap.blobs().getFirst();
        byte[] gz = Files.readAllBytes(tarGz);
        assertEquals(HexFormat.of().formatHex(DigestAlgorithm.SHA256.digest(gz, 0, gz.length)),
                blob.blobId());
        assertEquals(gz.length, blob.compressedSize());
        assertEquals(Compressor.GZIP, blob.compressor());
        assertEquals(DigestAlgorithm.SHA256, blob.digester());
        int zran = BlobFeatures.ZRAN | BlobFeatures.SEPARATE | BlobFeatures.CHUNK_INFO_V2;
        assertEquals(zran, blob.features() & zran);
        assertTrue(Files.isRegularFile(image.blobDir().resolve(blob.metaDigest())),
                "ref blob " + blob.metaDigest());
    }

    @Test
    void upstreamGzipFixturesUnpackAsGnuTarExtracts() throws IOException {
        for (String name : List.of("zran-single-stream", "zran-two-streams",
                "zran-zero-file")) {
            Path dir = Files.createDirectories(work.resolve("fixture-" + name));
            Path tarGz = dir.resolve(name + ".tar.gz");
            Files.copy(fixture(FIXTURES + name + ".tar.gz"), tarGz);
            TestImage image = build(tarGz, dir.resolve("image"));
            Path extracted = Files.createDirectories(dir.resolve("gnu"));
            Commands.run(List.of("tar", "--numeric-owner", "-xzf", tarGz.toString(), "-C",
                    extracted.toString()), TIMEOUT);

            Path output = dir.resolve("unpacked");
            Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output);
            TreeComparator.assertSameTree(TreeSnapshot.capture(extracted),
                    TreeSnapshot.capture(output),
                    TreeComparator.Options.defaults().ignoringRootMtime());
        }
    }

    @Test
    void corruptGzipByteFailsUnpack() throws IOException {
        Path tarGz = gzipWithGnuGzip("corrupt");
        TestImage image = build(tarGz, work.resolve("image-corrupt"));
        Chunk chunk = firstLargeChunk(image);
        BlobCorruption.flip(image.blobFile(), chunk.compressedOffset()
                + chunk.compressedSize() / 2);

        IOException e = assertThrows(IOException.class, () -> Unpacker.unpackToDirectory(
                image.bootstrap(), image.blobDir(), work.resolve("unpack-corrupt")));
        assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
        assertTrue(e.getMessage().contains("chunk " + chunk.index()), e.getMessage());
    }

    @Test
    void sparseTarEntryIsRejected() throws IOException {
        Path archive = work.resolve("sparse.tar.gz");
        Commands.run(List.of("tar", "--format=posix", "--sparse", "--gzip", "-cf",
                archive.toString(), "-C", source.toString(), "."), TIMEOUT);

        IOException e = assertThrows(IOException.class,
                () -> build(archive, work.resolve("image-sparse")));
        assertTrue(e.getMessage().contains("sparse file"), e.getMessage());
    }

    @Test
    void plainTarIsRejected() throws IOException {
        Path plain = Files.write(work.resolve("plain.tar"), Arrays.copyOf(tar, tar.length));

        IOException e = assertThrows(IOException.class,
                () -> build(plain, work.resolve("image-plain")));
        assertTrue(e.getMessage().contains("is not a gzip file"), e.getMessage());
    }

    @Test
    void mergedLayersReadFromRefBlobs() throws IOException {
        Path dir = Files.createDirectories(work.resolve("merge"));
        Path upper = Files.createDirectories(dir.resolve("upper"));
        Files.writeString(upper.resolve("added.txt"), "added by the upper layer\n");
        Path upperGz = dir.resolve("upper.tar.gz");
        Commands.run(List.of("tar", "--format=posix", "--numeric-owner", "--gzip", "-cf",
                upperGz.toString(), "-C", upper.toString(), "added.txt"), TIMEOUT);
        List<Path> layers = List.of(gzipWithGnuGzip("lower"), upperGz);
        Path blobs = Files.createDirectories(dir.resolve("blobs"));
        List<Path> bootstraps = new java.util.ArrayList<>();
        List<String> refDigests = new java.util.ArrayList<>();
        List<Long> refSizes = new java.util.ArrayList<>();
        java.util.Map<String, String> refOfLayer = new java.util.HashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            Path ref = dir.resolve("ref-" + i);
            Path boot = dir.resolve("layer-" + i + ".boot");
            BuildResult built = new ImageBuilder(perLayerOptions()).buildTargzRef(
                    layers.get(i), boot, ImageBuilder.BlobTarget.toFile(ref));
            refDigests.add(built.blobFileSha256());
            refSizes.add(Files.size(ref));
            Files.copy(ref, blobs.resolve(built.blobFileSha256()));
            Files.copy(layers.get(i), blobs.resolve(built.blob().blobId()));
            refOfLayer.put(built.blob().blobId(), built.blobFileSha256());
            bootstraps.add(boot);
        }
        Path merged = dir.resolve("merged.boot");
        new ImageMerger().blobDigests(refDigests).blobSizes(refSizes).merge(bootstraps, merged);

        for (BlobInfo blob : BootstrapReader.read(merged).blobs()) {
            assertEquals(refOfLayer.get(blob.blobId()), blob.metaDigest(), blob.blobId());
            assertTrue(refSizes.contains(blob.metaSize()), blob.blobId());
            assertEquals(0, blob.features() & BlobFeatures.INLINED_FS_META, blob.blobId());
        }
        Path output = dir.resolve("unpacked");
        Unpacker.unpackToDirectory(merged, blobs, output);
        assertEquals("added by the upper layer\n", Files.readString(output.resolve("added.txt")));
        Files.delete(output.resolve("added.txt"));
        TreeComparator.assertSameTree(expected, TreeSnapshot.capture(output),
                TAR_BUILD.ignoringRootMtime());
    }

    @Test
    void refBlobOpenedAloneGivesItsBootstrap() throws IOException {
        Path dir = Files.createDirectories(work.resolve("alone"));
        Path ref = dir.resolve("ref");
        BuildResult built = new ImageBuilder(perLayerOptions()).buildTargzRef(
                gzipWithGnuGzip("alone"), dir.resolve("layer.boot"),
                ImageBuilder.BlobTarget.toFile(ref));

        try (io.nydus.rafs.blob.BlobReader reader = io.nydus.rafs.blob.BlobReader.open(ref,
                null)) {
            byte[] inlined = reader.readBootstrap().orElseThrow();
            Path copy = Files.write(dir.resolve("inlined.boot"), inlined);
            BlobInfo blob = BootstrapReader.read(copy).blobs().getFirst();
            assertEquals(built.blob().blobId(), blob.blobId());
            assertTrue(blob.has(BlobFeatures.INLINED_FS_META));
            assertEquals(blob.chunkCount(),
                    reader.meta().ciTableV2().orElseThrow().entries().size());
        }
    }

    /** Returns the options of one layer of an image: whiteouts kept, bootstrap inlined. */
    private static BuildOptions perLayerOptions() {
        BuildOptions d = BuildOptions.defaults();
        return new BuildOptions(d.compressor(), d.digester(), d.chunkSize(), WhiteoutSpec.NONE,
                d.threads(), true, true);
    }

    /** Returns the read-only upstream fixture, found in shared/fixtures/upstream above. */
    private static Path fixture(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared/fixtures/upstream").resolve(relative);
            if (Files.exists(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("fixture shared/fixtures/upstream/" + relative
                + " not found");
    }

    /** Returns a chunk of at least 64 KiB, whose middle lies inside its own gzip bytes. */
    private static Chunk firstLargeChunk(TestImage image) throws IOException {
        return BootstrapReader.decode(image.bootstrap()).chunkTable().stream()
                .filter(c -> c.compressedSize() > 65536).findFirst().orElseThrow();
    }
}
