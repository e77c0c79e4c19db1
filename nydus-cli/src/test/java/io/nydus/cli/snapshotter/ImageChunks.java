package io.nydus.cli.snapshotter;

import io.nydus.nydusify.SeedImage;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.Repository;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The chunks of a Nydus image as its bootstrap lists them: which stored byte ranges of which
 * blob contain each file's data. Tests compare them with the blob ranges a registry served.
 */
final class ImageChunks {

    /**
     * The stored (compressed) bytes of one chunk.
     *
     * @param blob the digest of the data layer, which is the blob's id
     * @param offset the chunk's compressed offset in the blob
     * @param length the chunk's compressed size
     */
    record StoredRange(Digest blob, long offset, long length) {
        long end() {
            return offset + length;
        }

        @Override
        public String toString() {
            return blob.hex().substring(0, 12) + " bytes " + offset + "-" + (end() - 1);
        }
    }

    private final DecodedBootstrap bootstrap;
    private final List<Digest> blobs;
    private final Set<StoredRange> allChunks;

    private ImageChunks(DecodedBootstrap bootstrap, List<Digest> blobs) {
        this.bootstrap = bootstrap;
        this.blobs = blobs;
        this.allChunks = collectChunks();
    }

    /**
     * Reads the bootstrap of {@code manifest}'s image from its bootstrap layer (the last layer)
     * in {@code repository}, unpacking it in {@code workDir}.
     */
    static ImageChunks load(RegistryClient client, Repository repository, Manifest manifest,
            Path workDir) throws IOException {
        Files.createDirectories(workDir);
        Path layer = workDir.resolve("bootstrap.tar.gz");
        try (InputStream in = client.getBlob(repository, manifest.layers().getLast().digest())) {
            Files.copy(in, layer);
        }
        SeedImage.run("tar", "-xzf", layer.toString(), "-C", workDir.toString(),
                "image/image.boot");
        DecodedBootstrap bootstrap = BootstrapReader.decode(workDir.resolve("image/image.boot"));
        List<Digest> blobs = new ArrayList<>();
        for (BlobInfo blob : bootstrap.bootstrap().blobs()) {
            blobs.add(new Digest(blob.blobId()));
        }
        return new ImageChunks(bootstrap, List.copyOf(blobs));
    }

    /** Returns the data blobs of the image, by blob index. */
    List<Digest> blobs() {
        return blobs;
    }

    /**
     * Returns the chunks of the regular file at {@code path} (absolute, in the image).
     *
     * @throws IllegalArgumentException if the image has no file there
     */
    Set<StoredRange> fileChunks(String path) {
        Node node = bootstrap.bootstrap().root();
        for (String name : path.substring(1).split("/")) {
            node = node.child(name.getBytes(StandardCharsets.UTF_8));
            if (node == null) {
                throw new IllegalArgumentException("the image has no " + path);
            }
        }
        return ranges(node.inode().chunks());
    }

    /** Returns the chunks of every file of the image. */
    Set<StoredRange> allChunks() {
        return allChunks;
    }

    private Set<StoredRange> collectChunks() {
        Set<StoredRange> result = new LinkedHashSet<>();
        Deque<Node> pending = new ArrayDeque<>(List.of(bootstrap.bootstrap().root()));
        while (!pending.isEmpty()) {
            Node node = pending.pop();
            result.addAll(ranges(node.inode().chunks()));
            pending.addAll(node.children());
        }
        return java.util.Collections.unmodifiableSet(result);
    }

    /** Returns the chunks of {@code blob} that share at least one byte with [start, end). */
    List<StoredRange> chunksOverlapping(Digest blob, long start, long end) {
        List<StoredRange> result = new ArrayList<>();
        for (StoredRange chunk : allChunks) {
            if (chunk.blob().equals(blob) && chunk.offset() < end && start < chunk.end()) {
                result.add(chunk);
            }
        }
        result.sort(java.util.Comparator.comparingLong(StoredRange::offset));
        return result;
    }

    private Set<StoredRange> ranges(List<Chunk> chunks) {
        Set<StoredRange> result = new LinkedHashSet<>();
        for (Chunk chunk : chunks) {
            result.add(new StoredRange(blobs.get(chunk.blobIndex()), chunk.compressedOffset(),
                    chunk.compressedSize()));
        }
        return result;
    }
}
