package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** An ordinary OCI image through the snapshotter, in a real containerd with runc. */
class OciImageTest {
    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("oci-image");
        registry = RegistryServer.start(dir);
        image = registry.address() + "/library/app:v1";
        try (RegistryClient client = Node.plainClient()) {
            Node.pushImage(client, ImageReference.parse(image), dir.resolve("seed"));
        }
        node = Node.start(registry.address(), "");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    @Test
    void ctrPullListingEqualsOverlayfs() throws Exception {
        node.containerd.ctr("images", "pull", "--plain-http", "--snapshotter", "overlayfs",
                image);
        String expected = node.listing("default", "overlayfs", image);
        node.containerd.ctr("images", "pull", "--plain-http", "--snapshotter", "nydus", image);

        String actual = node.listing("default", "nydus", image);

        assertTrue(expected.contains("/bin/busybox"), expected);
        assertEquals(expected, actual);
    }

    @Test
    void criPullListingEqualsOverlayfs() throws Exception {
        String expected;
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
            expected = node.listing("k8s.io", "nydus", image);
            node.containerd.ctr("-n", "k8s.io", "images", "pull", "--plain-http",
                    "--snapshotter", "overlayfs", image);
        }

        String overlayfs = node.listing("k8s.io", "overlayfs", image);

        assertEquals(overlayfs, expected);
    }

    @Test
    void removedImageLeavesNoSnapshotDirectories() throws Exception {
        String ref = registry.address() + "/library/removed:v1";
        try (RegistryClient client = Node.plainClient()) {
            Node.pushImage(client, ImageReference.parse(ref), dir.resolve("seed-removed"));
        }
        node.containerd.ctr("-n", "removal", "images", "pull", "--plain-http", "--snapshotter",
                "nydus", ref);
        long before = countSnapshotDirs();

        node.containerd.ctr("-n", "removal", "images", "rm", "--sync", ref);
        node.containerd.ctr("-n", "removal", "content", "prune", "references");

        assertTrue(before >= 4, "snapshot directories before removal: " + before);
        assertFalse(node.containerd.ctr("-n", "removal", "snapshots", "--snapshotter",
                "nydus", "ls").contains("sha256:"));
    }

    private static long countSnapshotDirs() throws Exception {
        try (var dirs = Files.list(node.root.resolve("snapshots"))) {
            return dirs.filter(Files::isDirectory).count();
        }
    }

    static Path root() {
        return node.root;
    }
}
