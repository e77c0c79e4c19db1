package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Checks the SHA-256 of the whole blob file that a build computes while it writes the blob. */
class BlobFileDigestTest {
    private static TempDir work;
    private static Path sampleTree;

    @BeforeAll
    static void createTree() throws IOException {
        work = TempDirs.create("blob-file-digest-");
        sampleTree = work.resolve("sample");
        SampleTree.create(Files.createDirectories(sampleTree), 7);
    }

    @AfterAll
    static void removeTree() throws IOException {
        work.close();
    }

    @Test
    void digestMatchesSha256sum() throws IOException {
        BuildResult result = build(new ImageBuilder(options()).digestBlobFile(), "digested");

        assertNotNull(result.blobFile(), "the build stored no blob");
        assertEquals(sha256sum(result.blobFile()), result.blobFileSha256());
        // The blob id leaves out the chunk digest array, so it is not the file's digest.
        assertNotEquals(result.blob().blobId(), result.blobFileSha256());
    }

    @Test
    void digestIsNullUnlessRequested() throws IOException {
        BuildResult result = build(new ImageBuilder(options()), "plain");

        assertNotNull(result.blobFile(), "the build stored no blob");
        assertNull(result.blobFileSha256());
    }

    private static BuildOptions options() {
        return new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3, SampleTree.CHUNK_SIZE,
                WhiteoutSpec.OCI, 4, false, true);
    }

    private static BuildResult build(ImageBuilder builder, String label) throws IOException {
        Path dir = work.resolve(label);
        return builder.buildDirectory(sampleTree, dir.resolve("bootstrap"),
                ImageBuilder.BlobTarget.inDirectory(dir.resolve("blobs")));
    }

    /** Returns the digest that the sha256sum command prints for {@code file}. */
    private static String sha256sum(Path file) throws IOException {
        String output = Commands.run(List.of("sha256sum", file.toString()),
                Duration.ofMinutes(1)).stdoutText();
        return output.substring(0, 64);
    }
}
