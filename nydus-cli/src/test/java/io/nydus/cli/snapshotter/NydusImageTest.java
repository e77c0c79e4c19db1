package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.cli.snapshotter.ImageChunks.StoredRange;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.CommandResult;
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
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Nydus images through the snapshotter in a real containerd: pulled as kubelet pulls them (a
 * CRI client) and with {@code ctr-remote images rpull}, run with runc, read lazily through
 * nydusd, and served by a registry behind a proxy that records every request. The tests run in
 * order because later ones build on the cache and mounts of earlier ones.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NydusImageTest {
    private static final String K8S = "k8s.io";

    private static TempDir dir;
    private static RegistryServer registry;
    private static CountingProxy proxy;
    private static Node node;
    private static int metricsPort;
    private static Manifest appManifest;
    private static Manifest appSourceManifest;
    private static String appOciRef;
    private static Manifest baseManifest;
    private static String appOci;
    private static String appNydus;
    private static String baseNydus;
    private static String soloNydus;
    private static SeedImage solo;
    private static ImageChunks appChunks;
    /** Every chunk of the app image that the registry served since the node started. */
    private static final Set<StoredRange> served = new HashSet<>();
    private static final String GC_ROOT = "containerd.io/gc.root=nydus-image-test";
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("nydus-image");
        registry = RegistryServer.start(dir);
        proxy = new CountingProxy(registry.address());
        String host = proxy.address();
        try (RegistryClient client = Node.plainClient()) {
            SeedImage seed = Node.pushImage(client, ref(registry.address(), "base:v1"),
                    dir.resolve("seed"));
            Path extra = seed.newLayerDirectory();
            writeRandom(extra.resolve("opt/x/data"), 2 << 20, 11);
            seed.addLayer(extra);
            seed.push(client, ref(registry.address(), "app:v1"));
            baseManifest = convert(client, "base:v1", "base:nydus");
            appManifest = convert(client, "app:v1", "app:nydus");
            convert(client, "app:v1", "app:nydus-ref", true);
            appSourceManifest = client.getManifest(ref(registry.address(), "app:v1"))
                    .toManifest();
            appChunks = ImageChunks.load(client, ref(registry.address(), "app:nydus")
                    .toRepository(), appManifest, dir.resolve("app-bootstrap"));
            solo = SeedImage.oneLayer(dir.resolve("solo"), layer -> {
                Files.copy(Path.of("/bin/busybox"), layer.resolve("bin/busybox"));
                writeRandom(layer.resolve("f1"), 2 << 20, 1);
                writeRandom(layer.resolve("f2"), 2 << 20, 2);
            });
            solo.push(client, ref(registry.address(), "solo:v1"));
            convert(client, "solo:v1", "solo:nydus");
        }
        appOci = host + "/library/app:v1";
        appNydus = host + "/library/app:nydus";
        appOciRef = host + "/library/app:nydus-ref";
        baseNydus = host + "/library/base:nydus";
        soloNydus = host + "/library/solo:nydus";
        metricsPort = RegistryServer.freePort();
        node = Node.start(List.of(host), Node.SHARED, "[metrics]\naddress = \"127.0.0.1:"
                + metricsPort + "\"\n[system]\nenable = true\naddress = \"%NODE%/system.sock\"\n",
                List.of(), "recover_policy = \"failover\"");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, proxy, registry);
    }

    @Test
    @Order(1)
    void criPullSkipsDataLayers() throws Exception {
        proxy.clear();
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(baseNydus);
            cri.pull(appNydus);
        }

        List<CountingProxy.Request> requests = proxy.requests();

        for (Descriptor layer : dataLayers(appManifest)) {
            assertEquals(List.of(), requestsFor(requests, layer), layer.digest().toString());
        }
        List<Descriptor> pulled = List.of(appManifest.config(), bootstrap(appManifest),
                baseManifest.config(), bootstrap(baseManifest));
        for (CountingProxy.Request request : requests) {
            boolean expected = request.path().equals("/v2/")
                    || request.path().contains("/manifests/")
                    || pulled.stream().anyMatch(d -> request.path().endsWith("/blobs/"
                            + d.digest()));
            assertTrue(expected, "unexpected request during the pull: " + request);
        }
        assertFalse(requestsFor(requests, bootstrap(appManifest)).isEmpty());
        assertFalse(requestsFor(requests, appManifest.config()).isEmpty());
        long lazyLayers = Node.metrics(metricsPort).lines()
                .filter(line -> line.startsWith("nydus_snapshotter_lazy_layers_total "))
                .mapToLong(line -> Long.parseLong(line.split(" ")[1])).sum();
        assertTrue(lazyLayers >= dataLayers(appManifest).size(), "lazy layers: " + lazyLayers);
        assertTrue(node.snapshotter.log().contains("skipped the download of Nydus data layer"));
    }

    @Test
    @Order(2)
    void containerReadsOnlyWhatItNeeds() throws Exception {
        proxy.clear();
        String busybox = ContainerdServer.output(node.containerd.run(K8S, "--rm",
                "--snapshotter", "nydus", appNydus, "read-busybox", "/bin/busybox",
                "sha256sum", "/bin/busybox"));
        Set<StoredRange> busyboxServed = assertOnlyChunksServed(proxy.requests(),
                appChunks.fileChunks("/bin/busybox"));

        // The exec of busybox is served from the cache now, so only /etc/config is fetched.
        proxy.clear();
        String config = ContainerdServer.output(node.containerd.run(K8S, "--rm",
                "--snapshotter", "nydus", appNydus, "read-one", "/bin/busybox", "cat",
                "/etc/config"));
        Set<StoredRange> configServed = assertOnlyChunksServed(proxy.requests(),
                appChunks.fileChunks("/etc/config"));

        assertEquals(sha256(Path.of("/bin/busybox")), busybox.split("\\s+")[0]);
        assertEquals("v2\n", config);
        assertEquals(appChunks.fileChunks("/bin/busybox"), busyboxServed);
        assertEquals(appChunks.fileChunks("/etc/config"), configServed);
    }

    @Test
    @Order(3)
    void criPullListingEqualsOverlayfs() throws Exception {
        node.containerd.ctr("-n", K8S, "images", "pull", "--plain-http", "--snapshotter",
                "overlayfs", appOci);
        String expected = node.listing(K8S, "overlayfs", appOci);

        proxy.clear();

        String actual = node.listing(K8S, "nydus", appNydus);

        assertTrue(expected.contains("/opt/x/data"), expected);
        assertEquals(expected, actual);
        assertOnlyChunksServed(proxy.requests(), appChunks.allChunks());
        assertEquals(appChunks.allChunks(), served, "chunks served since the node started");
    }

    @Test
    @Order(4)
    void rpullListingEqualsOverlayfs() throws Exception {
        String expected = node.listing(K8S, "overlayfs", appOci);
        proxy.clear();
        CommandResult pull = node.containerd.ctrRemote("-n", "rpull", "images", "rpull",
                "--plain-http", "--snapshotter", "nydus", appNydus);
        assertEquals(0, pull.exitCode(), pull.stderrText());

        String actual = node.listing("rpull", "nydus", appNydus);

        assertEquals(expected, actual);
        assertEquals(Set.of(), assertOnlyChunksServed(proxy.requests(), Set.of()),
                "chunks served again although nydusd had cached them");
    }

    @Test
    @Order(5)
    void removingImageFreesOnlyItsBlobs() throws Exception {
        Path cache = node.root.resolve("cache");
        String own = dataLayers(appManifest).getLast().digest().hex();
        String shared = dataLayers(baseManifest).getFirst().digest().hex();
        List<Path> mountsBefore = list(node.root.resolve("mnt"));
        assertTrue(Files.exists(cache.resolve(own + ".blob.data")), "blob of /opt/x/data");
        assertTrue(Files.exists(cache.resolve(shared + ".blob.data")), "blob of /bin/tool");

        node.containerd.ctr("-n", "rpull", "images", "rm", "--sync", appNydus);
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.remove(appNydus);
        }

        await(() -> !Files.exists(cache.resolve(own + ".blob.data"))
                && mountsBefore.stream().noneMatch(Files::exists));
        assertTrue(Files.exists(cache.resolve(shared + ".blob.data")));
    }

    @Test
    @Order(6)
    void runningContainerSurvivesRestarts() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(soloNydus);
        }
        ContainerdServer.output(node.containerd.run(K8S, "-d", "--snapshotter", "nydus",
                soloNydus, "sleeper", "/bin/busybox", "sleep", "3600"));
        try {
            node.snapshotter.terminate();
            node.restartSnapshotter();
            String afterTerm = readInContainer("sleeper", "/f1");

            node.snapshotter.kill();
            node.restartSnapshotter();
            String afterKill = readInContainer("sleeper", "/f2");

            assertEquals(sha256(solo.expected().resolve("f1")), afterTerm);
            assertEquals(sha256(solo.expected().resolve("f2")), afterKill);
            assertTrue(node.listing(K8S, "nydus", soloNydus).contains("/f2"),
                    "a new container starts after the restarts");
        } finally {
            node.removeContainer(K8S, "sleeper");
        }
    }

    @Test
    @Order(7)
    void layerCommittedOnImageStacksAbove() throws Exception {
        String chain = chainId(soloNydus);
        Path active = Files.createDirectories(node.dir.resolve("mount-active"));
        Path view = Files.createDirectories(node.dir.resolve("mount-view"));
        // ctr makes these snapshots without a lease, so the label keeps containerd's garbage
        // collection, which a container removal before may have scheduled, from removing them.
        snapshots("prepare", "upper-active", chain);
        snapshots("label", "upper-active", GC_ROOT);
        mountSnapshot(active, "upper-active");
        Files.writeString(active.resolve("added.txt"), "on top\n");
        Commands.run(List.of("umount", active.toString()), Duration.ofSeconds(30));
        snapshots("commit", "upper-committed", "upper-active");
        snapshots("label", "upper-committed", GC_ROOT);
        snapshots("view", "upper-view", "upper-committed");
        snapshots("label", "upper-view", GC_ROOT);

        mountSnapshot(view, "upper-view");
        try {
            assertEquals("on top\n", Files.readString(view.resolve("added.txt")));
            assertEquals(sha256(solo.expected().resolve("f1")), sha256(view.resolve("f1")));
        } finally {
            Commands.run(List.of("umount", view.toString()), Duration.ofSeconds(30));
            snapshots("rm", "upper-view");
            snapshots("rm", "upper-committed");
        }
    }

    @Test
    @Order(8)
    void deadDaemonIsStartedAgain() throws Exception {
        List<Long> before = node.nydusdPids();
        assertEquals(1, before.size(), "nydusd pid files: " + before);
        ProcessHandle daemon = ProcessHandle.of(before.getFirst()).orElseThrow();
        daemon.destroyForcibly();
        daemon.onExit().get(30, TimeUnit.SECONDS);

        String listing = node.listing(K8S, "nydus", soloNydus);

        assertTrue(listing.contains(sha256(solo.expected().resolve("f2")) + "  /f2"), listing);
        assertNotEquals(before, node.nydusdPids());
    }

    @Test
    @Order(9)
    void runningContainerSurvivesDaemonKill() throws Exception {
        ContainerdServer.output(node.containerd.run(K8S, "-d", "--snapshotter", "nydus",
                soloNydus, "survivor", "/bin/busybox", "sleep", "3600"));
        try {
            assertEquals(sha256(solo.expected().resolve("f1")),
                    readInContainer("survivor", "/f1"));
            List<Long> before = node.nydusdPids();
            assertEquals(1, before.size(), "nydusd pid files: " + before);
            ProcessHandle daemon = ProcessHandle.of(before.getFirst()).orElseThrow();
            daemon.destroyForcibly();
            daemon.onExit().get(30, TimeUnit.SECONDS);

            await(() -> daemonReplaced(before));
            String afterKill = readInContainer("survivor", "/f2");

            assertEquals(sha256(solo.expected().resolve("f2")), afterKill);
            assertTrue(node.snapshotter.log().contains("took over the mount"),
                    "the snapshotter restarted nydusd instead of a takeover");
        } finally {
            node.removeContainer(K8S, "survivor");
        }
    }

    @Test
    @Order(10)
    void upgradeReplacesDaemonUnderRunningContainer() throws Exception {
        ContainerdServer.output(node.containerd.run(K8S, "-d", "--snapshotter", "nydus",
                soloNydus, "upgraded", "/bin/busybox", "sleep", "3600"));
        try {
            assertEquals(sha256(solo.expected().resolve("f1")),
                    readInContainer("upgraded", "/f1"));
            List<Long> before = node.nydusdPids();
            Path newNydusd = Node.writeNydusd(Files.createDirectories(
                    node.dir.resolve("nydusd-v2")));

            String reply = systemRequest("PUT", "/api/v1/daemons/upgrade",
                    "{\"nydusd_path\": \"" + newNydusd + "\"}");
            String afterUpgrade = readInContainer("upgraded", "/f2");

            assertTrue(reply.startsWith("HTTP/1.1 200"), reply);
            assertTrue(reply.endsWith("{\"upgraded\":1}"), reply);
            assertEquals(sha256(solo.expected().resolve("f2")), afterUpgrade);
            assertTrue(daemonReplaced(before), "pids " + before + " and "
                    + node.nydusdPids());
            assertTrue(node.snapshotter.log().contains("of " + newNydusd + " took over"),
                    node.snapshotter.log());
            String daemons = systemRequest("GET", "/api/v1/daemons", "");
            assertTrue(daemons.contains("\"pid\":" + node.nydusdPids().getFirst()), daemons);
            assertTrue(daemons.contains("\"state\":\"RUNNING\""), daemons);
        } finally {
            node.removeContainer(K8S, "upgraded");
        }
    }

    /**
     * Checks that an OCI-ref image, whose data is the source's gzip layers, runs lazily: the
     * pull fetches none of them, and the container reads ranges of them through nydusd.
     */
    @Test
    @Order(11)
    void ociRefImageRunsLazily() throws Exception {
        node.containerd.ctr("-n", K8S, "images", "pull", "--plain-http", "--snapshotter",
                "overlayfs", appOci);
        String expected = node.listing(K8S, "overlayfs", appOci);
        proxy.clear();
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(appOciRef);
        }
        List<CountingProxy.Request> pull = proxy.requests();

        String actual = node.listing(K8S, "nydus", appOciRef);

        for (Descriptor layer : appSourceManifest.layers()) {
            assertEquals(List.of(), requestsFor(pull, layer), layer.digest().toString());
        }
        assertEquals(expected, actual);
        assertTrue(proxy.requests().stream().anyMatch(request -> !request.range().isEmpty()
                && appSourceManifest.layers().stream().anyMatch(layer ->
                        request.path().endsWith("/blobs/" + layer.digest()))),
                "no range of a source layer was read: " + proxy.requests());
        // The snapshotter keeps the cache of the gzip layer that this label names.
        String lastSource = appSourceManifest.layers().getLast().digest().toString();
        assertTrue(snapshotLabels().contains("\"containerd.io/snapshot/nydus-ref\": \""
                + lastSource + "\""), "no snapshot names " + lastSource);
    }

    /** Returns the labels of every snapshot of the Nydus snapshotter, as ctr prints them. */
    private static String snapshotLabels() throws IOException {
        StringBuilder labels = new StringBuilder();
        for (String line : snapshots("ls").lines().skip(1).toList()) {
            labels.append(snapshots("info", line.split("\\s+")[0]));
        }
        return labels.toString();
    }

    /** Sends one HTTP request to the snapshotter's system socket and returns the response. */
    private static String systemRequest(String method, String target, String body)
            throws IOException {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(node.dir.resolve("system.sock")));
            Channels.newOutputStream(channel).write((method + " " + target + " HTTP/1.1\r\n"
                    + "Host: localhost\r\nContent-Length: " + content.length
                    + "\r\nConnection: close\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            return new String(Channels.newInputStream(channel).readAllBytes(),
                    StandardCharsets.UTF_8);
        }
    }

    /** Returns whether a live nydusd other than those of {@code before} has a pid file. */
    private static boolean daemonReplaced(List<Long> before) {
        try {
            List<Long> now = node.nydusdPids();
            return !now.isEmpty() && !now.equals(before)
                    && ProcessHandle.of(now.getFirst()).map(ProcessHandle::isAlive).orElse(false);
        } catch (IOException e) {
            return false;
        }
    }

    private static String snapshots(String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of("-n", K8S, "snapshots", "--snapshotter",
                "nydus"));
        argv.addAll(List.of(args));
        return node.containerd.ctr(argv.toArray(String[]::new));
    }

    /** Mounts snapshot {@code key} at {@code target} with the command ctr prints for it. */
    private static void mountSnapshot(Path target, String key) throws IOException {
        String command = snapshots("mounts", target.toString(), key).strip();
        Commands.run(List.of("sh", "-c", command), Duration.ofSeconds(30));
    }

    /** Returns the chain id of an image's top layer, from the diff ids of its config. */
    private static String chainId(String image) throws Exception {
        ImageReference reference = ImageReference.parse(image.replace(proxy.address(),
                registry.address()));
        JsonNode config;
        try (RegistryClient client = Node.plainClient()) {
            Manifest manifest = client.getManifest(reference).toManifest();
            try (var in = client.getBlob(reference.toRepository(),
                    manifest.config().digest())) {
                config = new ObjectMapper().readTree(in.readAllBytes());
            }
        }
        String chain = null;
        for (JsonNode diffId : config.path("rootfs").path("diff_ids")) {
            chain = chain == null ? diffId.asText() : Digest.of((chain + " " + diffId.asText())
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString();
        }
        return chain;
    }

    private static String readInContainer(String container, String file) throws Exception {
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
        String output = ContainerdServer.output(node.containerd.exec(K8S, "--exec-id",
                "read-" + System.nanoTime(), container, "/bin/busybox", "sha256sum", file));
        return output.split("\\s+")[0];
    }

    private static Manifest convert(RegistryClient client, String source, String target)
            throws IOException {
        return convert(client, source, target, false);
    }

    private static Manifest convert(RegistryClient client, String source, String target,
            boolean ociRef) throws IOException {
        ConvertOptions options = ConvertOptions.defaults(ref(registry.address(), source),
                        ref(registry.address(), target))
                .withWorkDir(Files.createDirectories(dir.resolve("work")))
                .withPlatform(PlatformSpec.parse("linux/amd64")).withOciRef(ociRef);
        new Converter(client, client).convert(options);
        return client.getManifest(ref(registry.address(), target)).toManifest();
    }

    private static ImageReference ref(String host, String nameAndTag) {
        return ImageReference.parse(host + "/library/" + nameAndTag);
    }

    private static List<Descriptor> dataLayers(Manifest manifest) {
        return manifest.layers().subList(0, manifest.layers().size() - 1);
    }

    private static Descriptor bootstrap(Manifest manifest) {
        return manifest.layers().getLast();
    }

    private static List<CountingProxy.Request> requestsFor(List<CountingProxy.Request> requests,
            Descriptor blob) {
        return requests.stream().filter(r -> r.path().endsWith("/blobs/" + blob.digest()))
                .toList();
    }

    /**
     * Asserts that each request fetched a manifest, an image config or a bootstrap layer, or
     * a range of a data blob that contains whole chunks of {@code readable} and no other bytes,
     * with every chunk served once since the node started, and returns the chunks served.
     *
     * <p>A blob's own metadata (its CI table at {@code ci_offset} with the CI header, its ToC
     * and its chunk digest array) is not expected either: the snapshotter copies the CI tables
     * that the bootstrap layer carries into the blob cache, where nydusd reads them, and the
     * bootstrap's chunk table describes every chunk a file refers to.
     */
    private static Set<StoredRange> assertOnlyChunksServed(List<CountingProxy.Request> requests,
            Set<StoredRange> readable) {
        List<Descriptor> images = List.of(appManifest.config(), bootstrap(appManifest),
                baseManifest.config(), bootstrap(baseManifest));
        Set<StoredRange> result = new HashSet<>();
        for (CountingProxy.Request request : requests) {
            String path = request.path();
            if (path.equals("/v2/") || path.contains("/manifests/")
                    || images.stream().anyMatch(d -> path.endsWith("/blobs/" + d.digest()))) {
                continue;
            }
            assertTrue(path.contains("/blobs/sha256:"), "unexpected request " + request);
            Digest blob = Digest.parse(path.substring(path.indexOf("/blobs/") + 7));
            assertTrue(appChunks.blobs().contains(blob), "request for a blob the image"
                    + " does not use: " + request);
            for (StoredRange chunk : chunksServed(request, blob, readable)) {
                assertTrue(served.add(chunk), "chunk " + chunk + " served again by " + request);
                result.add(chunk);
            }
        }
        return result;
    }

    /** Returns the chunks a ranged blob request served, checking that it served only them. */
    private static List<StoredRange> chunksServed(CountingProxy.Request request, Digest blob,
            Set<StoredRange> readable) {
        assertEquals("GET", request.method(), request.toString());
        assertEquals(206, request.status(), request.toString());
        Matcher range = RANGE.matcher(request.range());
        assertTrue(range.matches(), "blob request without a byte range: " + request);
        long start = Long.parseLong(range.group(1));
        long end = Long.parseLong(range.group(2)) + 1;
        assertEquals(end - start, request.bytes(), "bytes sent for " + request);
        List<StoredRange> chunks = appChunks.chunksOverlapping(blob, start, end);
        assertFalse(chunks.isEmpty(), "range with no chunk: " + request);
        assertEquals(start, chunks.getFirst().offset(), "range starts inside a chunk: "
                + request);
        assertEquals(end, chunks.getLast().end(), "range ends inside a chunk: " + request);
        long chunkBytes = chunks.stream().mapToLong(StoredRange::length).sum();
        assertEquals(end - start, chunkBytes, "range with bytes between chunks: " + request);
        for (StoredRange chunk : chunks) {
            assertTrue(readable.contains(chunk), "chunk " + chunk + " of a file the container"
                    + " did not read, served by " + request);
        }
        return chunks;
    }

    private static void writeRandom(Path file, int size, long seed) throws IOException {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        Files.createDirectories(file.getParent());
        Files.write(file, data);
    }

    private static String sha256(Path file) throws IOException {
        return SeedImage.sha256(file).hex();
    }

    private static List<Path> list(Path directory) throws IOException {
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (var entries = Files.list(directory)) {
            return entries.sorted().toList();
        }
    }

    /** Waits for containerd's garbage collection, which removes snapshots in the background. */
    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "condition not met within 60 s");
            Thread.sleep(100);
        }
    }
}
