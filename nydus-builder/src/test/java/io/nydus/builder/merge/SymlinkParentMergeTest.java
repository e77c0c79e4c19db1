package io.nydus.builder.merge;

import static io.nydus.builder.merge.WhiteoutMergeTest.paths;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Layers whose tarballs write below a name that is a symlink to a directory in a lower layer,
 * without an entry for that name, as a merged-/usr base image has {@code /lib -> usr/lib}. An
 * OCI unpack (umoci, containerd) follows the symlink, inside the root, and writes into its
 * target, so the images are compared with umoci's unpack.
 */
class SymlinkParentMergeTest {
    /** The tree of {@link #addLayers}: the symlinks stay, and their targets change. */
    private static final List<String> EXPECTED = List.of(".", "bin", "lib", "lib64", "opt",
            "usr", "usr/bin", "usr/bin/sh", "usr/bin/tool", "usr/lib", "usr/lib/libnew.so",
            "usr/lib/x", "usr/lib/x/deep");

    @Test
    void mergeWritesThroughLowerSymlink() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addLayers(stack);

            TreeSnapshot merged = stack.assertImageMatchesUmociBesideUnpackTimes(
                    stack.merge("merged.boot"));

            assertEquals(EXPECTED, paths(merged));
        }
    }

    @Test
    void parentBootstrapWritesThroughLowerSymlink() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            List<Path> tars = addLayers(stack);
            Path previous = null;
            for (int i = 0; i < tars.size(); i++) {
                Path bootstrap = stack.temp().resolve("chain" + i + ".boot");
                stack.buildOnParent(previous, tars.get(i), bootstrap);
                previous = bootstrap;
            }

            TreeSnapshot image = stack.assertImageMatchesUmociBesideUnpackTimes(previous);

            assertEquals(EXPECTED, paths(image));
        }
    }

    @Test
    void whiteoutThroughSymlinkKeepsSameLayerEntry() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path base = stack.temp().resolve("base.tar");
            try (HandTar tar = new HandTar(base)) {
                tar.directory("./").directory("data").file("data/f", "old")
                        .file("data/g", "old").symlink("link", "data");
            }
            stack.addTar(base);
            Path upper = stack.temp().resolve("upper.tar");
            try (HandTar tar = new HandTar(upper)) {
                tar.directory("./").file("link/.wh.f", "").file("link/.wh.g", "")
                        .file("data/f", "new");
            }
            stack.addTar(upper);

            TreeSnapshot merged = stack.assertImageMatchesUmociBesideUnpackTimes(
                    stack.merge("merged.boot"));

            assertEquals(List.of(".", "data", "data/f", "link"), paths(merged));
        }
    }

    @Test
    void danglingSymlinkGetsTargetDirectories() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path base = stack.temp().resolve("base.tar");
            try (HandTar tar = new HandTar(base)) {
                tar.directory("./").symlink("link", "../missing/dir").symlink("gone", "none");
            }
            stack.addTar(base);
            Path upper = stack.temp().resolve("upper.tar");
            try (HandTar tar = new HandTar(upper)) {
                tar.directory("./").file("link/f", "f").file("gone/.wh.x", "");
            }
            stack.addTarForUmoci(upper);

            TreeSnapshot merged = stack.assertImageMatchesUmociBesideUnpackTimes(
                    stack.merge("merged.boot"));

            assertEquals(List.of(".", "gone", "link", "missing", "missing/dir",
                    "missing/dir/f"), paths(merged));
        }
    }

    /**
     * Adds a base layer with relative, absolute and chained symlinks to directories, and two
     * layers that write and delete through them without listing them.
     */
    private static List<Path> addLayers(LayerStack stack) throws IOException {
        Path base = stack.temp().resolve("base.tar");
        try (HandTar tar = new HandTar(base)) {
            tar.directory("./").directory("usr").directory("usr/lib").directory("usr/bin")
                    .file("usr/lib/libc.so", "libc").file("usr/bin/sh", "sh")
                    .symlink("lib", "usr/lib").symlink("bin", "/usr/bin")
                    .symlink("lib64", "lib").directory("opt");
        }
        stack.addTar(base);
        Path upper = stack.temp().resolve("upper.tar");
        try (HandTar tar = new HandTar(upper)) {
            tar.directory("./").file("lib/libnew.so", "new").file("lib64/.wh.libc.so", "")
                    .file("bin/tool", "tool").file("lib/x/deep", "deep");
        }
        stack.addTar(upper);
        Path top = stack.temp().resolve("top.tar");
        try (HandTar tar = new HandTar(top)) {
            tar.directory("./").file("opt/../lib64/x/.wh.gone", "");
        }
        stack.addTar(top);
        return List.of(base, upper, top);
    }
}
