package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.RegistryServer;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * What the snapshotter reports about the disk space of lazily read images: its Prometheus
 * gauge of the blob cache and containerd's snapshot usage, which the CRI plugin adds up into
 * the image file system's usage that kubelet's image garbage collection acts on.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DiskUsageTest {
    private static final String K8S = "k8s.io";
    private static final String SKIPPED_BLOB = "containerd.io/snapshot/nydus-skipped-blob";

    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static int metricsPort;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("disk-usage");
        registry = RegistryServer.start(dir);
        Node.pushOneLayerNydusImage(registry, dir.path());
        image = registry.address() + "/library/one:nydus";
        metricsPort = RegistryServer.freePort();
        node = Node.start(registry.address(), "[metrics]\naddress = \"127.0.0.1:"
                + metricsPort + "\"\n");
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        // The container reads every file, so nydusd caches the whole blob.
        node.listing(K8S, "nydus", image);
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    /**
     * Checks that the gauge of the blob cache counts the blob that nydusd cached for the
     * container, although no blob was freed and no garbage collection ran since.
     */
    @Test
    @Order(1)
    void cacheGaugeCountsBlobsCachedSinceStart() throws Exception {
        long cached = 0;
        for (Path file : cacheFiles()) {
            cached += Files.size(file);
        }

        assertTrue(cached > 0, "the container cached nothing");
        assertEquals(cached, gauge("nydus_snapshotter_cache_bytes"));
    }

    private static List<Path> cacheFiles() throws IOException {
        try (Stream<Path> files = Files.list(node.root.resolve("cache"))) {
            return files.sorted().toList();
        }
    }

    private static long gauge(String name) throws Exception {
        String text = Node.metrics(metricsPort);
        return text.lines().filter(line -> line.startsWith(name + " "))
                .mapToLong(line -> Long.parseLong(line.substring(name.length() + 1)))
                .findFirst().orElseThrow(() -> new AssertionError(name + " missing: " + text));
    }
}
