package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code daemon_mode = "multiple"} with {@code cleanup_on_close}: one nydusd per image, stopped
 * when its image is removed or when the snapshotter stops.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MultipleDaemonsTest {
    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static SeedImage seed;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("multiple-daemons");
        registry = RegistryServer.start(dir);
        seed = Node.pushOneLayerNydusImage(registry, dir.path());
        image = registry.address() + "/library/one:nydus";
        node = Node.start(List.of(registry.address()),
                "daemon_mode = \"multiple\"\ncleanup_on_close = true", "");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    @Test
    @Order(2)
    void killedDaemonIsRestartedAtOnce() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        ContainerdServer.output(node.containerd.run("k8s.io", "-d", "--snapshotter", "nydus",
                image, "restart-sleeper", "/bin/busybox", "sleep", "3600"));
        try {
            List<Long> before = node.nydusdPids();
            assertEquals(1, before.size(), "nydusd pid files: " + before);
            ProcessHandle daemon = ProcessHandle.of(before.getFirst()).orElseThrow();
            daemon.destroyForcibly();
            daemon.onExit().get(30, TimeUnit.SECONDS);

            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!node.snapshotter.log().contains("mounted its 1 image(s) again")) {
                assertTrue(System.nanoTime() < deadline, "no restart: "
                        + node.snapshotter.log());
                Thread.sleep(100);
            }
            List<Long> after = node.nydusdPids();

            assertEquals(1, after.size(), "nydusd pid files: " + after);
            assertNotEquals(before, after);
            String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
            String listing = node.listing("k8s.io", "nydus", image);
            assertTrue(listing.contains(appConf + "  /etc/app.conf"), listing);
        } finally {
            node.removeContainer("k8s.io", "restart-sleeper");
        }
    }

    @Test
    @Order(3)
    void stoppingSnapshotterStopsDaemons() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        ContainerdServer.output(node.containerd.run("k8s.io", "-d", "--snapshotter", "nydus",
                image, "cleanup-sleeper", "/bin/busybox", "sleep", "3600"));
        List<Long> pids = node.nydusdPids();
        assertEquals(1, pids.size(), "nydusd pid files: " + pids);
        ProcessHandle daemon = ProcessHandle.of(pids.getFirst()).orElseThrow();

        try {
            node.snapshotter.terminate();
            daemon.onExit().get(60, TimeUnit.SECONDS);

            assertFalse(daemon.isAlive());
            assertEquals(List.of(), nydusdMounts());
        } finally {
            node.removeContainer("k8s.io", "cleanup-sleeper");
        }
    }

    private static List<Path> nydusdMounts() throws Exception {
        try (var snapshots = Files.list(node.root.resolve("snapshots"))) {
            List<Path> result = new java.util.ArrayList<>();
            for (Path snapshot : snapshots.toList()) {
                if (TempDirs.isMountPoint(snapshot.resolve("mnt"))) {
                    result.add(snapshot.resolve("mnt"));
                }
            }
            return result;
        }
    }

    @Test
    @Order(1)
    void eachImageGetsItsOwnDaemon() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        String listing = node.listing("k8s.io", "nydus", image);
        List<Long> pids = node.nydusdPids();
        assertEquals(1, pids.size(), "nydusd pid files: " + pids);
        assertTrue(ProcessHandle.of(pids.getFirst()).map(ProcessHandle::isAlive).orElse(false));
        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
        assertTrue(listing.contains(appConf + "  /etc/app.conf"), listing);

        String commandLine = Files.readString(Path.of("/proc", pids.getFirst().toString(),
                "cmdline")).replace('\0', ' ');
        assertTrue(commandLine.contains(" --log-rotation-size 100"), commandLine);
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.remove(image);
        }

        ProcessHandle daemon = ProcessHandle.of(pids.getFirst()).orElse(null);
        if (daemon != null) {
            daemon.onExit().get(60, TimeUnit.SECONDS);
        }
        assertEquals(List.of(), node.nydusdPids());
        assertEquals(List.of(), nydusdMounts());
        assertEquals(List.of(), awaitNoDaemonDirectories());
    }

    /** Waits until the stopped per-image daemons' directories are gone, and lists those left. */
    private static List<Path> awaitNoDaemonDirectories() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            List<Path> left;
            try (var dirs = Files.list(node.root.resolve("socket"))) {
                left = dirs.toList();
            }
            if (left.isEmpty() || System.nanoTime() > deadline) {
                return left;
            }
            Thread.sleep(100);
        }
    }
}
