package io.nydus.builder.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Directories that a layer does not list but writes entries below, inside a setgid directory.
 * An OCI unpack makes them with mkdir(2), so they take the parent's group and setgid bit. Each
 * image is compared with umoci's unpack and its made directories are checked field by field.
 */
class SetgidParentMergeTest {
    private static final int SHARED_GID = 50;
    private static final int SETGID_DIR = 02775;
    private static final int MADE_BELOW_SETGID = 02755;

    @Test
    void mergeInheritsLowerSetgid() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            addBaseAndUpper(stack);

            TreeSnapshot merged = stack.assertImageMatchesUmociBesideUnpackTimes(
                    stack.merge("merged.boot"));

            assertMadeBelowSetgid(merged, "srv/a");
            assertMadeBelowSetgid(merged, "srv/a/b");
        }
    }

    @Test
    void parentBootstrapInheritsLowerSetgid() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path[] tars = addBaseAndUpper(stack);
            Path base = stack.temp().resolve("chain0.boot");
            Path image = stack.temp().resolve("chain1.boot");
            stack.buildOnParent(null, tars[0], base);
            stack.buildOnParent(base, tars[1], image);

            TreeSnapshot snapshot = stack.assertImageMatchesUmociBesideUnpackTimes(image);

            assertMadeBelowSetgid(snapshot, "srv/a");
            assertMadeBelowSetgid(snapshot, "srv/a/b");
        }
    }

    @Test
    void singleLayerInheritsOwnSetgid() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path only = stack.temp().resolve("only.tar");
            try (HandTar tar = new HandTar(only)) {
                tar.directory("./").directory("srv", SETGID_DIR, SHARED_GID)
                        .file("srv/a/b/f", "f").directory("plain").file("plain/c/g", "g");
            }
            stack.addTar(only);

            TreeSnapshot merged = stack.assertImageMatchesUmociBesideUnpackTimes(
                    stack.merge("merged.boot"));

            assertMadeBelowSetgid(merged, "srv/a/b");
            TreeSnapshot.Entry plain = merged.entry("plain/c").orElseThrow();
            assertEquals(0755, plain.permissions(), "plain/c permissions");
            assertEquals(0, plain.gid(), "plain/c gid");
        }
    }

    @Test
    void danglingSymlinkTargetInheritsSetgid() throws IOException {
        try (LayerStack stack = LayerStack.create()) {
            Path base = stack.temp().resolve("base.tar");
            try (HandTar tar = new HandTar(base)) {
                tar.directory("./").directory("srv", SETGID_DIR, SHARED_GID)
                        .symlink("link", "srv/new/dir");
            }
            stack.addTar(base);
            Path upper = stack.temp().resolve("upper.tar");
            try (HandTar tar = new HandTar(upper)) {
                tar.directory("./").file("link/f", "f");
            }
            stack.addTarForUmoci(upper);

            TreeSnapshot merged = stack.assertImageMatchesUmociBesideUnpackTimes(
                    stack.merge("merged.boot"));

            assertMadeBelowSetgid(merged, "srv/new");
            assertMadeBelowSetgid(merged, "srv/new/dir");
        }
    }

    private static Path[] addBaseAndUpper(LayerStack stack) throws IOException {
        Path base = stack.temp().resolve("base.tar");
        try (HandTar tar = new HandTar(base)) {
            tar.directory("./").directory("srv", SETGID_DIR, SHARED_GID);
        }
        stack.addTar(base);
        Path upper = stack.temp().resolve("upper.tar");
        try (HandTar tar = new HandTar(upper)) {
            tar.directory("./").file("srv/a/b/f", "f");
        }
        stack.addTar(upper);
        return new Path[] {base, upper};
    }

    private static void assertMadeBelowSetgid(TreeSnapshot snapshot, String path) {
        TreeSnapshot.Entry entry = snapshot.entry(path).orElseThrow();
        assertEquals(MADE_BELOW_SETGID, entry.permissions(), path + " permissions");
        assertEquals(SHARED_GID, entry.gid(), path + " gid");
        assertEquals(0, entry.uid(), path + " uid");
    }
}
