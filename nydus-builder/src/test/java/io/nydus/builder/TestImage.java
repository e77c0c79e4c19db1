package io.nydus.builder;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.Bootstrap;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An image built for a test: its bootstrap and the blob directory beside it.
 *
 * @param bootstrap the bootstrap file
 * @param blobDir the directory holding the blob, named by blob id
 * @param blobId the id of the image's blob, or null when it stores no data
 */
record TestImage(Path bootstrap, Path blobDir, String blobId) {

    /** Returns the blob file. */
    Path blobFile() {
        return blobDir.resolve(blobId);
    }

    /** Builds {@code source} into {@code dir}/bootstrap and {@code dir}/blobs. */
    static TestImage fromDirectory(Path source, Compressor compressor, Path dir)
            throws IOException {
        Files.createDirectories(dir);
        BuildResult result = builder(compressor).buildDirectory(source,
                dir.resolve("bootstrap"),
                ImageBuilder.BlobTarget.inDirectory(dir.resolve("blobs")));
        return of(result, dir);
    }

    /** Builds the tarball {@code tar} (plain, gzip or zstd) into {@code dir}. */
    static TestImage fromTar(Path tar, Compressor compressor, Path dir) throws IOException {
        Files.createDirectories(dir);
        try (InputStream in = Files.newInputStream(tar)) {
            BuildResult result = builder(compressor).buildTar(in, tar.toString(),
                    dir.resolve("bootstrap"),
                    ImageBuilder.BlobTarget.inDirectory(dir.resolve("blobs")));
            return of(result, dir);
        }
    }

    private static ImageBuilder builder(Compressor compressor) {
        return new ImageBuilder(new BuildOptions(compressor, DigestAlgorithm.BLAKE3,
                Bootstrap.DEFAULT_CHUNK_SIZE, WhiteoutSpec.OCI, 2, false, true));
    }

    private static TestImage of(BuildResult result, Path dir) {
        String blobId = result.blob() == null ? null : result.blob().blobId();
        return new TestImage(result.bootstrapFile(), dir.resolve("blobs"), blobId);
    }
}
