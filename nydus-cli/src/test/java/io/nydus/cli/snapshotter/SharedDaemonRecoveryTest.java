package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.snapshotter.CredentialStore;
import io.nydus.snapshotter.DaemonConfigs;
import io.nydus.snapshotter.Metrics;
import io.nydus.snapshotter.NydusImage;
import io.nydus.snapshotter.NydusdManager;
import io.nydus.snapshotter.SnapshotException;
import io.nydus.snapshotter.SnapshotterConfig;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A shared nydusd under {@code recover_policy = "failover"}, driven through the snapshotter's
 * {@link NydusdManager} in this JVM, so that a test can order an unmount against the
 * handling of the daemon's death.
 */
class SharedDaemonRecoveryTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static TempDir dir;
    private static RegistryServer registry;
    private static ImageReference reference;
    private static Path bootstrap;
    private static List<String> blobIds;
    private static Path nydusd;
    /** The number of manager roots made so far in the class's directory. */
    private static final AtomicInteger ROOTS = new AtomicInteger();
    /** How long a test keeps a daemon stopped: longer than the API requests' 2 s timeout. */
    private static final Duration STALL = Duration.ofSeconds(6);

    private Path root;
    private DaemonConfigs configs;
    private Metrics metrics;
    private NydusdManager manager;
    private StallingApiProxy proxy;

    @BeforeAll
    static void pushImage() throws Exception {
        dir = TempDirs.create("shared-recovery");
        registry = RegistryServer.start(dir);
        SeedImage seed = SeedImage.oneLayer(dir.resolve("seed"), layer -> {
            Files.writeString(layer.resolve("etc/motd"), "hello\n");
            Files.writeString(layer.resolve("etc/issue"), "Debian\n");
        });
        ImageReference source = ImageReference.parse(registry.address() + "/library/one:v1");
        reference = source.withTag("nydus");
        try (RegistryClient client = Node.plainClient()) {
            seed.push(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source, reference)
                    .withWorkDir(Files.createDirectories(dir.resolve("work")))
                    .withPlatform(PlatformSpec.parse("linux/amd64"))
                    .withPrefetchPatterns("/etc/issue"));
            Manifest manifest = client.getManifest(reference).toManifest();
            ImageChunks.load(client, reference.toRepository(), manifest,
                    dir.resolve("bootstrap"));
            blobIds = new ArrayList<>();
            for (Descriptor layer : manifest.layers().subList(0,
                    manifest.layers().size() - 1)) {
                blobIds.add(layer.digest().hex());
            }
        }
        bootstrap = dir.resolve("bootstrap/image/image.boot");
        nydusd = Node.writeNydusd(Files.createDirectories(dir.resolve("bin")));
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        Node.closeAll(dir, null, registry);
    }

    @BeforeEach
    void startManager() throws Exception {
        manager = manager("{\"enable\": false}");
    }

    /** Returns a manager under a new root whose daemons get {@code prefetch} as fs_prefetch. */
    private NydusdManager manager(String prefetch) throws Exception {
        // A short name, because the daemon's API socket lies four levels below it.
        root = Files.createDirectory(dir.resolve("root-" + ROOTS.incrementAndGet()));
        return manager(prefetch, true);
    }

    /** Returns a manager under the current root, which may find the daemon of an earlier one. */
    private NydusdManager manager(String prefetch, boolean cleanupOnClose) throws Exception {
        return manager(prefetch, cleanupOnClose, "shared");
    }

    /** Returns a manager in {@code daemonMode} under the current root. */
    private NydusdManager manager(String prefetch, boolean cleanupOnClose, String daemonMode)
            throws Exception {
        Path template = root.resolve("nydusd-config.json");
        Files.writeString(template, """
                {"device": {"backend": {"type": "registry", "config": {"timeout": 5}},
                 "cache": {"type": "blobcache", "config": {}}},
                 "mode": "direct", "fs_prefetch": %s}
                """.formatted(prefetch));
        Path toml = root.resolve("config.toml");
        Files.writeString(toml, """
                version = 1
                root = "%s"
                cleanup_on_close = %s
                daemon_mode = "%s"
                [daemon]
                nydusd_config = "%s"
                nydusd_path = "%s"
                mount_timeout = "30s"
                recover_policy = "failover"
                """.formatted(root.resolve("state"), cleanupOnClose, daemonMode, template,
                nydusd));
        SnapshotterConfig config = SnapshotterConfig.load(toml);
        Files.createDirectories(config.root());
        configs = DaemonConfigs.load(config.nydusdConfig(), config.cacheDir(),
                new CredentialStore(CredentialProvider.anonymous()));
        metrics = new Metrics();
        return new NydusdManager(config, configs, metrics);
    }

    @AfterEach
    void stopManager() throws IOException {
        // The proxy outlives the manager, which stops the daemon through it.
        manager.close();
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void unmountAfterDeathReachesSuccessor() throws Exception {
        manager.mount(image(1));
        manager.mount(image(2));
        ProcessHandle daemon = sharedDaemon();

        // Holding the manager's lock keeps its exit watcher from handling the death before
        // the unmount, so the unmount finds the daemon dead and its successor not started.
        synchronized (manager) {
            daemon.destroyForcibly();
            daemon.onExit().get(30, TimeUnit.SECONDS);
            manager.unmount(2);
        }

        awaitSuccessorServing(daemon, List.of("/1"));
        assertEquals(List.of(1L), manager.mountedImages());
        assertEquals("hello\n", Files.readString(root.resolve("state/mnt/1/etc/motd")));
    }

    @Test
    void stalledDaemonIsNotReplaced() throws Exception {
        manager.mount(image(1));
        ProcessHandle daemon = sharedDaemon();
        String pid = String.valueOf(daemon.pid());

        // A stopped process stands for a daemon that a loaded machine or a long garbage
        // collection keeps from replying. The stall lasts longer than one API request may take,
        // but less than the mount timeout.
        Commands.run(List.of("kill", "-STOP", pid), Duration.ofSeconds(30));
        CompletableFuture<Path> second;
        try {
            second = CompletableFuture.supplyAsync(() -> mountUnchecked(image(2)));
            Thread.sleep(STALL.toMillis());
        } finally {
            Commands.run(List.of("kill", "-CONT", pid), Duration.ofSeconds(30));
        }

        assertEquals(root.resolve("state/mnt/2"), second.get(60, TimeUnit.SECONDS));
        assertEquals(daemon.pid(), sharedDaemon().pid());
        assertEquals(List.of("/1", "/2"), servedImages());
        assertEquals("hello\n", Files.readString(root.resolve("state/mnt/1/etc/motd")));
    }

    @Test
    void lateImageListKeepsMount() throws Exception {
        manager.mount(image(1));
        ProcessHandle daemon = sharedDaemon();
        proxy = StallingApiProxy.install(root.resolve("state/socket/shared/api.sock"));

        // The daemon replies to the check of its state, then twice replies too late to the
        // request for its images. The image is still mounted and stays so.
        proxy.stallDaemonInfo(1, 2);
        Path path = manager.mount(image(1));

        assertEquals(root.resolve("state/mnt/1"), path);
        assertEquals(2, proxy.stalledRequests());
        assertEquals(daemon.pid(), sharedDaemon().pid());
        assertEquals(List.of("/1"), servedImages());
        assertEquals("hello\n", Files.readString(root.resolve("state/mnt/1/etc/motd")));
    }

    @Test
    void recoveryWaitsForLateImageList() throws Exception {
        ProcessHandle daemon = leaveDaemonBehindProxy();

        // A restarted snapshotter attaches to the daemon, which then replies too late to the
        // request for its images twice.
        manager = manager("{\"enable\": false}", true);
        proxy.stallDaemonInfo(1, 2);
        manager.recover(List.of(image(1)));

        assertEquals(2, proxy.stalledRequests());
        assertEquals(List.of(1L), manager.mountedImages());
        assertEquals(daemon.pid(), sharedDaemon().pid());
        assertEquals(List.of("/1"), servedImages());
        assertEquals("hello\n", Files.readString(root.resolve("state/mnt/1/etc/motd")));
    }

    @Test
    void lateImageListKeepsOtherModeDaemon() throws Exception {
        ProcessHandle daemon = leaveDaemonBehindProxy();

        // After a change to multiple mode, the restarted snapshotter finds the shared daemon
        // serving a container's image, and the daemon replies too late twice to the request
        // for its images.
        manager = manager("{\"enable\": false}", true, "multiple");
        proxy.stallDaemonInfo(1, 2);
        manager.recover(List.of(image(1)));

        assertTrue(daemon.isAlive(), "the shared daemon was stopped");
        assertEquals(2, proxy.stalledRequests());
        assertEquals(List.of(1L), manager.mountedImages());
        assertEquals(List.of("/1"), servedImages());
        assertEquals("hello\n", Files.readString(root.resolve("state/mnt/1/etc/motd")));
    }

    /**
     * Mounts image 1 through a manager that leaves its shared daemon running at its close, as a
     * snapshotter does for running containers, and puts the proxy in front of the daemon's API.
     */
    private ProcessHandle leaveDaemonBehindProxy() throws Exception {
        manager.close();
        manager = manager("{\"enable\": false}", false);
        manager.mount(image(1));
        ProcessHandle daemon = sharedDaemon();
        manager.close();
        proxy = StallingApiProxy.install(root.resolve("state/socket/shared/api.sock"));
        return daemon;
    }

    private Path mountUnchecked(NydusImage image) {
        try {
            return manager.mount(image);
        } catch (SnapshotException e) {
            throw new CompletionException(e);
        }
    }

    @Test
    void successorDropsImageSnapshotterForgot() throws Exception {
        manager.mount(image(1));
        Path socket = root.resolve("state/socket/shared/api.sock");
        String body = "{\"source\": \"" + bootstrap + "\", \"fs_type\": \"rafs\","
                + " \"config\": " + JSON.writeValueAsString(configs.imageConfig(image(9)))
                + "}";
        assertTrue(request(socket, "POST", "/api/v1/mount?mountpoint=/9", body)
                .startsWith("HTTP/1.1 204"));
        // The manager's next mount sends states that list the image it never mounted.
        manager.mount(image(3));
        ProcessHandle daemon = sharedDaemon();

        daemon.destroyForcibly();
        daemon.onExit().get(30, TimeUnit.SECONDS);

        awaitSuccessorServing(daemon, List.of("/1", "/3"));
        assertEquals(List.of(1L, 3L), manager.mountedImages().stream().sorted().toList());
    }

    @Test
    void imageMountedAgainCountsOnce() throws Exception {
        manager.mount(image(1));
        Path socket = root.resolve("state/socket/shared/api.sock");
        assertTrue(request(socket, "DELETE", "/api/v1/mount?mountpoint=/1", "")
                .startsWith("HTTP/1.1 204"));

        // The daemon no longer lists the image, so the manager mounts it again.
        manager.mount(image(1));

        assertEquals(List.of("/1"), servedImages());
        assertTrue(metrics.render().contains("nydus_snapshotter_mounted_images 1\n"),
                metrics.render());
    }

    @Test
    void daemonListShowsImages() throws Exception {
        manager.mount(image(1));
        manager.mount(image(3));

        List<Map<String, Object>> daemons = manager.describeDaemons();

        assertEquals(1, daemons.size(), daemons.toString());
        JsonNode entry = JSON.valueToTree(daemons.getFirst());
        assertEquals(sharedDaemon().pid(), entry.path("pid").asLong());
        assertEquals(2, entry.path("reference").asInt());
        assertTrue(entry.path("memory_rss_kb").asLong() > 0, entry.toString());
        assertTrue(entry.path("supervisor_path").asText().endsWith("supervisor/shared.sock"),
                entry.toString());
        JsonNode instance = entry.path("instances").path("3");
        assertEquals("3", instance.path("snapshot_id").asText());
        assertEquals(root.resolve("state/snapshots/3").toString(),
                instance.path("snapshot_dir").asText());
        assertEquals(root.resolve("state/mnt/3").toString(), instance.path("mountpoint").asText());
        assertEquals(reference.toString(), instance.path("image_id").asText());
    }

    @Test
    void metricsExportEachImageAsUpstream() throws Exception {
        ImageReference otherReference = reference.withTag("other");
        manager.mount(image(6));
        manager.mount(new NydusImage(7, bootstrap, otherReference, blobIds, Map.of()));
        assertEquals("hello\n", Files.readString(root.resolve("state/mnt/6/etc/motd")));
        assertEquals("Debian\n", Files.readString(root.resolve("state/mnt/6/etc/issue")));
        Path socket = root.resolve("state/socket/shared/api.sock");
        String reply = request(socket, "GET", "/api/v1/metrics?id=/6", "");
        JsonNode fs = JSON.readTree(reply.substring(reply.indexOf("\r\n\r\n") + 4));

        String text = metrics.render();

        String image = "image_ref=\"" + reference + "\"";
        String other = "image_ref=\"" + otherReference + "\"";
        long reads = fs.path("fop_hits").path(4).asLong();
        assertEquals(13, fs.path("data_read").asLong(), fs.toString());
        assertTrue(reads >= 2, fs.toString());
        assertEquals(13, sample(text, "nydusd_total_read_bytes{" + image + "}"));
        assertEquals(reads, sample(text, "nydusd_read_hits{" + image + "}"));
        assertEquals(0, sample(text, "nydusd_read_errors{" + image + "}"));
        assertEquals(0, sample(text, "nydusd_total_read_bytes{" + other + "}"));
        // Reads below 1 KiB fall in upstream's first bucket, which it labels 1.
        assertEquals(reads, sample(text,
                "nydusd_cumulative_read_block_bytes_bucket{" + image + ",le=\"1\"}"));
        assertEquals(reads, sample(text, "nydusd_cumulative_read_block_bytes_sum{" + image + "}"));
        assertEquals(reads, sample(text,
                "nydusd_read_latency_microseconds_bucket{" + image + ",le=\"+Inf\"}"));
        assertEquals(reads, sample(text, "nydusd_read_latency_microseconds_count{" + image + "}"));
        assertEquals(1, sample(text, "nydusd_image_info{daemon_id=\"shared\"," + image + "}"));
        assertEquals(1, sample(text, "nydusd_image_info{daemon_id=\"shared\"," + other + "}"));
        assertTrue(sample(text, "nydusd_rss_kilobytes{daemon_id=\"shared\"}") > 0, text);
        assertEquals(0, sample(text, "nydusd_hung_io_counts"));
        assertTrue(sample(text, "nydusd_cache_total_requests{" + image + "}") >= 2, text);
        assertTrue(text.contains("# TYPE nydusd_read_latency_microseconds histogram\n"), text);
        assertEquals(1, text.split("# TYPE nydusd_read_hits gauge\n", -1).length - 1, text);
    }

    /** Returns the value of the sample {@code series} in Prometheus text {@code text}. */
    private static long sample(String text, String series) {
        for (String line : text.split("\n")) {
            if (line.startsWith(series + " ")) {
                return Long.parseLong(line.substring(series.length() + 1));
            }
        }
        throw new AssertionError(series + " is missing from\n" + text);
    }

    @Test
    void prefetchListReachesNextMount() throws Exception {
        manager.close();
        manager = manager("{\"enable\": true, \"threads_count\": 1}");
        // The list replaces the bootstrap's own (/etc/issue, 1 chunk) for the mount it reaches,
        // and names two files (2 chunks), so the two mounts log different counts.
        Path list = root.resolve("motd.list");
        Files.writeString(list, "/etc/motd\n/etc/issue\n");

        int images = manager.setPrefetchLists("[{\"image\": \"" + reference
                + "\", \"prefetch\": \"" + list + "\"}]");
        manager.mount(image(4));
        manager.mount(image(5));

        assertEquals(1, images);
        String log = Files.readString(root.resolve("state/socket/shared/nydusd.log"));
        assertTrue(log.contains("prefetching 2 chunks of the listed files"), log);
        assertTrue(log.contains("prefetching 1 chunks of the listed files"),
                "the second mount took the list again: " + log);
    }

    private static NydusImage image(long snapshotId) {
        return new NydusImage(snapshotId, bootstrap, reference, blobIds, Map.of());
    }

    private ProcessHandle sharedDaemon() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Path pidFile = root.resolve("state/socket/shared/nydusd.pid");
        while (true) {
            ProcessHandle process = Files.exists(pidFile) ? ProcessHandle.of(
                    Long.parseLong(Files.readString(pidFile).strip())).orElse(null) : null;
            if (process != null && process.isAlive()) {
                return process;
            }
            assertTrue(System.nanoTime() < deadline, "no live nydusd in " + pidFile);
            Thread.sleep(50);
        }
    }

    /** Waits until a nydusd other than {@code dead} serves exactly the mount ids {@code ids}. */
    private void awaitSuccessorServing(ProcessHandle dead, List<String> ids) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (sharedDaemon().pid() == dead.pid() || !servedImages().equals(ids)) {
            assertTrue(System.nanoTime() < deadline, "served: " + servedImages());
            Thread.sleep(100);
        }
    }

    /** Returns the mount ids that the shared daemon's API lists, sorted. */
    private List<String> servedImages() throws Exception {
        Path socket = proxy != null ? proxy.upstream()
                : root.resolve("state/socket/shared/api.sock");
        String reply = request(socket, "GET", "/api/v1/daemon", "");
        List<String> ids = new ArrayList<>();
        JSON.readTree(reply.substring(reply.indexOf("\r\n\r\n") + 4))
                .path("backend_collection").fieldNames().forEachRemaining(ids::add);
        ids.sort(null);
        return ids;
    }

    /** Sends one HTTP request to a unix socket and returns the whole response. */
    private static String request(Path socket, String method, String target, String body)
            throws IOException {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            Channels.newOutputStream(channel).write((method + " " + target + " HTTP/1.1\r\n"
                    + "Host: localhost\r\nContent-Length: " + content.length
                    + "\r\nConnection: close\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            return new String(Channels.newInputStream(channel).readAllBytes(),
                    StandardCharsets.UTF_8);
        }
    }
}
