package io.nydus.builder.merge;

import static io.nydus.builder.merge.LayerStack.attribute;
import static io.nydus.builder.merge.LayerStack.run;
import static io.nydus.builder.merge.LayerStack.write;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.posix.BytePath;
import io.nydus.posix.Xattrs;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Merges real layer tarballs, each built on its own with whiteout spec none, and compares the
 * kernel mount of the merged image with the same layers unpacked by GNU tar with OCI whiteout
 * rules.
 */
class WhiteoutMergeTest {

    @Test
    void whiteoutOfEveryEntryType() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("file"), "data");
            write(one.resolve("dir/inner/deep"), "deep");
            Files.createSymbolicLink(one.resolve("link"), Path.of("file"));
            run("mknod", one.resolve("chardev").toString(), "c", "1", "3");
            run("mknod", one.resolve("blockdev").toString(), "b", "7", "200");
            run("mkfifo", one.resolve("fifo").toString());
            write(one.resolve("keep"), "kept");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            for (String name : List.of("file", "dir", "link", "chardev", "blockdev", "fifo")) {
                write(two.resolve(".wh." + name), "");
            }
            stack.addDirectory(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "keep"), paths(merged));
        }
    }

    @Test
    void whiteoutStoredAsHardlink() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("target"), "target");
            write(one.resolve("victim"), "victim");
            write(one.resolve("other"), "other");
            stack.addDirectory(one);
            Path two = stack.temp().resolve("hand.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./")
                        .hardlink("./.wh.victim", "./target")
                        .file("./keep", "keep")
                        .hardlink("./.wh.other", "./keep");
            }
            stack.addTar(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "keep", "target"), paths(merged));
        }
    }

    @Test
    void unlistedParentKeepsLowerDirectory() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addUnlistedParentLayers(stack);

            TreeSnapshot merged = stack.assertMergeMatchesUmoci();

            assertEquals(List.of(".", "home", "home/user", "home/user/new", "home/user/profile",
                    "tmp"), paths(merged));
        }
    }

    @Test
    void parentBootstrapKeepsUnlistedDirectory() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            List<Path> tars = addUnlistedParentLayers(stack);
            Path parent = stack.temp().resolve("parent.boot");
            build(stack, WhiteoutSpec.OCI, null, tars.get(0), parent);
            Path child = stack.temp().resolve("child.boot");

            build(stack, WhiteoutSpec.OCI, parent, tars.get(1), child);

            TreeSnapshot image = stack.assertImageMatchesUmoci(child);
            assertEquals(List.of(".", "home", "home/user", "home/user/new", "home/user/profile",
                    "tmp"), paths(image));
        }
    }

    @Test
    void parentBootstrapWithSpecNoneLeavesNoMarks() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            List<Path> tars = addUnlistedParentLayers(stack);
            Path upper = stack.temp().resolve("new-directories.tar");
            try (HandTar tar = new HandTar(upper)) {
                tar.file("tmp/y", "y").file("opt/app/run", "run");
            }
            Path parent = stack.temp().resolve("parent.boot");
            build(stack, WhiteoutSpec.OCI, null, tars.get(0), parent);
            Path child = stack.temp().resolve("child.boot");

            build(stack, WhiteoutSpec.NONE, parent, upper, child);

            stack.withMount(child, root -> {
                assertEquals(List.of(), xattrNames(root.resolve("opt")));
                assertEquals(List.of(), xattrNames(root.resolve("opt/app")));
                assertEquals(List.of(), xattrNames(root.resolve("tmp")));
                assertEquals(01777, (int) attribute(root.resolve("tmp"), "mode") & 07777);
                return null;
            });
        }
    }

    private static List<String> xattrNames(Path path) throws IOException {
        return Xattrs.list(BytePath.of(path)).stream().map(BytePath::escape).toList();
    }

    /**
     * Adds a lower layer with /tmp (1777) and /home/user (0700, uid 1000, an xattr), and an
     * upper layer that writes into both without listing them. Returns both tarballs.
     */
    private static List<Path> addUnlistedParentLayers(LayerStack stack) throws IOException {
        Path one = stack.newLayerDirectory();
        write(one.resolve("tmp/x"), "x");
        write(one.resolve("home/user/profile"), "profile");
        run("chmod", "1777", one.resolve("tmp").toString());
        run("chmod", "0700", one.resolve("home/user").toString());
        run("chown", "1000:1000", one.resolve("home/user").toString());
        run("setfattr", "-n", "user.tag", "-v", "lower", one.resolve("home/user").toString());
        Path lower = stack.addDirectory(one);
        Path upper = stack.temp().resolve("hand.tar");
        try (HandTar tar = new HandTar(upper)) {
            tar.file("home/user/new", "new").file("tmp/.wh.x", "");
        }
        stack.addTar(upper);
        return List.of(lower, upper);
    }

    @Test
    void opaqueMarkerHidesLowerEntries() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("d/a"), "a");
            write(one.resolve("d/sub/b"), "b");
            write(one.resolve("e/x"), "x");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve("d/.wh..wh..opq"), "");
            stack.addDirectory(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "d", "e", "e/x"), paths(merged));
        }
    }

    @Test
    void opaqueDirectoryWithNewEntries() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("d/a"), "a");
            write(one.resolve("d/sub/b"), "b");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve("d/.wh..wh..opq"), "");
            write(two.resolve("d/new"), "new");
            write(two.resolve("d/sub/c"), "c");
            stack.addDirectory(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "d", "d/new", "d/sub", "d/sub/c"), paths(merged));
        }
    }

    @Test
    void opaqueLookAlikeDeletesNothing() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("d/a"), "a");
            write(one.resolve("d/sub/b"), "b");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve("d/.wh..wh..opqX"), "");
            stack.addDirectory(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "d", "d/a", "d/sub", "d/sub/b"), paths(merged));
        }
    }

    @Test
    void directoryDeletedThenRecreated() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("d/a"), "a");
            write(one.resolve("d/sub/b"), "b");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve(".wh.d"), "");
            stack.addDirectory(two);
            Path three = stack.newLayerDirectory();
            write(three.resolve("d/c"), "c");
            stack.addDirectory(three);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "d", "d/c"), paths(merged));
        }
    }

    @Test
    void deletedAndRecreatedInOneLayer() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("a"), "old");
            write(one.resolve("d/x"), "x");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve(".wh.a"), "");
            write(two.resolve("a"), "new");
            write(two.resolve(".wh.d"), "");
            write(two.resolve("d/y"), "y");
            stack.addDirectory(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "a", "d", "d/y"), paths(merged));
        }
    }

    @Test
    void fileAndDirectoryReplaceEachOther() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("x"), "file x");
            write(one.resolve("y/z"), "z");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve("x/w"), "w");
            write(two.resolve("y"), "file y");
            stack.addDirectory(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "x", "x/w", "y"), paths(merged));
        }
    }

    @Test
    void bottomLayerWhiteoutsAreInvisible() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve(".wh.ghost"), "");
            write(one.resolve("d/.wh..wh..opq"), "");
            write(one.resolve("d/.wh..wh..opqX"), "");
            write(one.resolve("d/f"), "f");
            stack.addDirectory(one);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "d", "d/f"), paths(merged));
        }
    }

    @Test
    void whiteoutInsideReplacedDirectoryIsDropped() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("x"), "file x");
            stack.addDirectory(one);
            Path two = stack.newLayerDirectory();
            write(two.resolve("x/.wh.nothing"), "");
            write(two.resolve("x/.wh..wh..opq"), "");
            write(two.resolve("x/w"), "w");
            stack.addDirectory(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "x", "x/w"), paths(merged));
        }
    }

    @Test
    void whiteoutsAloneMakeNoDirectory() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.temp().resolve("one.tar");
            try (HandTar tar = new HandTar(one)) {
                tar.directory("./").file("e/a", "a").file("keep", "keep")
                        .file("ghost/.wh.x", "");
            }
            stack.addTar(one);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").file("e/.wh.a", "").file(".wh.e", "")
                        .file("gone/.wh.x", "").file("empty/.wh..wh..opq", "");
            }
            stack.addTar(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "keep"), paths(merged));
        }
    }

    @Test
    void parentBootstrapWhiteoutsAloneMakeNoDirectory() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.temp().resolve("one.tar");
            try (HandTar tar = new HandTar(one)) {
                tar.directory("./").file("e/a", "a").file("keep", "keep")
                        .file("ghost/.wh.x", "");
            }
            stack.addTar(one);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").file("e/.wh.a", "").file(".wh.e", "")
                        .file("gone/.wh.x", "");
            }
            stack.addTar(two);
            Path parent = stack.temp().resolve("parent.boot");
            build(stack, WhiteoutSpec.OCI, null, one, parent);
            Path child = stack.temp().resolve("child.boot");

            build(stack, WhiteoutSpec.OCI, parent, two, child);

            TreeSnapshot image = stack.assertImageMatchesUmoci(child);
            assertEquals(List.of(".", "keep"), paths(image));
        }
    }

    @Test
    void directoryAfterFileInOneLayerHidesLower() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("d/old"), "old");
            write(one.resolve("p/old"), "old");
            stack.addDirectory(one);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").file("d", "now a file").directory("d").file("d/new", "new")
                        .fifo("p").directory("p");
            }
            stack.addTar(two);

            TreeSnapshot merged = stack.assertMergeMatchesUnpack();

            assertEquals(List.of(".", "d", "d/new", "p"), paths(merged));
        }
    }

    @Test
    void parentBootstrapDirectoryAfterFileHidesLower() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("d/old"), "old");
            Path lower = stack.addDirectory(one);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").fifo("d").directory("d").file("d/new", "new");
            }
            stack.addTar(two);
            Path parent = stack.temp().resolve("parent.boot");
            build(stack, WhiteoutSpec.OCI, null, lower, parent);
            Path child = stack.temp().resolve("child.boot");

            build(stack, WhiteoutSpec.OCI, parent, two, child);

            TreeSnapshot image = stack.assertImageMatchesUmoci(child);
            assertEquals(List.of(".", "d", "d/new"), paths(image));
        }
    }

    @Test
    void overlayfsDirectoryAfterFileHidesLower() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path one = stack.newLayerDirectory();
            write(one.resolve("d/old"), "old");
            Path lower = stack.addDirectory(one);
            Path two = stack.temp().resolve("two.tar");
            try (HandTar tar = new HandTar(two)) {
                tar.directory("./").file("d", "now a file").directory("d").file("d/new", "new");
            }
            stack.addTar(two);
            Path parent = stack.temp().resolve("parent.boot");
            build(stack, WhiteoutSpec.OVERLAYFS, null, lower, parent);
            Path child = stack.temp().resolve("child.boot");

            build(stack, WhiteoutSpec.OVERLAYFS, parent, two, child);

            TreeSnapshot image = stack.assertImageMatchesUmoci(child);
            assertEquals(List.of(".", "d", "d/new"), paths(image));
        }
    }

    /** Builds {@code tar} as create does, on {@code parent} unless it is null. */
    private static void build(LayerStack stack, WhiteoutSpec spec, Path parent, Path tar,
            Path bootstrap) throws IOException {
        BuildOptions options = new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                0x10_0000, spec, 2, false, true);
        try (InputStream in = Files.newInputStream(tar)) {
            new ImageBuilder(options).parentBootstrap(parent).buildTar(in,
                    tar.getFileName().toString(), bootstrap,
                    ImageBuilder.BlobTarget.inDirectory(stack.blobDir()));
        }
    }

    static List<String> paths(TreeSnapshot snapshot) {
        return snapshot.paths().stream().map(BytePath::toString).toList();
    }
}
