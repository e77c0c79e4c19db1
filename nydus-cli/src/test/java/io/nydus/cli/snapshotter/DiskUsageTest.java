package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.posix.BytePath;
import io.nydus.posix.Posix;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The disk space that the snapshotter reports for lazily read images, in its Prometheus gauge
 * of the blob cache and in the usage of snapshots. containerd's CRI plugin adds up the usage of
 * snapshots into the image file system's usage, which kubelet's image garbage collection reads.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DiskUsageTest {
    private static final String K8S = "k8s.io";
    private static final String SKIPPED_BLOB = "containerd.io/snapshot/nydus-skipped-blob";
    private static final int UNREAD_BYTES = 16 << 20;

    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static int metricsPort;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("disk-usage");
        registry = RegistryServer.start(dir);
        image = pushImage(registry, dir.path());
        metricsPort = RegistryServer.freePort();
        node = Node.start(registry.address(), "[metrics]\naddress = \"127.0.0.1:"
                + metricsPort + "\"\n");
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        // The container reads busybox only, so nydusd caches only its chunks.
        ContainerdServer.output(node.containerd.run(K8S, "--rm", "--snapshotter", "nydus",
                image, "busybox-only", "/bin/busybox", "true"));
    }

    /**
     * Pushes an image of a static busybox and {@code /data/unread.bin} of random bytes to
     * {@code big:v1}, converts it to {@code big:nydus} and returns that reference.
     */
    private static String pushImage(RegistryServer registry, Path dir) throws IOException {
        SeedImage seed = SeedImage.oneLayer(dir.resolve("seed"), layer -> {
            Files.copy(Path.of("/bin/busybox"), layer.resolve("bin/busybox"));
            byte[] bytes = new byte[UNREAD_BYTES];
            new Random(7).nextBytes(bytes);
            Files.createDirectories(layer.resolve("data"));
            Files.write(layer.resolve("data/unread.bin"), bytes);
        });
        ImageReference source = ImageReference.parse(registry.address() + "/library/big:v1");
        try (RegistryClient client = Node.plainClient()) {
            seed.push(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source,
                            source.withTag("nydus"))
                    .withWorkDir(Files.createDirectories(dir.resolve("work")))
                    .withPlatform(PlatformSpec.parse("linux/amd64")));
        }
        return source.withTag("nydus").toString();
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
        long cached = allocatedBytes(cacheFiles());

        assertTrue(cached > 0, "the container cached nothing");
        assertEquals(cached, gauge("nydus_snapshotter_cache_bytes"));
    }

    /**
     * Checks that the gauge counts the disk space of the chunks that nydusd fetched, not the
     * apparent size of the sparse data file, which is the size of the whole blob.
     */
    @Test
    @Order(2)
    void cacheGaugeSkipsChunksNotFetched() throws Exception {
        long gauge = gauge("nydus_snapshotter_cache_bytes");

        assertTrue(gauge < UNREAD_BYTES, "the gauge counts " + gauge + " bytes, but the"
                + " container read only busybox, and the " + UNREAD_BYTES + " bytes of"
                + " /data/unread.bin are not cached");
    }

    /**
     * Checks that the usage of a committed Nydus data layer counts the cache files of its
     * blob, as upstream's snapshotter counts them. Its own directory is empty, because
     * containerd skipped its download, and the image file system would otherwise hide the
     * blobs that nydusd cached.
     */
    @Test
    @Order(3)
    void dataLayerUsageCountsCachedBlob() throws Exception {
        String key = dataLayerKey();
        String blobId = labels(key).path(SKIPPED_BLOB).asText();
        List<Path> blobFiles = cacheFiles().stream()
                .filter(file -> file.getFileName().toString().startsWith(blobId + "."))
                .toList();
        long allocated = allocatedBytes(blobFiles);

        long[] usage = usage(key);

        assertTrue(allocated > 0, "the container cached nothing of blob " + blobId);
        assertTrue(usage[0] >= allocated, "usage of " + key + ": " + usage[0]
                + " bytes, its cached blob: " + allocated + " bytes");
        assertTrue(usage[1] > blobFiles.size(), "usage of " + key + ": " + usage[1]
                + " inodes, its cache files: " + blobFiles);
    }

    /** Returns the key of the image's committed data layer, the one with a skipped blob. */
    private static String dataLayerKey() throws IOException {
        String listing = node.containerd.ctr("-n", K8S, "snapshots", "--snapshotter", "nydus",
                "ls");
        for (String line : listing.lines().skip(1).toList()) {
            String key = line.split("\\s+")[0];
            if (labels(key).has(SKIPPED_BLOB)) {
                return key;
            }
        }
        throw new AssertionError("no snapshot has the label " + SKIPPED_BLOB + ": " + listing);
    }

    private static JsonNode labels(String key) throws IOException {
        String info = node.containerd.ctr("-n", K8S, "snapshots", "--snapshotter", "nydus",
                "info", key);
        return new ObjectMapper().readTree(info).path("Labels");
    }

    /** Returns the bytes and inodes that {@code ctr snapshots usage -b} prints for a key. */
    private static long[] usage(String key) throws IOException {
        String output = node.containerd.ctr("-n", K8S, "snapshots", "--snapshotter", "nydus",
                "usage", "-b", key);
        String[] fields = output.lines().skip(1).findFirst().orElseThrow().split("\\s+");
        return new long[] {Long.parseLong(fields[1]), Long.parseLong(fields[2])};
    }

    /** Returns the disk space allocated to {@code files}, as {@code du} counts it. */
    private static long allocatedBytes(List<Path> files) throws IOException {
        long allocated = 0;
        for (Path file : files) {
            allocated += Posix.lstat(BytePath.of(file)).blocks() * 512;
        }
        return allocated;
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
