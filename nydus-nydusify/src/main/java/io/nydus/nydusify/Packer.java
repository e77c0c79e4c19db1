package io.nydus.nydusify;

import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Packs a local directory into a Nydus image (RAFS v6): a bootstrap named by the caller and a
 * blob named by its blob id, both in one output directory.
 *
 * <p>Upstream's pack names the blob after the bootstrap ({@code NAME.blob}) and renames it to
 * its blob id only when it has a parent or pushes the blob. This pack always uses the blob id,
 * the name under which nydusd's localfs backend and the unpack and check commands look the
 * blob up.
 */
public final class Packer {
    private static final Logger LOG = LoggerFactory.getLogger(Packer.class);

    /**
     * Builds {@code options.sourceDir()} into the output directory, creating it if needed.
     *
     * @throws IOException if the source is not a directory, the parent or dictionary cannot be
     *     read, or the build fails. The message names the file at fault
     */
    public PackResult pack(PackOptions options) throws IOException {
        Path source = options.sourceDir();
        if (!Files.isDirectory(source)) {
            throw Files.exists(source)
                    ? new IOException("source " + source + " is not a directory")
                    : new NoSuchFileException(source.toString(), null,
                            "source directory not found");
        }
        requireFile("parent bootstrap", options.parentBootstrap());
        requireFile("chunk dictionary", options.chunkDict());
        Files.createDirectories(options.outputDir());
        ImageBuilder builder = new ImageBuilder(options.buildOptions())
                .parentBootstrap(options.parentBootstrap())
                .chunkDict(options.chunkDict());
        BuildResult built = builder.buildDirectory(source, options.bootstrapFile(),
                ImageBuilder.BlobTarget.inDirectory(options.outputDir()));
        String blobId = built.blobFile() == null ? null : built.blob().blobId();
        LOG.info("packed {} into bootstrap {} and {}", source, built.bootstrapFile(),
                blobId == null ? "no new blob" : "blob " + built.blobFile());
        return new PackResult(built.bootstrapFile(), built.blobFile(), blobId, built.bytesRead(),
                built.chunksReused());
    }

    private static void requireFile(String role, Path file) throws IOException {
        if (file != null && !Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, role + " not found");
        }
    }
}
