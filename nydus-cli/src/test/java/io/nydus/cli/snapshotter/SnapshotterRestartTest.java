package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A restart of the snapshotter with a shared nydusd that keeps serving, while an image stays
 * mounted in it after its container ended, as images stay until containerd removes them.
 */
class SnapshotterRestartTest {
    private static final String K8S = "k8s.io";

    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static SeedImage seed;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("snapshotter-restart");
        registry = RegistryServer.start(dir);
        seed = Node.pushOneLayerNydusImage(registry, dir.path());
        image = registry.address() + "/library/one:nydus";
        node = Node.start(registry.address(), "");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    /**
     * Runs a container of the image after a restart that found the image mounted with no
     * container on it, which the shared nydusd rejected as a second mount at the same path.
     */
    @Test
    void idleImageRunsAfterRestart() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        ContainerdServer.output(node.containerd.run(K8S, "--rm", "--snapshotter", "nydus",
                image, "before-restart", "/bin/busybox", "true"));
        // containerd removes the container's snapshot from the snapshotter in its garbage
        // collection, which a synchronous image removal runs at once.
        node.containerd.ctr("-n", K8S, "images", "tag", image, image + "-gc");
        node.containerd.ctr("-n", K8S, "images", "rm", "--sync", image + "-gc");
        node.snapshotter.terminate();
        node.restartSnapshotter();

        String read = ContainerdServer.output(node.containerd.run(K8S, "--rm", "--snapshotter",
                "nydus", image, "after-restart", "/bin/busybox", "sha256sum", "/etc/app.conf"));

        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
        assertTrue(read.contains(appConf), read);
    }
}
