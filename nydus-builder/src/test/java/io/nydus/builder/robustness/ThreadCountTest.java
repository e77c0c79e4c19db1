package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageChecker;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeGenerator;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Builds the same input with one and with four chunk threads and expects byte-identical
 * bootstraps and blobs, for a directory, for tarballs made by GNU tar and for each chunk
 * compressor.
 */
class ThreadCountTest {
    /** Enough chunks that four workers finish out of order many times. */
    private static final int MANY_CHUNKS = 100;

    private static TempDir work;
    private static Path sampleTree;
    private static Path smallTree;
    private static Path sampleTar;
    private static Path sampleTarGz;
    private static Path sampleTarZst;

    @BeforeAll
    static void createSources() throws IOException {
        work = TempDirs.create("thread-count-");
        sampleTree = work.resolve("sample");
        SampleTree.create(Files.createDirectories(sampleTree), 42);
        smallTree = work.resolve("small");
        TreeGenerator.createSmall(io.nydus.posix.BytePath.of(smallTree));
        sampleTar = work.resolve("sample.tar");
        tar(sampleTree, sampleTar, List.of());
        sampleTarGz = work.resolve("sample.tar.gz");
        tar(sampleTree, sampleTarGz, List.of("--gzip"));
        sampleTarZst = work.resolve("sample.tar.zst");
        tar(sampleTree, sampleTarZst, List.of("--zstd"));
    }

    @AfterAll
    static void removeSources() throws IOException {
        work.close();
    }

    private static void tar(Path source, Path archive, List<String> extra) throws IOException {
        List<String> argv = new java.util.ArrayList<>(List.of("tar", "--format=pax",
                "--xattrs", "--xattrs-include=*", "--sort=name", "-C", source.toString(),
                "-cf", archive.toString()));
        argv.addAll(extra);
        argv.add(".");
        Commands.run(argv, Duration.ofMinutes(1));
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "LZ4_BLOCK", "ZSTD"})
    void directoryBuildIgnoresThreads(Compressor compressor) throws IOException {
        assertSameOutput(compressor, "dir", MANY_CHUNKS, (builder, boot, blobs) ->
                builder.buildDirectory(sampleTree, boot, blobs));
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "LZ4_BLOCK", "ZSTD"})
    void smallTreeBuildIgnoresThreads(Compressor compressor) throws IOException {
        assertSameOutput(compressor, "small", 1, (builder, boot, blobs) ->
                builder.buildDirectory(smallTree, boot, blobs));
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "LZ4_BLOCK", "ZSTD"})
    void tarBuildIgnoresThreads(Compressor compressor) throws IOException {
        assertSameOutput(compressor, "tar", MANY_CHUNKS, (builder, boot, blobs) -> {
            try (InputStream in = Files.newInputStream(sampleTar)) {
                return builder.buildTar(in, sampleTar.toString(), boot, blobs);
            }
        });
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "LZ4_BLOCK", "ZSTD"})
    void gzipTarBuildIgnoresThreads(Compressor compressor) throws IOException {
        assertSameOutput(compressor, "targz", MANY_CHUNKS, (builder, boot, blobs) -> {
            try (InputStream in = Files.newInputStream(sampleTarGz)) {
                return builder.buildTar(in, sampleTarGz.toString(), boot, blobs);
            }
        });
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "LZ4_BLOCK", "ZSTD"})
    void zstdTarBuildIgnoresThreads(Compressor compressor) throws IOException {
        assertSameOutput(compressor, "tarzst", MANY_CHUNKS, (builder, boot, blobs) -> {
            try (InputStream in = Files.newInputStream(sampleTarZst)) {
                return builder.buildTar(in, sampleTarZst.toString(), boot, blobs);
            }
        });
    }

    @FunctionalInterface
    private interface Build {
        BuildResult run(ImageBuilder builder, Path bootstrap, ImageBuilder.BlobTarget blobs)
                throws IOException;
    }

    private static void assertSameOutput(Compressor compressor, String label, int minChunks,
            Build build) throws IOException {
        Path one = work.resolve(label + "-" + compressor + "-1");
        Path four = work.resolve(label + "-" + compressor + "-4");
        BuildResult single = build(compressor, 1, one, build);
        BuildResult parallel = build(compressor, 4, four, build);

        assertNotNull(single.blobFile(), "the build stored no blob");
        int chunks = single.bootstrap().blobs().getFirst().chunkCount();
        assertTrue(chunks >= minChunks, "only " + chunks + " chunks were stored");
        assertArrayEquals(Files.readAllBytes(single.bootstrapFile()),
                Files.readAllBytes(parallel.bootstrapFile()), "bootstraps differ");
        assertEquals(single.blobFile().getFileName(), parallel.blobFile().getFileName(),
                "blob ids differ");
        assertEquals(-1L, Files.mismatch(single.blobFile(), parallel.blobFile()),
                "blobs differ at this offset");
        ImageChecker.check(parallel.bootstrapFile(), parallel.blobFile().getParent());
    }

    private static BuildResult build(Compressor compressor, int threads, Path dir, Build build)
            throws IOException {
        BuildOptions options = new BuildOptions(compressor, DigestAlgorithm.BLAKE3,
                SampleTree.CHUNK_SIZE, WhiteoutSpec.OCI, threads, false, true);
        return build.run(new ImageBuilder(options), dir.resolve("bootstrap"),
                ImageBuilder.BlobTarget.inDirectory(dir.resolve("blobs")));
    }
}
