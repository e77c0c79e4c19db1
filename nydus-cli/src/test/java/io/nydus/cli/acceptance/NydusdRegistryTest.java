package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.nydus.cli.Cli;
import io.nydus.cli.Nydusify;
import io.nydus.nydusify.MountSource;
import io.nydus.nydusify.SeedImage;
import io.nydus.posix.BytePath;
import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.TransportMode;
import io.nydus.rafs.tree.Chunk;
import io.nydus.posix.FileType;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.RealImages;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The Debian image converted into a registry with the project's nydusify and mounted by the
 * daemon: the mounted tree, what the registry serves (counted from its access log), prefetch,
 * faults and concurrent readers.
 */
class NydusdRegistryTest {
    private static final long WAIT_MILLIS = 180_000;

    private static RealImages images;
    private static TempDir temp;
    private static RegistryServer registry;
    private static TempDir registryDir;
    private static MountSource source;
    private static DecodedBootstrap image;
    private static TreeSnapshot expected;
    private static final AtomicInteger MOUNTS = new AtomicInteger();

    @BeforeAll
    static void convert() throws Exception {
        images = RealImages.get();
        temp = TempDirs.create("nydusd-registry-");
        registryDir = TempDirs.create("nydusd-registry-store-");
        registry = RegistryServer.startWithAccessLog(registryDir);
        String oci = registry.address() + "/real/debian:v1";
        images.push(RealImages.DEBIAN, "docker://" + oci, "--dest-tls-verify=false");
        String nydus = registry.address() + "/real/debian:v1-nydus";
        assertEquals(0, Cli.run(new Nydusify(), "convert", "--plain-http", "--source", oci,
                "--target", nydus, "--work-dir", temp.resolve("convert").toString(),
                "--log-level", "warn"));
        source = DaemonMount.fetch(nydus, CredentialProvider.anonymous(),
                temp.resolve("bootstrap"));
        image = BootstrapReader.decode(source.bootstrap());
        expected = TreeSnapshot.capture(images.unpacked(RealImages.DEBIAN));
    }

    @AfterAll
    static void stop() throws IOException {
        if (registry != null) {
            registry.close();
        }
        if (temp != null) {
            temp.close();
        }
        if (registryDir != null) {
            registryDir.close();
        }
    }

    /** Mounts the image with a fresh cache. */
    private static DaemonMount mountFresh(
            java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> tune)
            throws IOException {
        int n = MOUNTS.incrementAndGet();
        return DaemonMount.mount(source, temp.resolve("cache-" + n), temp.resolve("mnt-" + n),
                tune);
    }

    private static TreeComparator.Options umociOptions() {
        // umoci drops a PAX xattr record whose value is empty, so the unpacked tree lacks it.
        return TreeComparator.Options.defaults().ignoringRootMtime().ignoringXattr("user.empty");
    }

    private static void dropCaches() throws IOException {
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }

    private static List<RegistryServer.AccessLogEntry> blobGets(
            List<RegistryServer.AccessLogEntry> entries) {
        Set<String> blobs = new LinkedHashSet<>();
        for (BlobInfo blob : image.bootstrap().blobs()) {
            blobs.add("/blobs/sha256:" + blob.blobId());
        }
        return entries.stream().filter(e -> e.method().equals("GET"))
                .filter(e -> blobs.stream().anyMatch(e.path()::endsWith)).toList();
    }

    private static long compressedBytes(List<Node> files) {
        Set<Long> seen = new java.util.HashSet<>();
        long bytes = 0;
        for (Node file : files) {
            for (Chunk chunk : file.inode().chunks()) {
                if (seen.add(((long) chunk.blobIndex() << 32) | chunk.index())) {
                    bytes += chunk.compressedSize();
                }
            }
        }
        return bytes;
    }

    private static Node node(String path) {
        Node node = image.bootstrap().root();
        for (String part : path.split("/")) {
            if (!part.isEmpty()) {
                node = node.child(part.getBytes(StandardCharsets.UTF_8));
            }
        }
        return node;
    }

    private static String sha256(byte[] data) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    private static String expectedSha(String path) {
        return expected.entry(path).orElseThrow().sha256().orElseThrow();
    }

    @Test
    void mountedTreeEqualsUmociUnpack() throws Exception {
        try (DaemonMount mount = mountFresh(config -> { })) {
            TreeComparator.assertSameTree(expected, TreeSnapshot.capture(mount.path()),
                    umociOptions());
        }
    }

