package io.nydus.builder.merge;

import static io.nydus.builder.merge.LayerStack.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.ImageMerger;
import io.nydus.builder.MergeResult;
import io.nydus.builder.PrefetchList;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.RafsFlags;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The merged blob table, superblock flags, blob ids, determinism and rejected inputs. */
class MergeBlobTableTest {

    @Test
    void mergeTwiceIsByteIdentical() throws IOException {
        try (LayerStack stack = threeLayers()) {
            Path first = stack.merge("first.boot");
            Path second = stack.temp().resolve("second.boot");
            new ImageMerger().merge(stack.bootstraps(), second);

            assertArrayEquals(Files.readAllBytes(first), Files.readAllBytes(second));
        }
    }

    @Test
    void parentBootstrapEqualsMergingItsLayers() throws IOException {
        try (LayerStack stack = threeLayers()) {
            List<Path> layers = stack.bootstraps();
            Path all = stack.merge("all.boot");
            Path parent = stack.temp().resolve("parent.boot");
            new ImageMerger().merge(layers.subList(0, 2), parent);
            Path onParent = stack.temp().resolve("on-parent.boot");

            new ImageMerger().parentBootstrap(parent).blobDirectory(stack.blobDir())
                    .merge(layers.subList(2, 3), onParent);

            assertArrayEquals(Files.readAllBytes(all), Files.readAllBytes(onParent));
        }
    }

    @Test
    void blobIdsComeFromFileNames() throws IOException {
        try (LayerStack stack = threeLayers()) {
            Bootstrap merged = BootstrapReader.read(stack.merge("merged.boot"));

            List<String> fileIds = stack.bootstraps().stream()
                    .map(p -> p.getFileName().toString().substring(0, 64)).toList();
            for (BlobInfo blob : merged.blobs()) {
                assertTrue(fileIds.contains(blob.blobId()), blob.blobId());
                assertTrue(Files.isRegularFile(stack.blobDir().resolve(blob.blobId())));
            }
        }
    }

