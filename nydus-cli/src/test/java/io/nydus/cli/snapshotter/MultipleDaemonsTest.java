package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
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

/** {@code daemon_mode = "multiple"}: one nydusd per image, stopped when the image goes. */
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
        seed = SeedImage.oneLayer(dir.resolve("seed"), layer ->
                Files.copy(Path.of("/bin/busybox"), layer.resolve("bin/busybox")));
        ImageReference source = ImageReference.parse(registry.address() + "/library/one:v1");
        try (RegistryClient client = Node.plainClient()) {
            seed.push(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source,
                            source.withTag("nydus"))
                    .withWorkDir(Files.createDirectories(dir.resolve("work")))
                    .withPlatform(PlatformSpec.parse("linux/amd64")));
        }
        image = registry.address() + "/library/one:nydus";
        node = Node.start(List.of(registry.address()), "multiple", "");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    @Test
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

        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.remove(image);
        }

        ProcessHandle daemon = ProcessHandle.of(pids.getFirst()).orElse(null);
        if (daemon != null) {
            daemon.onExit().get(60, TimeUnit.SECONDS);
        }
        assertEquals(List.of(), node.nydusdPids());
        try (var mounts = Files.list(node.root.resolve("snapshots"))) {
            assertFalse(mounts.anyMatch(snapshot -> {
                try {
                    return TempDirs.isMountPoint(snapshot.resolve("mnt"));
                } catch (java.io.IOException e) {
                    return true;
                }
            }));
        }
    }
}