    @Test
    void everyCaseTreeMountsFromTheRegistry() throws Exception {
        SeedImage seed = new SeedImage(temp.resolve("every-case"));
        Path layer = seed.newLayerDirectory();
        TreeGenerator.createEveryCase(BytePath.of(layer),
                TreeGenerator.Feature.allExcept(TreeGenerator.Feature.SOCKETS));
        seed.addLayer(layer);
        String oci = registry.address() + "/every/case:v1";
        String nydus = registry.address() + "/every/case:v1-nydus";
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).build()) {
            seed.push(client, ImageReference.parse(oci));
        }
        assertEquals(0, Cli.run(new Nydusify(), "convert", "--plain-http", "--source", oci,
                "--target", nydus, "--work-dir", temp.resolve("convert").toString(),
                "--log-level", "warn"));
        MountSource everyCase = DaemonMount.fetch(nydus, CredentialProvider.anonymous(),
                temp.resolve("bootstrap-every-case"));
        try (DaemonMount mount = DaemonMount.mount(everyCase, temp.resolve("cache-every-case"),
                temp.resolve("mnt-every-case"), config -> { })) {
            TreeComparator.assertSameTree(BytePath.of(seed.expected()),
                    BytePath.of(mount.path()), TreeComparator.Options.defaults()
                            .ignoringRootMtime());
        }
    }

    @Test
    void readingTwoFilesFetchesOnlyTheirChunks() throws Exception {
        int before = registry.accessLog().size();
        MountSource fresh = DaemonMount.fetch(registry.address() + "/real/debian:v1-nydus",
                CredentialProvider.anonymous(), temp.resolve("bootstrap-lazy"));
        try (DaemonMount mount = DaemonMount.mount(fresh, temp.resolve("cache-lazy"),
                temp.resolve("mnt-lazy"), config -> { })) {
            byte[] bash = Files.readAllBytes(mount.path().resolve("usr/bin/bash"));
            byte[] osRelease = Files.readAllBytes(mount.path().resolve("etc/os-release"));
            assertEquals(expectedSha("usr/bin/bash"), sha256(bash));
            assertEquals(expectedSha("usr/lib/os-release"), sha256(osRelease));
        }
        List<RegistryServer.AccessLogEntry> served = registry.accessLog();
        served = served.subList(before, served.size());
        long dataBytes = blobGets(served).stream().mapToLong(e -> e.bytes()).sum();
        long expectedBytes = compressedBytes(List.of(node("usr/bin/bash"),
                node("usr/lib/os-release")));
        assertEquals(expectedBytes, dataBytes, "blob bytes served: " + blobGets(served));
        for (RegistryServer.AccessLogEntry entry : served) {
            boolean manifest = entry.path().contains("/manifests/");
            boolean dataBlob = blobGets(List.of(entry)).size() == 1;
            boolean bootstrapLayer =
                    entry.path().endsWith(source.bootstrapLayer().digest().toString());
            boolean probe = entry.method().equals("HEAD") || entry.path().equals("/v2/");
            assertTrue(manifest || dataBlob || bootstrapLayer || probe,
                    "unexpected request " + entry);
        }
    }

    @Test
    void prefetchAllFetchesEverythingInTheBackground() throws Exception {
        try (DaemonMount mount = mountFresh(config -> config.putObject("fs_prefetch")
                .put("enable", true).put("prefetch_all", true).put("threads_count", 2)
                .put("bandwidth_rate", 16 << 20))) {
            byte[] bash = Files.readAllBytes(mount.path().resolve("usr/bin/bash"));
            assertEquals(expectedSha("usr/bin/bash"), sha256(bash));
            long deadline = System.currentTimeMillis() + WAIT_MILLIS;
            while (!Boolean.TRUE.equals(mount.cacheMetrics().get("data_all_ready"))) {
                assertTrue(System.currentTimeMillis() < deadline, "prefetch did not finish: "
                        + mount.cacheMetrics());
                Thread.sleep(100);
            }
            int before = registry.accessLog().size();
            dropCaches();
            TreeComparator.assertSameTree(expected, TreeSnapshot.capture(mount.path()),
                    umociOptions());
            List<RegistryServer.AccessLogEntry> after = registry.accessLog();
            assertEquals(List.of(), blobGets(after.subList(before, after.size())));
        }
    }

    @Test
    void stoppedRegistryGivesEioUntilItIsBack() throws Exception {
        try (DaemonMount mount = mountFresh(config -> ((com.fasterxml.jackson.databind.node
                .ObjectNode) config.path("device").path("backend").path("config"))
                .put("retry_limit", 1).put("timeout", 2).put("connect_timeout", 2))) {
            Path cached = mount.path().resolve("usr/bin/bash");
            Path missing = mount.path().resolve("usr/bin/apt-get");
            Files.readAllBytes(cached);
            registry.stop();
            try {
                dropCaches();
                IOException e = assertThrows(IOException.class,
                        () -> Files.readAllBytes(missing));
                assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"),
                        e.toString());
                assertEquals(expectedSha("usr/bin/bash"), sha256(Files.readAllBytes(cached)));
            } finally {
                registry.restart();
            }
            assertEquals(expectedSha("usr/bin/apt-get"), sha256(Files.readAllBytes(missing)));
        }
    }

    @Test
    void stalledRegistryGivesEio() throws Exception {
        try (ForwardingProxy front = ForwardingProxy.start("http://" + registry.address());
                DaemonMount mount = mountFresh(config -> ((com.fasterxml.jackson.databind.node
                        .ObjectNode) config.path("device").path("backend").path("config"))
                        .put("host", front.address()).put("retry_limit", 1).put("timeout", 2))) {
            Path file = mount.path().resolve("usr/bin/apt-get");
            front.stallBodiesAfter(100);

            IOException e = assertThrows(IOException.class, () -> Files.readAllBytes(file));

            assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"),
                    e.toString());
        }
    }

    @Test
    void corruptChunkGivesEioAndNamesIt() throws Exception {
        Node file = node("usr/bin/dpkg");
        Chunk chunk = file.inode().chunks().getFirst();
        BlobInfo blob = image.bootstrap().blobs().get(chunk.blobIndex());
        Path stored = registry.blobFile(io.nydus.registry.Digest.parse("sha256:"
                + blob.blobId()));
        long at = chunk.compressedOffset() + chunk.compressedSize() / 2;
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        root.addAppender(logs);
        flip(stored, at);
        try (DaemonMount mount = mountFresh(config -> { })) {
            IOException e = assertThrows(IOException.class,
                    () -> Files.readAllBytes(mount.path().resolve("usr/bin/dpkg")));
            assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"),
                    e.toString());
        } finally {
            flip(stored, at);
            root.detachAppender(logs);
        }
        String chunkIndex = "chunk " + chunk.index();
        assertTrue(logs.list.stream().anyMatch(event -> event.getLevel().toString()
                .equals("ERROR") && event.getFormattedMessage().contains(blob.blobId())
                && event.getFormattedMessage().contains(chunkIndex)),
                "no error log names blob " + blob.blobId() + " and " + chunkIndex);
    }

    @Test
    void corruptBlobChunkTableGivesEioAndNamesIt() throws Exception {
        Chunk chunk = node("usr/bin/ls").inode().chunks().getFirst();
        BlobInfo blob = image.bootstrap().blobs().get(chunk.blobIndex());
        Path stored = registry.blobFile(io.nydus.registry.Digest.parse("sha256:"
                + blob.blobId()));
        long at = blob.ciOffset() + blob.ciCompressedSize() / 2;
        // A bootstrap layer without chunk tables, as older converters write it, makes the
        // daemon fetch the blob's own.
        MountSource withoutTables = new MountSource(source.bootstrap(), List.of(),
                source.backend(), source.blobs(), source.bootstrapLayer(), source.description());
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        root.addAppender(logs);
        flip(stored, at);
        int n = MOUNTS.incrementAndGet();
        try (DaemonMount mount = DaemonMount.mount(withoutTables, temp.resolve("cache-" + n),
                temp.resolve("mnt-" + n), config -> { })) {
            IOException e = assertThrows(IOException.class,
                    () -> Files.readAllBytes(mount.path().resolve("usr/bin/ls")));
            assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"),
                    e.toString());
        } finally {
            flip(stored, at);
            root.detachAppender(logs);
        }
        String named = "blob " + blob.blobId() + " chunk " + chunk.index();
        assertTrue(logs.list.stream().anyMatch(event -> event.getLevel().toString()
                .equals("ERROR") && event.getFormattedMessage().contains(named)
                && event.getFormattedMessage().contains("chunk table")),
                "no error log names " + named + " and its chunk table");
    }

    private static void flip(Path file, long offset) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(offset);
            int value = raf.read();
            raf.seek(offset);
            raf.write(value ^ 0xff);
        }
    }

    @Test
    void concurrentReadersFetchEachChunkOnce() throws Exception {
        List<String> paths = new ArrayList<>();
        for (TreeSnapshot.Entry entry : expected.entries()) {
            if (entry.type() == FileType.REGULAR && entry.size() > 0 && paths.size() < 1000) {
                paths.add(new String(entry.path().bytes(), StandardCharsets.UTF_8));
            }
        }
        assertEquals(1000, paths.size());
        int before = registry.accessLog().size();
        try (DaemonMount mount = mountFresh(config -> { })) {
            ExecutorService readers = Executors.newFixedThreadPool(32);
            List<Future<Integer>> results = new ArrayList<>();
            for (int reader = 0; reader < 32; reader++) {
                List<String> order = new ArrayList<>(paths);
                Collections.shuffle(order, new Random(reader));
                results.add(readers.submit(() -> readAll(mount.path(), order)));
            }
            for (Future<Integer> result : results) {
                assertEquals(1000, result.get());
            }
            readers.shutdown();
        }
        List<RegistryServer.AccessLogEntry> served = registry.accessLog();
        long dataBytes = blobGets(served.subList(before, served.size())).stream()
                .mapToLong(e -> e.bytes()).sum();
        List<Node> files = paths.stream().map(NydusdRegistryTest::node).toList();
        assertEquals(compressedBytes(files), dataBytes);
    }

    private static int readAll(Path root, List<String> paths) throws Exception {
        int good = 0;
        for (String path : paths) {
            if (sha256(Files.readAllBytes(root.resolve(path))).equals(expectedSha(path))) {
                good++;
            }
        }
        return good;
    }
}
