package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.PrefetchList;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What a mount prefetches, and whether that waits for the program's reads. */
class DaemonPrefetchTest {
    private static final String PREFETCH_ON = """
            {"fs_prefetch": {"enable": true, "prefetch_all": false}}""";

    private TempDir work;
    private Path source;
    private BuildResult image;

    @BeforeEach
    void createTree() throws IOException {
        work = TempDirs.create("daemon-prefetch-");
        source = Files.createDirectories(work.resolve("source"));
        Files.writeString(source.resolve("hot"), "read first");
        Files.writeString(source.resolve("cold"), "read later");
    }

    @AfterEach
    void removeTree() throws IOException {
        work.close();
    }

    /** Builds the tree with {@code patterns} as its prefetch list and mounts it. */
    private DirectBlobData mount(String name, String patterns) throws IOException {
        return mount(name, patterns, List.of());
    }

    /**
     * Builds the tree with {@code patterns} as its prefetch list and mounts it with
     * {@code prefetchFiles} in the mount request.
     */
    private DirectBlobData mount(String name, String patterns, List<String> prefetchFiles)
            throws IOException {
        Path dir = Files.createDirectories(work.resolve(name));
        ImageBuilder builder = new ImageBuilder(new BuildOptions(Compressor.ZSTD,
                DigestAlgorithm.BLAKE3, Bootstrap.DEFAULT_CHUNK_SIZE, WhiteoutSpec.OCI, 2,
                false, true)).prefetch(PrefetchList.parse(
                        patterns.getBytes(StandardCharsets.UTF_8)));
        image = builder.buildDirectory(source, dir.resolve("bootstrap"),
                ImageBuilder.BlobTarget.inDirectory(dir.resolve("blobs")));
        DirectBlobData[] data = new DirectBlobData[1];
        try (Daemon daemon = new Daemon("prefetch-test", true, (config, decoded, settings) -> {
            data[0] = new DirectBlobData(dir.resolve("blobs"), decoded.bootstrap().blobs());
            return data[0];
        })) {
            daemon.mount("/app", image.bootstrapFile(),
                    DaemonConfig.parse("test config", PREFETCH_ON), prefetchFiles);
        }
        return data[0];
    }

    @Test
    void listedFileIsFetchedAtOnce() throws IOException {
        DirectBlobData data = mount("hot", "/hot\n");

        assertEquals(List.of(false), data.prefetchYielded);
        assertEquals(1, data.prefetched.size());
    }

    @Test
    void listedRootWaitsForReads() throws IOException {
        DirectBlobData data = mount("root", "/\n");

        assertEquals(List.of(true), data.prefetchYielded);
        assertEquals(2, data.prefetched.size());
    }

    @Test
    void requestedFilesReplaceBootstrapList() throws IOException {
        DirectBlobData data = mount("requested", "/hot\n", List.of("/cold"));

        assertEquals(List.of(false), data.prefetchYielded);
        assertEquals(chunksOf("cold"), data.prefetched);
    }

    @Test
    void missingRequestedFilePrefetchesNothing() throws IOException {
        DirectBlobData data = mount("missing", "/hot\n", List.of("/absent"));

        assertEquals(List.of(), data.prefetched);
    }

    private List<Chunk> chunksOf(String name) throws IOException {
        Node root = BootstrapReader.read(image.bootstrapFile()).root();
        return root.child(name.getBytes(StandardCharsets.UTF_8)).inode().chunks();
    }
}
