package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A restart of the snapshotter with {@code daemon_mode} changed from shared to multiple while
 * a container runs on the shared nydusd, which keeps running because the snapshotter leaves
 * its daemons to their containers ({@code cleanup_on_close = false}).
 */
class DaemonModeChangeTest {
    private static final String K8S = "k8s.io";

    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static SeedImage seed;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("daemon-mode-change");
        registry = RegistryServer.start(dir);
        seed = Node.pushOneLayerNydusImage(registry, dir.path());
        image = registry.address() + "/library/one:nydus";
        node = Node.start(registry.address(), "");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    @Test
    void sharedDaemonServesOnAfterModeChange() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        ContainerdServer.output(node.containerd.run(K8S, "-d", "--snapshotter", "nydus",
                image, "sleeper", "/bin/busybox", "sleep", "3600"));
        List<Long> sharedPids = node.nydusdPids();
        assertEquals(1, sharedPids.size(), "nydusd pid files: " + sharedPids);
        ProcessHandle shared = ProcessHandle.of(sharedPids.getFirst()).orElseThrow();
        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();

        node.snapshotter.terminate();
        Path config = node.dir.resolve("config.toml");
        Files.writeString(config, Files.readString(config).replace("daemon_mode = \"shared\"",
                "daemon_mode = \"multiple\""));
        node.restartSnapshotter();
        String listing = node.listing(K8S, "nydus", image);
        List<Long> pidsWhileRunning = node.nydusdPids();
        String runningRead = ContainerdServer.output(node.containerd.exec(K8S, "--exec-id",
                "read", "sleeper", "/bin/busybox", "sha256sum", "/etc/app.conf"));
        node.removeContainer(K8S, "sleeper");
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.remove(image);
        }
        shared.onExit().completeOnTimeout(shared, 60, TimeUnit.SECONDS).get();

        assertTrue(node.snapshotter.log().contains("daemon mode multiple"),
                node.snapshotter.log());
        assertTrue(listing.contains(appConf + "  /etc/app.conf"), listing);
        assertEquals(sharedPids, pidsWhileRunning, "the image got a second nydusd");
        assertTrue(runningRead.contains(appConf), runningRead);
        assertFalse(shared.isAlive());
        assertFalse(TempDirs.isMountPoint(node.root.resolve("mnt")),
                "the shared mount outlived its daemon");
        assertEquals(List.of(), node.nydusdPids());
    }
}
