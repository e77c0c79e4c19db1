package io.nydus.daemon;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.Bootstrap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds images of test trees: a bootstrap and a blob directory. */
final class TestImages {

    private TestImages() {
    }

    /** Builds {@code source} with a small chunk size so that files span several chunks. */
    static BuildResult build(Path source, Path dir, int chunkSize) throws IOException {
        Files.createDirectories(dir);
        ImageBuilder builder = new ImageBuilder(new BuildOptions(Compressor.ZSTD,
                DigestAlgorithm.BLAKE3, chunkSize, WhiteoutSpec.OCI, 2, false, true));
        return builder.buildDirectory(source, dir.resolve("bootstrap"),
                ImageBuilder.BlobTarget.inDirectory(dir.resolve("blobs")));
    }

    static BuildResult build(Path source, Path dir) throws IOException {
        return build(source, dir, Bootstrap.DEFAULT_CHUNK_SIZE);
    }
}
