package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.Repository;
import io.nydus.snapshotter.SnapshotLabels;
import io.nydus.snapshotter.api.Mount;
import io.nydus.snapshotter.api.PrepareSnapshotRequest;
import io.nydus.snapshotter.api.RemoveSnapshotRequest;
import io.nydus.snapshotter.api.SnapshotsGrpc;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Bad and hostile labels, references and registries against a node whose snapshotter, and the
 * nydusd it starts, run in a {@link NetworkJail}. Each case must end in a clear error, and after
 * every test no packet went to an address other than 127.0.0.1 (a DNS query to the system's
 * resolver included) and nothing changed outside the snapshotter's root in the node's
 * directory. The hostile values name documentation addresses (192.0.2.0/24, 198.51.100.0/24)
 * and a host under the reserved {@code .invalid} domain, and the jail lets nothing leave the
 * machine.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostileInputTest {
    private static final String K8S = "k8s.io";
    private static final String FOREIGN = "198.51.100.7:5000/library/solo:nydus";
    private static final String UNRESOLVABLE = "registry.invalid/library/solo:nydus";
    private static final String BLOB = "sha256:" + "ab".repeat(32);
    /** A file name that traversing labels and keys aim at, unique to this run. */
    private static final String MARKER = "escape-" + UUID.randomUUID();

    private static TempDir dir;
    private static RegistryServer registry;
    private static CountingProxy proxy;
    private static NetworkJail jail;
    private static Node node;
    private static SeedImage seed;
    private static Manifest soloManifest;
    private static String solo;
    private static EventLoopGroup events;
    private static ManagedChannel channel;
    private static Map<Path, String> outsideRoot;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("hostile");
        registry = RegistryServer.start(dir);
        proxy = new CountingProxy(registry.address());
        seed = SeedImage.oneLayer(dir.resolve("seed"), layer -> {
            Files.copy(Path.of("/bin/busybox"), layer.resolve("bin/busybox"));
            byte[] data = new byte[1 << 20];
            new Random(3).nextBytes(data);
            Files.write(layer.resolve("f1"), data);
        });
        try (RegistryClient client = Node.plainClient()) {
            ImageReference source = ref(registry.address(), "solo:v1");
            seed.push(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source,
                            source.withTag("nydus"))
                    .withWorkDir(Files.createDirectories(dir.resolve("work")))
                    .withPlatform(PlatformSpec.parse("linux/amd64")));
            soloManifest = client.getManifest(source.withTag("nydus")).toManifest();
            pushForged(client, source.withTag("forged"));
            pushWithoutBootstrapFile(client, source.withTag("broken"));
            pushCorruptBootstrap(client, source.withTag("corrupt"));
            pushRepackedBootstrap(client, source.withTag("repacked"));
        }
        solo = proxy.address() + "/library/solo:nydus";
        jail = NetworkJail.create(dir.path());
        jail.forward(Integer.parseInt(proxy.address().split(":")[1]));
        node = Node.start(List.of(proxy.address()), Node.SHARED, "", jail.launcher());
        events = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(node.socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(events)
                .usePlaintext().build();
        outsideRoot = scanOutsideRoot();
    }

    @AfterAll
    static void stopNode() throws Exception {
        if (channel != null) {
            channel.shutdownNow();
            events.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        Node.closeAll(dir, node, jail, proxy, registry);
    }

    @AfterEach
    void nothingEscaped() throws Exception {
        assertEquals(List.of(), jail.foreignDestinations(),
                "addresses other than 127.0.0.1 that the snapshotter or nydusd sent packets to");
        assertEquals(outsideRoot, scanOutsideRoot(), "files of the node outside the root");
        for (Path ancestor = node.root; ancestor != null; ancestor = ancestor.getParent()) {
            assertFalse(Files.exists(ancestor.resolve(MARKER), LinkOption.NOFOLLOW_LINKS),
                    "written outside the root: " + ancestor.resolve(MARKER));
        }
    }

    @Test
    @Order(1)
    void jailRecordsForeignPackets() throws Exception {
        CommandResult probe = jail.runInside("bash", "-c", "echo probe > /dev/udp/192.0.2.1/9");
        List<String> recorded = jail.foreignDestinations();
        jail.clearDestinations();

        assertNotEquals(0, probe.exitCode(), "the packet to 192.0.2.1 was not dropped");
        assertEquals(List.of("192.0.2.1"), recorded);
        assertTrue(jail.contains(node.snapshotter.pid()), "the snapshotter runs outside the"
                + " network namespace");
    }

    @Test
    @Order(2)
    void hostileLabelsFailPrepare() {
        record Case(Map<String, String> labels, String named) {
        }
        String longReference = "registry.invalid/" + "x".repeat(5000);
        List<Case> cases = List.of(
                new Case(withStargzRef(dataLayer("hostile-1", BLOB, solo), FOREIGN), FOREIGN),
                new Case(withStargzRef(dataLayer("hostile-2", BLOB, UNRESOLVABLE), solo),
                        UNRESOLVABLE),
                new Case(withStargzRef(bootstrapLayer("hostile-3", solo),
                        "192.0.2.1/library/solo:v1"), "192.0.2.1/library/solo:v1"),
                new Case(dataLayer("hostile-4", "sha256:../../../../../" + MARKER, FOREIGN),
                        MARKER),
                new Case(dataLayer("hostile-5", BLOB, "http://192.0.2.1/library/solo:nydus"),
                        "http://192.0.2.1/library/solo:nydus"),
                new Case(dataLayer("hostile-6", BLOB, "198.51.100.7:5000/../../" + MARKER),
                        "198.51.100.7:5000/../../" + MARKER),
                new Case(bootstrapLayer("hostile-7", longReference),
                        SnapshotLabels.CRI_IMAGE_REF));

        for (Case hostile : cases) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> prepare("extract-hostile", hostile.labels()));

            String message = e.getStatus().getDescription();
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), message);
            assertTrue(message.contains(hostile.named()), "error without "
                    + hostile.named() + ": " + message);
        }
    }

    /** Checks the mount of a traversing key; the check after each test covers the rest. */
    @Test
    @Order(3)
    void traversingKeysStayUnderRoot() {
        String key = "../../../../../../" + MARKER;

        List<Mount> mounts = prepare(key, Map.of());
        snapshots().remove(RemoveSnapshotRequest.newBuilder().setKey(key).build());

        assertEquals(1, mounts.size(), mounts.toString());
        assertTrue(Path.of(mounts.getFirst().getSource()).normalize().startsWith(node.root),
                mounts.toString());
    }

    @Test
    @Order(4)
    void forgedReferenceFailsPulls() throws Exception {
        String forged = proxy.address() + "/library/solo:forged";
        StatusRuntimeException criError;
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            criError = assertThrows(StatusRuntimeException.class, () -> cri.pull(forged));
        }
        CommandResult rpull = node.containerd.ctrRemote("-n", "rpull", "images", "rpull",
                "--plain-http", "--snapshotter", "nydus", forged);
        // Had a pull passed, nydusd would now look up registry.invalid to read busybox.
        CommandResult run = node.containerd.run("rpull", "--rm", "--snapshotter", "nydus",
                forged, "forged", "/bin/busybox", "cat", "/f1");

        String criMessage = criError.getStatus().getDescription();
        assertTrue(criMessage.contains(SnapshotLabels.STARGZ_IMAGE_REF + "='" + FOREIGN + "'"),
                criMessage);
        assertNotEquals(0, rpull.exitCode(), rpull.stdoutText());
        assertTrue(rpull.stderrText().contains(SnapshotLabels.CRI_IMAGE_REF + "='"
                + UNRESOLVABLE + "'"), rpull.stderrText());
        assertNotEquals(0, run.exitCode(), run.stdoutText());
    }

    @Test
    @Order(5)
    void missingBootstrapFailsPull() {
        String broken = proxy.address() + "/library/solo:broken";

        StatusRuntimeException e;
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            e = assertThrows(StatusRuntimeException.class, () -> cri.pull(broken));
        }

        assertTrue(e.getStatus().getDescription().contains("contains no image/image.boot"),
                e.getStatus().getDescription());
    }

    @Test
    @Order(6)
    void failingRegistryGivesReadError() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            pullAfterFailedPulls(cri, solo);
        }
        List<String> blobs = dataLayers(soloManifest).stream()
                .map(layer -> layer.digest().hex()).toList();
        proxy.failPaths(path -> blobs.stream().anyMatch(path::contains));
        try {
            CommandResult result = node.containerd.run(K8S, "--rm", "--snapshotter", "nydus",
                    solo, "failing", "/bin/busybox", "sha256sum", "/f1");

            assertNotEquals(0, result.exitCode(), result.stdoutText());
            String error = result.stderrText().toLowerCase(Locale.ROOT);
            assertTrue(error.contains("input/output error") || error.contains("i/o error"),
                    result.stderrText());
        } finally {
            proxy.failPaths(path -> false);
        }
    }

    /**
     * Pulls {@code image} right after the failed pulls above, which left committed snapshots of
     * the same data layers that no image references. containerd's garbage collector may remove
     * one of them between its unpacker's check that it exists and the prepare of the next
     * layer on top of it, and the pull then fails with "parent snapshot ... does not exist".
     * A second pull prepares the removed snapshots anew.
     */
    private static void pullAfterFailedPulls(CriClient cri, String image) {
        for (int attempt = 1; ; attempt++) {
            try {
                cri.pull(image);
                return;
            } catch (StatusRuntimeException e) {
                String description = String.valueOf(e.getStatus().getDescription());
                boolean collected = description.contains("parent snapshot")
                        && description.contains("does not exist");
                if (!collected || attempt == 3) {
                    throw e;
                }
            }
        }
    }

    @Test
    @Order(7)
    void imageReadsThroughLoopback() throws Exception {
        proxy.clear();

        String listing = node.listing(K8S, "nydus", solo);

        String f1 = SeedImage.sha256(seed.expected().resolve("f1")).hex();
        assertTrue(listing.contains(f1 + "  /f1"), listing);
        assertTrue(proxy.requests().stream().anyMatch(r -> r.path().contains("/blobs/")
                && !r.range().isEmpty()), "nydusd fetched no chunk through the forwarded port");
        List<Long> daemons = node.nydusdPids();
        assertEquals(1, daemons.size(), "nydusd pid files: " + daemons);
        assertTrue(jail.contains(daemons.getFirst()), "nydusd runs outside the network"
                + " namespace");
    }

    @Test
    @Order(8)
    void corruptBootstrapErrorNamesCause() throws Exception {
        String corrupt = proxy.address() + "/library/solo:corrupt";
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(corrupt);
        }

        CommandResult run = node.containerd.run(K8S, "--rm", "--snapshotter", "nydus", corrupt,
                "corrupt", "/bin/busybox", "true");

        assertNotEquals(0, run.exitCode(), run.stdoutText());
        assertTrue(run.stderrText().contains("failed to mount Nydus image " + corrupt),
                run.stderrText());
        assertTrue(run.stderrText().contains("magic 0x00000000"), run.stderrText());
        assertTrue(run.stderrText().contains("not a RAFS v6 bootstrap"), run.stderrText());
    }

    /** Runs after a lazy pull of the solo image left its data layers in the k8s.io namespace. */
    @Test
    @Order(9)
    void plainPullOnLazyLayersFails() throws Exception {
        String repacked = proxy.address() + "/library/solo:repacked";

        CommandResult plainPull = node.containerd.ctrAllowingFailure("-n", K8S, "images",
                "pull", "--plain-http", "--snapshotter", "nydus", repacked);
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(repacked);
        }
        String listing = node.listing(K8S, "nydus", repacked);

        assertNotEquals(0, plainPull.exitCode(), plainPull.stdoutText());
        assertTrue(plainPull.stderrText().contains("ctr-remote images rpull"),
                plainPull.stderrText());
        String f1 = SeedImage.sha256(seed.expected().resolve("f1")).hex();
        assertTrue(listing.contains(f1 + "  /f1"), listing);
        assertFalse(listing.contains("/image/readme"), "the bootstrap layer's files are in the"
                + " root file system: " + listing);
    }

    private static SnapshotsGrpc.SnapshotsBlockingStub snapshots() {
        return SnapshotsGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private static List<Mount> prepare(String key, Map<String, String> labels) {
        return snapshots().prepare(PrepareSnapshotRequest.newBuilder().setKey(key)
                .putAllLabels(labels).build()).getMountsList();
    }

    private static Map<String, String> dataLayer(String target, String digest, String image) {
        return Map.of(SnapshotLabels.TARGET_REF, target, SnapshotLabels.NYDUS_BLOB, "true",
                SnapshotLabels.CRI_LAYER_DIGEST, digest, SnapshotLabels.CRI_IMAGE_REF, image);
    }

    private static Map<String, String> bootstrapLayer(String target, String image) {
        return Map.of(SnapshotLabels.TARGET_REF, target, SnapshotLabels.NYDUS_BOOTSTRAP, "true",
                SnapshotLabels.CRI_IMAGE_REF, image);
    }

    private static Map<String, String> withStargzRef(Map<String, String> labels, String image) {
        Map<String, String> result = new HashMap<>(labels);
        result.put(SnapshotLabels.STARGZ_IMAGE_REF, image);
        return result;
    }

    /**
     * Returns every path below the node's directory except the snapshotter's root, containerd's
     * directory and the snapshotter's log, each with its type, size and modification time.
     */
    private static Map<Path, String> scanOutsideRoot() throws IOException {
        Path containerd = node.dir.resolve("containerd");
        Path log = node.dir.resolve("snapshotter.log");
        Map<Path, String> result = new TreeMap<>();
        // The root and containerd's directory are not entered at all: the snapshotter renames
        // files there while the scan runs, and a listed file may be gone when it is read.
        Files.walkFileTree(node.dir.path(), new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attributes) {
                if (dir.equals(node.root) || dir.equals(containerd)) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                record(dir, attributes);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) {
                if (!file.equals(log)) {
                    record(file, attributes);
                }
                return FileVisitResult.CONTINUE;
            }

            private void record(Path path, BasicFileAttributes attributes) {
                result.put(path, (attributes.isDirectory() ? "directory" : "file")
                        + " size " + attributes.size() + " mtime "
                        + attributes.lastModifiedTime());
            }
        });
        return result;
    }

    /**
     * Pushes the solo image with layer annotations that name other registries under both
     * image reference labels, as a hostile image would.
     */
    private static void pushForged(RegistryClient client, ImageReference target)
            throws IOException {
        List<Descriptor> layers = new ArrayList<>();
        for (Descriptor layer : soloManifest.layers()) {
            Map<String, String> annotations = new LinkedHashMap<>(layer.annotations());
            annotations.put(SnapshotLabels.CRI_IMAGE_REF, UNRESOLVABLE);
            annotations.put(SnapshotLabels.STARGZ_IMAGE_REF, FOREIGN);
            layers.add(layer.withAnnotations(annotations));
        }
        Manifest manifest = new Manifest(2, soloManifest.mediaType(), null,
                soloManifest.config(), layers, null, soloManifest.annotations(), Map.of());
        client.putManifest(target, ManifestContent.of(manifest));
    }

    /** Pushes the solo Nydus image with a bootstrap layer that contains no image.boot. */
    private static void pushWithoutBootstrapFile(RegistryClient client, ImageReference target)
            throws IOException {
        Path content = Files.createDirectories(dir.resolve("broken/image"));
        Files.writeString(content.resolve("readme"), "no bootstrap here\n");
        pushBootstrapLayer(client, target, content);
    }

    /** Pushes the solo Nydus image with an image.boot that is not a RAFS bootstrap. */
    private static void pushCorruptBootstrap(RegistryClient client, ImageReference target)
            throws IOException {
        Path content = Files.createDirectories(dir.resolve("corrupt/image"));
        Files.write(content.resolve("image.boot"), new byte[8192]);
        pushBootstrapLayer(client, target, content);
    }

    /**
     * Pushes the solo Nydus image with its image.boot and an extra file in the bootstrap
     * layer, so that the layer's chain differs from the solo image's while its data layers
     * are the same.
     */
    private static void pushRepackedBootstrap(RegistryClient client, ImageReference target)
            throws IOException {
        Path layer = dir.resolve("solo-bootstrap.tar.gz");
        try (var in = client.getBlob(target.toRepository(),
                soloManifest.layers().getLast().digest())) {
            Files.write(layer, in.readAllBytes());
        }
        Path content = Files.createDirectories(dir.resolve("repacked"));
        SeedImage.run("tar", "-C", content.toString(), "-xzf", layer.toString());
        Files.writeString(content.resolve("image/readme"), "repacked\n");
        pushBootstrapLayer(client, target, content.resolve("image"));
    }

    /**
     * Pushes the solo Nydus image with a bootstrap layer made of the directory {@code image},
     * and a config whose last diff id matches that layer, so that containerd unpacks it.
     */
    private static void pushBootstrapLayer(RegistryClient client, ImageReference target,
            Path image) throws IOException {
        Path tar = Path.of(image.getParent() + ".tar");
        SeedImage.run("tar", "--format=gnu", "-C", image.getParent().toString(), "-cf",
                tar.toString(), "image");
        SeedImage.run("gzip", "-n", "-k", tar.toString());
        Path gzip = Path.of(tar + ".gz");
        Repository repository = target.toRepository();
        Digest layerDigest = SeedImage.sha256(gzip);
        client.pushBlob(repository, layerDigest, Files.size(gzip), BlobSource.of(gzip));
        Descriptor bootstrap = soloManifest.layers().getLast();
        Descriptor layer = Descriptor.of(bootstrap.mediaType(), layerDigest, Files.size(gzip))
                .withAnnotations(bootstrap.annotations());

        ObjectNode config;
        try (var in = client.getBlob(repository, soloManifest.config().digest())) {
            config = (ObjectNode) new ObjectMapper().readTree(in.readAllBytes());
        }
        ArrayNode diffIds = (ArrayNode) config.path("rootfs").path("diff_ids");
        diffIds.set(diffIds.size() - 1, SeedImage.sha256(tar).toString());
        byte[] configBytes = new ObjectMapper().writeValueAsBytes(config);
        Digest configDigest = Digest.of(configBytes);
        client.pushBlob(repository, configDigest, configBytes.length, BlobSource.of(configBytes));

        List<Descriptor> layers = new ArrayList<>(dataLayers(soloManifest));
        layers.add(layer);
        Manifest manifest = new Manifest(2, soloManifest.mediaType(), null,
                Descriptor.of(soloManifest.config().mediaType(), configDigest,
                        configBytes.length), layers, null, soloManifest.annotations(), Map.of());
        client.putManifest(target, ManifestContent.of(manifest));
    }

    private static List<Descriptor> dataLayers(Manifest manifest) {
        return manifest.layers().subList(0, manifest.layers().size() - 1);
    }

    private static ImageReference ref(String host, String nameAndTag) {
        return ImageReference.parse(host + "/library/" + nameAndTag);
    }
}