    @Test
    void blobDigestsOverrideFileNames() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("a"), "a");
            stack.addDirectory(one);
            Path renamed = stack.temp().resolve("layer.boot");
            Files.move(stack.bootstraps().getFirst(), renamed);
            String id = stack.bootstraps().getFirst().getFileName().toString().substring(0, 64);

            IOException e = assertThrows(IOException.class, () -> new ImageMerger()
                    .merge(List.of(renamed), stack.temp().resolve("bad.boot")));
            Bootstrap merged = new ImageMerger().blobDigests(List.of("sha256:" + id))
                    .merge(List.of(renamed), stack.temp().resolve("good.boot")).bootstrap();
            Bootstrap byOriginalId = new ImageMerger().originalBlobIds(List.of(id))
                    .merge(List.of(renamed), stack.temp().resolve("original.boot")).bootstrap();

            assertTrue(e.getMessage().contains("has no id yet"), e.getMessage());
            assertEquals(id, merged.blobs().getFirst().blobId());
            assertEquals(id, byOriginalId.blobs().getFirst().blobId());
        }
    }

    @Test
    void blobSizesAndTocsReplaceLayerValues() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            for (String name : List.of("one", "two", "three")) {
                Path layer = stack.newLayerDirectory();
                write(layer.resolve(name), name);
                stack.addDirectory(layer);
            }
            List<Long> sizes = List.of(111L, 222L, 333L);
            List<String> tocDigests = List.of("a".repeat(64), "sha256:" + "b".repeat(64),
                    "c".repeat(64));
            List<Long> tocSizes = List.of(1024L, 2048L, 4096L);

            Path output = stack.temp().resolve("merged.boot");
            new ImageMerger().blobSizes(sizes).blobTocs(tocDigests, tocSizes)
                    .merge(stack.bootstraps(), output);
            Bootstrap merged = BootstrapReader.read(output);

            assertEquals(3, merged.blobs().size());
            for (int i = 0; i < 3; i++) {
                String id = idOf(stack, i);
                BlobInfo blob = merged.blobs().stream().filter(b -> b.blobId().equals(id))
                        .findFirst().orElseThrow();
                assertEquals(sizes.get(i), blob.compressedSize());
                assertEquals(tocDigests.get(i).replace("sha256:", ""), blob.tocDigest());
                assertEquals(tocSizes.get(i), blob.tocSize());
            }
        }
    }

    @Test
    void blobSizeCountMustMatchLayers() throws IOException {
        try (LayerStack stack = threeLayers()) {
            var e = assertThrows(IllegalArgumentException.class, () -> new ImageMerger()
                    .blobSizes(List.of(1L)).merge(stack.bootstraps(),
                            stack.temp().resolve("bad.boot")));

            assertTrue(e.getMessage().contains("1 blob sizes given for 3 layer bootstraps"),
                    e.getMessage());
        }
    }

    @Test
    void unusedBlobIsDropped() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("z"), "bottom data");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve(".wh.z"), "");
            write(two.resolve("a"), "top data");
            stack.addDirectory(two);

            MergeResult result = new ImageMerger().merge(stack.bootstraps(),
                    stack.temp().resolve("merged.boot"));

            assertEquals(List.of(idOf(stack, 1)), ids(result.bootstrap()));
            assertEquals(List.of(idOf(stack, 0)), result.droppedBlobIds());
            stack.assertMergeMatchesUnpack();
        }
    }

    @Test
    void blobsNumberedInFirstUseOrder() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("z"), "bottom data");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve("d/deep"), "deep data");
            write(two.resolve("y"), "top data");
            stack.addDirectory(two);

            Bootstrap merged = BootstrapReader.read(stack.merge("merged.boot"));

            assertEquals(List.of(idOf(stack, 1), idOf(stack, 0)), ids(merged));
            stack.assertMergeMatchesUnpack();
        }
    }

    @Test
    void mergedFlagsAndFeatures() throws IOException {
        try (LayerStack stack = threeLayers()) {
            Bootstrap merged = BootstrapReader.read(stack.merge("merged.boot"));

            assertTrue((merged.flags() & RafsFlags.HAS_XATTR) != 0);
            assertTrue((merged.flags() & RafsFlags.INLINED_CHUNK_DIGEST) != 0);
            assertTrue(merged.explicitUidGid());
            for (BlobInfo blob : merged.blobs()) {
                assertFalse(blob.has(BlobFeatures.INLINED_FS_META), blob.blobId());
            }
        }
    }

    @Test
    void chunkSizeMismatchNamesBothFiles() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("a"), "a");
            stack.addDirectory(one);
            stack.options(LayerStack.layerOptions(0x10000));
            Path two = stack.newLayerDirectory();
            write(two.resolve("b"), "b");
            stack.addDirectory(two);

            IOException e = assertThrows(IOException.class, () -> stack.merge("merged.boot"));

            assertTrue(e.getMessage().contains(stack.bootstraps().get(0).toString()),
                    e.getMessage());
            assertTrue(e.getMessage().contains(stack.bootstraps().get(1).toString()),
                    e.getMessage());
            assertTrue(e.getMessage().contains("chunk size"), e.getMessage());
        }
    }

    @Test
    void sameIdForDifferentBlobsRejected() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("a"), "a");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve("b"), "b");
            write(two.resolve("c"), "c");
            stack.addDirectory(two);
            Path clash = stack.temp().resolve(idOf(stack, 0) + ".boot");
            Files.copy(stack.bootstraps().get(1), clash);

            IOException e = assertThrows(IOException.class, () -> new ImageMerger().merge(
                    List.of(stack.bootstraps().get(0), clash), stack.temp().resolve("m.boot")));

            assertTrue(e.getMessage().contains("blob " + idOf(stack, 0) + " has 1 chunks"),
                    e.getMessage());
            assertTrue(e.getMessage().contains(clash.toString()), e.getMessage());
        }
    }

    @Test
    void missingBlobInBlobDirectory() throws IOException {
        try (LayerStack stack = threeLayers()) {
            String id = idOf(stack, 2);
            Files.delete(stack.blobDir().resolve(id));

            IOException e = assertThrows(IOException.class, () -> stack.merge("merged.boot"));

            assertTrue(e.getMessage().contains(id), e.getMessage());
            assertFalse(Files.exists(stack.temp().resolve("merged.boot")));
        }
    }

    @Test
    void prefetchResolvedInMergedTree() throws IOException {
        try (LayerStack stack = threeLayers()) {
            PrefetchList prefetch = PrefetchList.parse("/d\n/gone\n".getBytes(
                    StandardCharsets.UTF_8));
            Path out = stack.temp().resolve("merged.boot");

            new ImageMerger().prefetch(prefetch).merge(stack.bootstraps(), out);
            Bootstrap merged = BootstrapReader.read(out);

            assertEquals(List.of("/d"), merged.prefetch().stream().map(n -> n.path()).toList());
        }
    }

    @Test
    void noLayersRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> new ImageMerger().merge(List.of(), Path.of("unused.boot")));
    }

    /**
     * Returns a stack of three layers with data in each, a deletion and an opaque directory.
     * The stack is closed again if building a layer fails.
     */
    private static LayerStack threeLayers() throws IOException {
        LayerStack stack = LayerStack.create();
        try {
            addThreeLayers(stack);
            return stack;
        } catch (IOException | RuntimeException e) {
            stack.close();
            throw e;
        }
    }

    private static void addThreeLayers(LayerStack stack) throws IOException {
        Path one = stack.newLayerDirectory();
        write(one.resolve("d/a"), "a");
        write(one.resolve("gone"), "gone");
        stack.addDirectory(one);
        Path two = stack.newLayerDirectory();
        write(two.resolve(".wh.gone"), "");
        write(two.resolve("d/b"), "b");
        stack.addDirectory(two);
        Path three = stack.newLayerDirectory();
        write(three.resolve("d/.wh..wh..opq"), "");
        write(three.resolve("d/c"), "c");
        write(three.resolve("e"), "e");
        stack.addDirectory(three);
    }

    private static String idOf(LayerStack stack, int layer) {
        return stack.bootstraps().get(layer).getFileName().toString().substring(0, 64);
    }

    private static List<String> ids(Bootstrap bootstrap) {
        return bootstrap.blobs().stream().map(BlobInfo::blobId).toList();
    }
}
