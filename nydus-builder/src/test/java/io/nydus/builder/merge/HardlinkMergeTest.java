package io.nydus.builder.merge;

import static io.nydus.builder.merge.LayerStack.attribute;
import static io.nydus.builder.merge.LayerStack.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.HardlinkMarker;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.Unpacker;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Test;

/**
 * Hard links in an upper layer to files of a lower layer. After a merge both names must be one
 * inode, as in an unpacked OCI image.
 */
class HardlinkMergeTest {
    private static final BuildOptions FINAL = new BuildOptions(Compressor.ZSTD,
            DigestAlgorithm.BLAKE3, 0x10_0000, WhiteoutSpec.OCI, 2, false, true);

    @Test
    void linkToLowerFileSharesInode() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBottom(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./b", "./a").file("./c", "new");
            }
            stack.addTar(two);

            stack.assertMergeMatchesUnpack();

            Path merged = stack.temp().resolve("merged.boot");
            stack.withMount(merged, root -> {
                assertEquals(attribute(root.resolve("a"), "ino"),
                        attribute(root.resolve("b"), "ino"));
                assertEquals(2, attribute(root.resolve("a"), "nlink"));
                assertEquals("shared data", Files.readString(root.resolve("b")));
                return null;
            });
        }
    }

    @Test
    void linkToLowerSymlinkSharesInode() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("a"), "a");
            Files.createSymbolicLink(one.resolve("s"), Path.of("a"));
            stack.addDirectory(one);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./t", "./s");
            }
            stack.addTar(two);

            stack.assertMergeMatchesUnpack();

            stack.withMount(stack.temp().resolve("merged.boot"), root -> {
                assertEquals(2, attribute(root.resolve("t"), "nlink"));
                assertEquals(Path.of("a"), Files.readSymbolicLink(root.resolve("t")));
                return null;
            });
        }
    }

    @Test
    void layerBootstrapKeepsMarker() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBottom(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./b", "./a");
            }
            stack.addTar(two);

            Bootstrap layer = BootstrapReader.read(stack.bootstraps().get(1));
            Node link = layer.root().child(bytes("b"));
            assertArrayEquals(bytes("/a"), HardlinkMarker.target(link.inode()));

            Bootstrap merged = BootstrapReader.read(stack.merge("merged.boot"));
            assertEquals(List.of(), markedPaths(merged.root()));
        }
    }

    @Test
    void linkChainInUpperLayer() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBottom(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").directory("./d").hardlink("./d/b", "./a")
                        .hardlink("./d/c", "./d/b");
            }
            stack.addTar(two);

            stack.assertMergeMatchesUnpack();

            stack.withMount(stack.temp().resolve("merged.boot"), root -> {
                assertEquals(3, attribute(root.resolve("a"), "nlink"));
                assertEquals(attribute(root.resolve("a"), "ino"),
                        attribute(root.resolve("d/c"), "ino"));
                return null;
            });
        }
    }

    @Test
    void linkTargetReplacedLater() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBottom(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./b", "./a");
            }
            stack.addTar(two);
            Path three = stack.temp().resolve("three.tar");
            try (HandTar tar = new HandTar(three)) {
                tar.directory("./").file("./a", "replaced");
            }
            stack.addTar(three);

            stack.assertMergeMatchesUnpack();

            stack.withMount(stack.temp().resolve("merged.boot"), root -> {
                assertEquals(1, attribute(root.resolve("b"), "nlink"));
                assertEquals("shared data", Files.readString(root.resolve("b")));
                return null;
            });
        }
    }

    @Test
    void linkThroughLowerSymlinkSharesInode() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path lower = addMergedUsr(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./b", "lib/a").hardlink("./c", "s");
            }
            stack.addTar(two);

            stack.assertImageMatchesUmociBesideUnpackTimes(stack.merge("merged.boot"));

            Path parent = stack.temp().resolve("parent.boot");
            build(FINAL, null, lower, parent, stack.blobDir());
            Path child = stack.temp().resolve("child.boot");
            build(FINAL, parent, two, child, stack.blobDir());
            stack.withMount(child, root -> {
                assertEquals(attribute(root.resolve("usr/lib/a"), "ino"),
                        attribute(root.resolve("b"), "ino"));
                assertEquals(attribute(root.resolve("s"), "ino"),
                        attribute(root.resolve("c"), "ino"));
                return null;
            });
        }
    }

    /** Adds {@code usr/lib/a}, {@code lib -> usr/lib} and {@code s -> usr/lib/a}. */
    private static Path addMergedUsr(LayerStack stack) throws IOException {
        Path one = stack.temp().resolve("one.tar");
        try (HandTar tar = new HandTar(one)) {
            tar.directory("./").directory("usr").directory("usr/lib").file("usr/lib/a", "a")
                    .symlink("lib", "usr/lib").symlink("s", "usr/lib/a");
        }
        stack.addTar(one);
        return one;
    }

    @Test
    void missingTargetFailsMerge() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBottom(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./b", "./nothing");
            }
            stack.buildLayer(two);

            IOException e = assertThrows(IOException.class, () -> stack.merge("merged.boot"));

            assertTrue(e.getMessage().contains("hard link /b points to /nothing"),
                    e.getMessage());
        }
    }

    @Test
    void missingTargetNamesGivenLayer() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBottom(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./b", "./later").file("./later", "x");
            }
            stack.buildLayer(two);
            ImageMerger merger = new ImageMerger().blobDirectory(stack.blobDir())
                    .layerNames(List.of("layer 1/2 sha256:aa", "layer 2/2 sha256:bb"));

            IOException e = assertThrows(IOException.class, () -> merger.merge(
                    stack.bootstraps(), stack.temp().resolve("merged.boot")));

            assertTrue(e.getMessage().startsWith("layer 2/2 sha256:bb: hard link /b points to"
                    + " /later, which neither a lower layer nor this layer before the link has"),
                    e.getMessage());
        }
    }

    @Test
    void directoryTargetFailsMerge() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBottom(stack);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").hardlink("./b", "./dir");
            }
            stack.buildLayer(two);

            IOException e = assertThrows(IOException.class, () -> stack.merge("merged.boot"));

            assertTrue(e.getMessage().contains("/b points to /dir, which is a directory"),
                    e.getMessage());
        }
    }

    @Test
    void finalBuildRejectsUnresolvedLink() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path tar = stack.temp().resolve("link.tar");
            try (HandTar hand = new HandTar(tar)) {
                hand.directory("./").hardlink("./b", "./a");
            }

            IOException e = assertThrows(IOException.class, () -> build(FINAL, null, tar,
                    stack.temp().resolve("final.boot"), stack.blobDir()));

            assertTrue(e.getMessage().contains("is a hard link to './a'"), e.getMessage());
        }
    }

    @Test
    void parentBootstrapResolvesLink() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("a"), "shared data");
            Path oneTar = stack.temp().resolve("one.tar");
            LayerStack.run("tar", "--format=gnu", "--sort=name", "-C", one.toString(), "-cf",
                    oneTar.toString(), ".");
            Path parent = stack.temp().resolve("parent.boot");
            build(FINAL, null, oneTar, parent, stack.blobDir());
            Path twoTar = stack.temp().resolve("two.tar");
            try (HandTar hand = new HandTar(twoTar)) {
                hand.directory("./").hardlink("./b", "./a");
            }
            Path child = stack.temp().resolve("child.boot");
            build(FINAL, parent, twoTar, child, stack.blobDir());

            stack.withMount(child, root -> {
                assertEquals(attribute(root.resolve("a"), "ino"),
                        attribute(root.resolve("b"), "ino"));
                assertEquals(2, attribute(root.resolve("b"), "nlink"));
                return null;
            });
        }
    }

    @Test
    void layerTarRestoresLowerLink() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path tar = stack.temp().resolve("layer.tar");
            try (HandTar hand = new HandTar(tar)) {
                hand.directory("./").file("./.wh.gone", "").hardlink("./b", "./a")
                        .file("./c", "new", "user.note", "kept");
            }
            byte[] written = rebuildLayerTar(stack, tar);

            Map<String, TarArchiveEntry> entries = new LinkedHashMap<>();
            Map<String, String> contents = readTar(written, entries);
            assertEquals(List.of("./", "./.wh.gone", "./b", "./c"),
                    List.copyOf(entries.keySet()));
            assertTrue(entries.get("./b").isLink());
            assertEquals("./a", entries.get("./b").getLinkName());
            assertNull(entries.get("./b").getExtraPaxHeader(
                    "SCHILY.xattr.trusted.nydus.hardlink"));
            assertTrue(entries.get("./.wh.gone").isFile());
            assertEquals("new", contents.get("./c"));
            assertEquals("kept", entries.get("./c").getExtraPaxHeader("SCHILY.xattr.user.note"));
        }
    }

    @Test
    void layerTarLeavesUnlistedDirectoriesOut() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path tar = stack.temp().resolve("layer.tar");
            try (HandTar hand = new HandTar(tar)) {
                hand.file("home/user/new", "new").directory("etc").file("etc/a", "a");
            }
            byte[] written = rebuildLayerTar(stack, tar);

            Map<String, TarArchiveEntry> entries = new LinkedHashMap<>();
            readTar(written, entries);
            assertEquals(List.of("./etc/", "./etc/a", "./home/user/new"),
                    List.copyOf(entries.keySet()));
            assertNull(entries.get("./etc/").getExtraPaxHeader(
                    "SCHILY.xattr.trusted.nydus.implicit"));
        }
    }

    /** Builds {@code tar} as a layer for a later merge and writes the layer's tar back. */
    private static byte[] rebuildLayerTar(LayerStack stack, Path tar) throws IOException {
        Path bootstrap = stack.temp().resolve("layer.boot");
        build(LayerStack.layerOptions(0x10_0000), null, tar, bootstrap, stack.blobDir());
        String blobId = BootstrapReader.read(bootstrap).blobs().getFirst().blobId();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Unpacker.writeTar(bootstrap, stack.blobDir().resolve(blobId), out);
        return out.toByteArray();
    }

    /** Reads a tar into {@code entries} by name and returns each entry's content as text. */
    private static Map<String, String> readTar(byte[] tar, Map<String, TarArchiveEntry> entries)
            throws IOException {
        Map<String, String> contents = new LinkedHashMap<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(
                new ByteArrayInputStream(tar))) {
            TarArchiveEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                entries.put(entry.getName(), entry);
                contents.put(entry.getName(), new String(in.readAllBytes(),
                        StandardCharsets.UTF_8));
            }
        }
        return contents;
    }

    @Test
    void reservedXattrRejected() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path tar = stack.temp().resolve("xattr.tar");
            try (HandTar hand = new HandTar(tar)) {
                hand.directory("./").file("./f", "x", "trusted.nydus.hardlink", "/a");
            }

            IOException e = assertThrows(IOException.class, () -> build(
                    LayerStack.layerOptions(0x10_0000), null, tar,
                    stack.temp().resolve("x.boot"), stack.blobDir()));

            assertTrue(e.getMessage().contains("trusted.nydus.hardlink"), e.getMessage());
        }
    }

    @Test
    void markerTargetOfOrdinaryFileIsNull() {
        assertNull(HardlinkMarker.target(new io.nydus.rafs.tree.Inode(
                io.nydus.rafs.tree.FileType.REGULAR)));
    }

    /** Adds a bottom layer with file a ("shared data"), file other and directory dir. */
    private static void addBottom(LayerStack stack) throws IOException {
        Path one = stack.newLayerDirectory();
        write(one.resolve("a"), "shared data");
        write(one.resolve("other"), "other");
        write(one.resolve("dir/inside"), "inside");
        stack.addDirectory(one);
    }

    private static void build(BuildOptions options, Path parent, Path tar, Path bootstrap,
            Path blobDir) throws IOException {
        try (InputStream in = Files.newInputStream(tar)) {
            new ImageBuilder(options).parentBootstrap(parent).buildTar(in,
                    tar.getFileName().toString(), bootstrap,
                    ImageBuilder.BlobTarget.inDirectory(blobDir));
        }
    }

    private static List<String> markedPaths(Node root) {
        List<String> marked = new java.util.ArrayList<>();
        ArrayDeque<Node> pending = new ArrayDeque<>(List.of(root));
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            if (node.inode().xattrs().get(HardlinkMarker.XATTR) != null) {
                marked.add(node.path());
            }
            pending.addAll(node.children());
        }
        return marked;
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
