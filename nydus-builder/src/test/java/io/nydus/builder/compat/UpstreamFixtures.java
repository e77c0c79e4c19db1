package io.nydus.builder.compat;

import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The upstream Nydus fixtures, found by walking up from the working directory to a folder that
 * has {@code shared/fixtures/upstream}. Tests copy a fixture into their own temporary directory
 * before reading it, because the shared folder is read-only on CI.
 */
final class UpstreamFixtures {
    static final String V6_BOOTSTRAP = "nydus/bootstrap/rafs-v6-2.2.boot";
    static final String V6_BLOB_ID =
            "be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef";
    static final String V6_BLOB = "nydus/blobs/" + V6_BLOB_ID;
    static final String TOC_BLOB_ID =
            "2fa78cad554b75ac91a4a125ed148d0ddeb25efa4aaa8bd80e5dc292690a4dca";
    static final String TOC_BLOB = "nydus/toc/" + TOC_BLOB_ID;
    static final String SNAPSHOTTER_V6_LAYER =
            "nydus-snapshotter/filesystem-testdata/v6-bootstrap-chunk-pos-438272.tar.gz";
    static final String SNAPSHOTTER_V5_LAYER =
            "nydus-snapshotter/filesystem-testdata/v5-bootstrap-file-size-736032.tar.gz";
    static final String V5_LZ4 = "nydus/repeatable/blake3-lz4_block-non_repeatable";
    static final String V5_NONE = "nydus/repeatable/sha256-nocompress-repeatable";

    private UpstreamFixtures() {
    }

    /** Returns the {@code shared/fixtures/upstream} folder. */
    static Path root() throws IOException {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null) {
            Path candidate = dir.resolve("shared").resolve("fixtures").resolve("upstream");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
            dir = dir.getParent();
        }
        throw new IOException("no shared/fixtures/upstream folder above "
                + Path.of("").toAbsolutePath());
    }

    /**
     * Copies the fixture at {@code relativePath} into {@code dir} under its own file name and
     * returns the copy.
     */
    static Path copy(String relativePath, Path dir) throws IOException {
        Path source = root().resolve(relativePath);
        if (!Files.isRegularFile(source)) {
            throw new IOException("fixture " + source + " is missing");
        }
        Path target = dir.resolve(source.getFileName().toString());
        return Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Reads one chunk of a fixture blob through the project's reader, digest-checked. */
    static byte[] readChunk(FileChannel channel, BlobInfo blob, Chunk chunk) throws IOException {
        return BlobReader.open(blob.blobId(), channel, blob).readChunk(chunk);
    }
}
