package io.nydus.builder.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Layered builds on a parent bootstrap and builds with a chunk dictionary. Data that the parent
 * or the dictionary already stores is referenced in their blobs instead of stored again. The
 * kernel mount of the result still shows every file's content.
 */
class ChunkReuseTest {
    private static final int CHUNK = 0x10000;
    private static final BuildOptions OPTIONS = new BuildOptions(Compressor.ZSTD,
            DigestAlgorithm.BLAKE3, CHUNK, WhiteoutSpec.OCI, 2, false, true);

    @Test
    void parentChunksAreNotStoredAgain() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            byte[] big = random(1, 3 * CHUNK + 1000);
            Files.write(one.resolve("big"), big);
            Files.write(one.resolve("small"), random(2, 5000));
            BuildResult parent = build(stack, one, "one", null, null);
            Path two = stack.temp().resolve("two");
            Files.createDirectories(two);
            Files.write(two.resolve("copy"), big);
            Files.write(two.resolve("fresh"), random(3, CHUNK));

            BuildResult child = build(stack, two, "two", parent.bootstrapFile(), null);

            assertEquals(4, child.chunksReused());
            assertEquals(1, child.blob().chunkCount());
            List<BlobInfo> blobs = child.bootstrap().blobs();
            assertEquals(List.of(parent.blob().blobId(), child.blob().blobId()),
                    blobs.stream().map(BlobInfo::blobId).toList());
            assertEquals(chunks(parent.bootstrap(), "big"), chunks(child.bootstrap(), "copy"));
            assertMountShows(stack, child.bootstrapFile());
        }
    }

    @Test
    void repeatOnlyLayerStoresNoBlob() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            byte[] big = random(1, 2 * CHUNK);
            Files.write(one.resolve("big"), big);
            BuildResult parent = build(stack, one, "one", null, null);
            Path two = Files.createDirectories(stack.temp().resolve("two"));
            Files.write(two.resolve("copy"), big);

            BuildResult child = build(stack, two, "two", parent.bootstrapFile(), null);

            assertNull(child.blob());
            assertEquals(List.of(parent.blob().blobId()),
                    child.bootstrap().blobs().stream().map(BlobInfo::blobId).toList());
            assertMountShows(stack, child.bootstrapFile());
        }
    }

    @Test
    void unusedDictionaryBlobStaysOut() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            BuildResult dict = dictionary(stack, random(7, 2 * CHUNK));
            Path dir = stack.newLayerDirectory();
            Files.write(dir.resolve("unrelated"), random(8, CHUNK + 10));

            BuildResult image = build(stack, dir, "image", null, dict.bootstrapFile());

            assertEquals(0, image.chunksReused());
            assertEquals(List.of(image.blob().blobId()),
                    image.bootstrap().blobs().stream().map(BlobInfo::blobId).toList());
        }
    }

    @Test
    void dictionaryOfOtherDigesterIsRejected() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            BuildResult dict = dictionary(stack, random(7, 2 * CHUNK));
            Path dir = stack.newLayerDirectory();
            Files.write(dir.resolve("file"), random(7, 2 * CHUNK));
            BuildOptions sha256 = new BuildOptions(Compressor.ZSTD, DigestAlgorithm.SHA256, CHUNK,
                    WhiteoutSpec.OCI, 2, false, true);

            IOException e = assertThrows(IOException.class, () -> new ImageBuilder(sha256)
                    .chunkDict(dict.bootstrapFile()).buildDirectory(dir,
                            stack.temp().resolve("image.boot"),
                            ImageBuilder.BlobTarget.inDirectory(stack.blobDir())));

            assertEquals("chunk dict " + dict.bootstrapFile() + " uses the blake3 digester, this"
                    + " build uses sha256; build with --digester blake3", e.getMessage());
        }
    }

    @Test
    void usedDictionaryBlobJoinsTable() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            byte[] shared = random(7, 2 * CHUNK);
            BuildResult dict = dictionary(stack, shared);
            Path dir = stack.newLayerDirectory();
            Files.write(dir.resolve("again"), shared);
            Files.write(dir.resolve("fresh"), random(9, 3000));

            BuildResult image = build(stack, dir, "image", null, dict.bootstrapFile());

            assertEquals(2, image.chunksReused());
            assertNotNull(image.blob());
            List<String> ids = image.bootstrap().blobs().stream().map(BlobInfo::blobId).toList();
            assertEquals(List.of(image.blob().blobId(), dict.blob().blobId()), ids);
            for (Chunk c : chunks(image.bootstrap(), "again")) {
                assertEquals(1, c.blobIndex());
            }
            assertMountShows(stack, image.bootstrapFile());
        }
    }

    @Test
    void dictionaryOnlyImageUsesDictionaryBlob() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            byte[] shared = random(7, 2 * CHUNK);
            BuildResult dict = dictionary(stack, shared);
            Path dir = stack.newLayerDirectory();
            Files.write(dir.resolve("again"), shared);

            BuildResult image = build(stack, dir, "image", null, dict.bootstrapFile());

            assertNull(image.blob());
            assertEquals(List.of(dict.blob().blobId()),
                    image.bootstrap().blobs().stream().map(BlobInfo::blobId).toList());
            assertMountShows(stack, image.bootstrapFile());
        }
    }

    @Test
    void mergedParentLayersShareOneBlob() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            byte[] big = random(1, 2 * CHUNK);
            Files.write(one.resolve("big"), big);
            BuildResult parent = build(stack, one, "one", null, null);
            Path two = Files.createDirectories(stack.temp().resolve("two"));
            Files.write(two.resolve("copy"), big);
            Files.writeString(two.resolve("note"), "note");
            BuildResult child = build(stack, two, "two", parent.bootstrapFile(), null);

            Path merged = stack.temp().resolve("merged.boot");
            Bootstrap result = new ImageMerger()
                    .merge(List.of(parent.bootstrapFile(), child.bootstrapFile()), merged)
                    .bootstrap();

            assertEquals(List.of(parent.blob().blobId(), child.blob().blobId()),
                    result.blobs().stream().map(BlobInfo::blobId).toList());
            assertMountShows(stack, merged);
        }
    }

    @Test
    void mergeWithDictRenamesOwnBlobsOnly() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            byte[] shared = random(7, 2 * CHUNK);
            BuildResult dict = dictionary(stack, shared);
            Path one = stack.newLayerDirectory();
            Files.write(one.resolve("again"), shared);
            Files.write(one.resolve("fresh"), random(9, 3000));
            BuildResult first = build(stack, one, "one", null, dict.bootstrapFile());
            Path two = Files.createDirectories(stack.temp().resolve("two"));
            Files.write(two.resolve("other"), random(10, CHUNK + 5));
            BuildResult second = build(stack, two, "two", null, dict.bootstrapFile());
            String digestOne = "a".repeat(64);
            String digestTwo = "b".repeat(64);

            Bootstrap merged = new ImageMerger().chunkDict(dict.bootstrapFile())
                    .blobDigests(List.of(digestOne, "sha256:" + digestTwo))
                    .merge(List.of(first.bootstrapFile(), second.bootstrapFile()),
                            stack.temp().resolve("merged.boot"))
                    .bootstrap();

            List<String> ids = merged.blobs().stream().map(BlobInfo::blobId).toList();
            assertEquals(3, ids.size());
            assertEquals(Set.of(digestOne, digestTwo, dict.blob().blobId()), Set.copyOf(ids));
        }
    }

    @Test
    void mergeWithDictRejectsSecondOwnBlob() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            BuildResult dict = dictionary(stack, random(7, 2 * CHUNK));
            Path one = stack.newLayerDirectory();
            Files.write(one.resolve("big"), random(1, 2 * CHUNK));
            BuildResult parent = build(stack, one, "one", null, null);
            Path two = Files.createDirectories(stack.temp().resolve("two"));
            Files.write(two.resolve("copy"), random(1, 2 * CHUNK));
            Files.write(two.resolve("fresh"), random(3, 3000));
            BuildResult child = build(stack, two, "two", parent.bootstrapFile(),
                    dict.bootstrapFile());

            IOException e = assertThrows(IOException.class, () -> new ImageMerger()
                    .chunkDict(dict.bootstrapFile())
                    .merge(List.of(child.bootstrapFile()), stack.temp().resolve("m.boot")));

            assertEquals(child.bootstrapFile() + ": blobs [0, 1] are not in chunk dict "
                    + dict.bootstrapFile() + ", expected at most one blob of the layer's own",
                    e.getMessage());
        }
    }

    @Test
    void mergeWithDictOfOtherChunkSizeFails() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path dictDir = Files.createDirectories(stack.temp().resolve("dict"));
            Files.write(dictDir.resolve("data"), random(7, 2 * CHUNK));
            Path dictBoot = stack.temp().resolve("dict.boot");
            new ImageBuilder(new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                    2 * CHUNK, WhiteoutSpec.OCI, 2, false, true))
                    .buildDirectory(dictDir, dictBoot,
                            ImageBuilder.BlobTarget.inDirectory(stack.blobDir()));
            Path one = stack.newLayerDirectory();
            Files.write(one.resolve("file"), random(2, 3000));
            BuildResult layer = build(stack, one, "one", null, null);

            IOException e = assertThrows(IOException.class, () -> new ImageMerger()
                    .chunkDict(dictBoot)
                    .merge(List.of(layer.bootstrapFile()), stack.temp().resolve("m.boot")));

            assertEquals("layer bootstraps differ in chunk size: 0x20000 in " + dictBoot
                    + ", 0x10000 in " + layer.bootstrapFile() + "; build every layer with the"
                    + " same settings", e.getMessage());
        }
    }

    private static BuildResult dictionary(LayerStack stack, byte[] data) throws IOException {
        Path dir = Files.createDirectories(stack.temp().resolve("dict"));
        Files.write(dir.resolve("data"), data);
        return build(stack, dir, "dict", null, null);
    }

    /**
     * Archives {@code dir} with GNU tar, builds it into {@code name}.boot and applies it to the
     * stack's expected tree.
     */
    private static BuildResult build(LayerStack stack, Path dir, String name, Path parent,
            Path dict) throws IOException {
        Path tar = stack.temp().resolve(name + ".tar");
        LayerStack.run("tar", "--format=gnu", "--sort=name", "--numeric-owner", "-C",
                dir.toString(), "-cf", tar.toString(), ".");
        if (!name.equals("dict")) {
            LayerStack.applyToExpected(tar, stack.expected());
        }
        try (InputStream in = Files.newInputStream(tar)) {
            return new ImageBuilder(OPTIONS).parentBootstrap(parent).chunkDict(dict)
                    .buildTar(in, tar.toString(), stack.temp().resolve(name + ".boot"),
                            ImageBuilder.BlobTarget.inDirectory(stack.blobDir()));
        }
    }

    private static void assertMountShows(LayerStack stack, Path bootstrap) throws IOException {
        TreeSnapshot mounted = stack.mountAndCapture(bootstrap);
        TreeComparator.assertSameTree(TreeSnapshot.capture(stack.expected()), mounted,
                TreeComparator.Options.defaults());
        assertFalse(mounted.entries().isEmpty());
    }

    private static List<Chunk> chunks(Bootstrap bootstrap, String name) {
        Node node = bootstrap.root().child(name.getBytes(StandardCharsets.UTF_8));
        return node.inode().chunks();
    }

    private static byte[] random(long seed, int size) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }
}
