package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Upkeep of a node with a shared nydusd: a cache {@code disk_limit} of one byte, so that every
 * garbage collection that containerd starts evicts all blobs it may evict, a change of
 * {@code daemon_mode}, which leaves the node in multiple mode, and a restart in that mode.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NodeUpkeepTest {
    private static final String K8S = "k8s.io";

    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static SeedImage seed;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("node-upkeep");
        registry = RegistryServer.start(dir);
        seed = Node.pushOneLayerNydusImage(registry, dir.path());
        image = registry.address() + "/library/one:nydus";
        node = Node.start(registry.address(), "[cache_manager]\ndisk_limit = \"1\"\n");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    /**
     * Checks that the limit keeps the cache files of an image that stays mounted after its
     * container ended. nydusd keeps them open, so deleting them would free no space, and the
     * next container would read through files that no path names.
     */
    @Test
    @Order(1)
    void limitSparesBlobsOfMountedImage() throws Exception {
        pullImage();
        String listing = node.listing(K8S, "nydus", image);
        List<Path> cachedBefore = cacheFiles();

        // A synchronous removal makes containerd collect garbage, which calls Cleanup.
        node.containerd.ctr("-n", K8S, "images", "tag", image, image + "-gc");
        node.containerd.ctr("-n", K8S, "images", "rm", "--sync", image + "-gc");

        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
        assertTrue(listing.contains(appConf + "  /etc/app.conf"), listing);
        assertTrue(cachedBefore.stream().anyMatch(file -> file.toString().endsWith(
                ".blob.data")), "cache files: " + cachedBefore);
        assertEquals(cachedBefore, cacheFiles());
        assertEquals(List.of(), deletedFilesOpenInNydusd());
    }

    /**
     * Restarts the snapshotter with {@code daemon_mode} changed from shared to multiple while
     * a container runs on the shared nydusd, which keeps running because the snapshotter leaves
     * its daemons to their containers ({@code cleanup_on_close = false}).
     */
    @Test
    @Order(2)
    void sharedDaemonServesOnAfterModeChange() throws Exception {
        pullImage();
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

    /**
     * Restarts the snapshotter in multiple mode while an image stays mounted in its own
     * nydusd after its container ended. No container uses the image, so the restart stops
     * that daemon instead of leaving it untracked, and the next container mounts it again.
     */
    @Test
    @Order(3)
    void restartStopsDaemonOfIdleImage() throws Exception {
        pullImage();
        ContainerdServer.output(node.containerd.run(K8S, "--rm", "--snapshotter", "nydus",
                image, "once", "/bin/busybox", "true"));
        // containerd removes the container's snapshot from the snapshotter in its garbage
        // collection, which a synchronous image removal runs at once.
        node.containerd.ctr("-n", K8S, "images", "tag", image, image + "-gc");
        node.containerd.ctr("-n", K8S, "images", "rm", "--sync", image + "-gc");
        List<Long> idlePids = node.nydusdPids();
        assertEquals(1, idlePids.size(), "nydusd pid files: " + idlePids);
        ProcessHandle idle = ProcessHandle.of(idlePids.getFirst()).orElseThrow();

        node.snapshotter.terminate();
        node.restartSnapshotter();
        idle.onExit().completeOnTimeout(idle, 60, TimeUnit.SECONDS).get();
        List<Long> pidsAfterRestart = node.nydusdPids();
        String read = ContainerdServer.output(node.containerd.run(K8S, "--rm", "--snapshotter",
                "nydus", image, "again", "/bin/busybox", "sha256sum", "/etc/app.conf"));

        assertFalse(idle.isAlive(), node.snapshotter.log());
        assertEquals(List.of(), pidsAfterRestart);
        assertTrue(node.snapshotter.log().contains("(pid " + idlePids.getFirst()
                + "): it serves no image in use"), node.snapshotter.log());
        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
        assertTrue(read.contains(appConf), read);
    }

    private static void pullImage() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
    }

    private static List<Path> cacheFiles() throws IOException {
        try (Stream<Path> files = Files.list(node.root.resolve("cache"))) {
            return files.sorted().toList();
        }
    }

    /** Returns the files that a nydusd of the node has open although they were deleted. */
    private static List<String> deletedFilesOpenInNydusd() throws IOException {
        List<String> deleted = new ArrayList<>();
        for (long pid : node.nydusdPids()) {
            try (Stream<Path> descriptors = Files.list(Path.of("/proc", Long.toString(pid),
                    "fd"))) {
                for (Path descriptor : descriptors.toList()) {
                    String target;
                    try {
                        target = Files.readSymbolicLink(descriptor).toString();
                    } catch (NoSuchFileException e) {
                        continue;
                    }
                    if (target.endsWith(" (deleted)")) {
                        deleted.add(target);
                    }
                }
            }
        }
        return deleted;
    }
}
