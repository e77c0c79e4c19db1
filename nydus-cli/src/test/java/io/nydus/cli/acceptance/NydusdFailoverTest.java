package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.MountSource;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.posix.UnixSockets;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.SupervisorSockets;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A daemon that hands its FUSE mount to a supervisor, which this test plays with the project's
 * own socket calls, and a successor started with {@code --upgrade} that takes the mount over:
 * after a SIGKILL in the middle of a read, and after an exit for an upgrade.
 */
class NydusdFailoverTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long WAIT_MILLIS = 120_000;
    /**
     * Runs the supervisor's side and the blocked read. The common pool has one thread on two
     * cores, so a read that waits for the takeover would hold back the supervisor.
     */
    private static final ExecutorService THREADS = Executors.newCachedThreadPool(
            Thread.ofPlatform().daemon().factory());

    private static TempDir temp;
    private static TempDir store;
    private static RegistryServer registry;
    private static ForwardingProxy proxy;
    private static SeedImage seed;
    private static MountSource source;

    @BeforeAll
    static void convert() throws Exception {
        temp = TempDirs.create("nydusd-failover-");
        Files.setPosixFilePermissions(temp.path(),
                java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        store = TempDirs.create("nydusd-failover-store-");
        registry = RegistryServer.start(store);
        proxy = ForwardingProxy.start("http://" + registry.address());
        seed = SeedImage.threeLayers(temp.resolve("seed"));
        String oci = registry.address() + "/failover/app:v1";
        String nydus = registry.address() + "/failover/app:v1-nydus";
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).build()) {
            seed.push(client, ImageReference.parse(oci));
            new Converter(client, client).convert(ConvertOptions.defaults(
                    ImageReference.parse(oci), ImageReference.parse(nydus))
                    .withWorkDir(temp.resolve("work"))
                    .withPlatform(PlatformSpec.parse("linux/amd64")));
        }
        source = DaemonMount.fetch(nydus, CredentialProvider.anonymous(),
                temp.resolve("bootstrap"));
    }

    @AfterAll
    static void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (registry != null) {
            registry.close();
        }
        if (temp != null) {
            temp.close();
        }
        if (store != null) {
            store.close();
        }
    }

    @Test
    void killedDaemonTakeoverFinishesRead() throws Exception {
        Path dir = Files.createDirectories(temp.resolve("kill"));
        Path mountpoint = Files.createDirectories(dir.resolve("mnt"));
        Path supervisor = dir.resolve("supervisor.sock");
        Path log = dir.resolve("nydusd.log");
        Path file = largestFile();
        Path config = config(dir, "cache");
        CompletableFuture<UnixSockets.Message> states = receiveStates(supervisor);
        Process first = startDaemon(config, mountpoint, dir.resolve("first.sock"), supervisor,
                log, false);
        Process second = null;
        UnixSockets.Message handed = null;
        try {
            NydusdProcess.awaitSocket(first, dir.resolve("first.sock"), log);
            assertEquals(204, put(dir.resolve("first.sock"), "/api/v1/daemon/fuse/sendfd"));
            handed = states.get(WAIT_MILLIS, TimeUnit.MILLISECONDS);
            assertEquals(1, handed.descriptors().size());

            int before = proxy.requests().size();
            proxy.holdNext("GET");
            CompletableFuture<byte[]> read = CompletableFuture.supplyAsync(() ->
                    readAll(mountpoint.resolve(seed.expected().relativize(file).toString())),
                    THREADS);
            awaitRequestAfter(before);
            first.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            proxy.release();
            assertTrue(!read.isDone(), "the read ended before the takeover");

            CompletableFuture<Void> served = serveStates(supervisor, handed);
            Path secondSocket = dir.resolve("second.sock");
            second = startDaemon(config, mountpoint, secondSocket, supervisor, log, true);
            NydusdProcess.awaitSocket(second, secondSocket, log);
            assertEquals("INIT", state(secondSocket));
            assertEquals(204, put(secondSocket, "/api/v1/daemon/fuse/takeover"));
            served.get(WAIT_MILLIS, TimeUnit.MILLISECONDS);
            assertEquals("READY", state(secondSocket));
            assertEquals(204, put(secondSocket, "/api/v1/daemon/start"));
            assertEquals("RUNNING", state(secondSocket));

            assertArrayEquals(Files.readAllBytes(file),
                    read.get(WAIT_MILLIS, TimeUnit.MILLISECONDS), "the read left by the kill");
            assertSameFiles(mountpoint);
        } finally {
            first.destroyForcibly();
            proxy.release();
            try {
                unmountAndStop(mountpoint, second, log);
            } finally {
                if (handed != null) {
                    handed.closeDescriptors();
                }
            }
        }
    }

    @Test
    void exitAfterSendfdKeepsMount() throws Exception {
        Path dir = Files.createDirectories(temp.resolve("upgrade"));
        Path mountpoint = Files.createDirectories(dir.resolve("mnt"));
        Path supervisor = dir.resolve("supervisor.sock");
        Path log = dir.resolve("nydusd.log");
        Path config = config(dir, "cache");
        CompletableFuture<UnixSockets.Message> states = receiveStates(supervisor);
        Path firstSocket = dir.resolve("first.sock");
        Process first = startDaemon(config, mountpoint, firstSocket, supervisor, log, false);
        Process second = null;
        UnixSockets.Message handed = null;
        try {
            NydusdProcess.awaitSocket(first, firstSocket, log);
            Response set = exchange(firstSocket, "PUT", "/api/v1/config",
                    "{\"registry_auth\": \"dXNlcjpwYXNz\"}");
            assertEquals(204, set.status(), set.body());
            assertEquals(204, put(firstSocket, "/api/v1/daemon/fuse/sendfd"));
            handed = states.get(WAIT_MILLIS, TimeUnit.MILLISECONDS);
            assertEquals(204, put(firstSocket, "/api/v1/daemon/exit"));
            assertTrue(first.waitFor(60, TimeUnit.SECONDS), "nydusd did not exit");
            assertEquals(0, first.exitValue(), Files.readString(log));
            assertTrue(TempDirs.isMountPoint(mountpoint), "the exit removed the mount");

            CompletableFuture<Void> served = serveStates(supervisor, handed);
            Path secondSocket = dir.resolve("second.sock");
            second = startDaemon(config, mountpoint, secondSocket, supervisor, log, true);
            NydusdProcess.awaitSocket(second, secondSocket, log);
            assertEquals(204, put(secondSocket, "/api/v1/daemon/fuse/takeover"));
            served.get(WAIT_MILLIS, TimeUnit.MILLISECONDS);
            assertEquals(204, put(secondSocket, "/api/v1/daemon/start"));
            assertSameFiles(mountpoint);
            assertEquals("{\"/:registry_auth\":\"<set>\"}",
                    exchange(secondSocket, "GET", "/api/v1/config", "").body().strip());
            assertTrue(Files.readString(log).contains("the mount stays for a successor"),
                    Files.readString(log));
        } finally {
            first.destroyForcibly();
            try {
                unmountAndStop(mountpoint, second, log);
            } finally {
                if (handed != null) {
                    handed.closeDescriptors();
                }
            }
        }
    }

    /** Writes the daemon's configuration, which reads the registry through the test's proxy. */
    private static Path config(Path dir, String cacheName) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode device = root.putObject("device");
        ObjectNode backend = source.backend().deepCopy();
        ((ObjectNode) backend.path("config")).put("host", proxy.address());
        device.set("backend", backend);
        Path cache = dir.resolve(cacheName);
        source.installBlobMetas(cache);
        ObjectNode cacheNode = device.putObject("cache");
        cacheNode.put("type", "blobcache");
        cacheNode.putObject("config").put("work_dir", cache.toString());
        root.put("mode", "direct");
        root.put("amplify_io", 0);
        root.putObject("fs_prefetch").put("enable", false);
        Path file = dir.resolve("config.json");
        Files.writeString(file, root.toString());
        return file;
    }

    private static Process startDaemon(Path config, Path mountpoint, Path socket,
            Path supervisor, Path log, boolean upgrade) throws IOException {
        String[] handover = upgrade
                ? new String[] {"--supervisor", supervisor.toString(), "--upgrade"}
                : new String[] {"--supervisor", supervisor.toString()};
        return NydusdProcess.start(config, source.bootstrap(), mountpoint, socket, log, handover);
    }

    /** Listens as the supervisor and returns what the daemon sends on its next connection. */
    private static CompletableFuture<UnixSockets.Message> receiveStates(Path supervisor)
            throws IOException {
        return SupervisorSockets.receiveStates(supervisor, Duration.ofMinutes(2), THREADS);
    }

    /** Listens as the supervisor and sends {@code handed} to the next daemon that connects. */
    private static CompletableFuture<Void> serveStates(Path supervisor,
            UnixSockets.Message handed) throws IOException {
        return SupervisorSockets.serveStates(supervisor, handed, Duration.ofMinutes(2), THREADS);
    }

    private static Path largestFile() throws IOException {
        try (var walk = Files.walk(seed.expected())) {
            return walk.filter(file -> Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS))
                    .max(Comparator.comparingLong(file -> file.toFile().length()))
                    .orElseThrow();
        }
    }

    private static byte[] readAll(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void awaitRequestAfter(int count) throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MILLIS;
        while (proxy.requests().size() <= count) {
            assertTrue(System.currentTimeMillis() < deadline, "the read reached no registry");
            Thread.sleep(20);
        }
    }

    /** Compares every regular file of the seed image with the mount. */
    private static void assertSameFiles(Path mountpoint) throws IOException {
        try (var walk = Files.walk(seed.expected())) {
            for (Path file : walk.filter(f -> Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS))
                    .toList()) {
                String relative = seed.expected().relativize(file).toString();
                assertArrayEquals(Files.readAllBytes(file),
                        Files.readAllBytes(mountpoint.resolve(relative)), relative);
            }
        }
    }

    private static void unmountAndStop(Path mountpoint, Process daemon, Path log)
            throws Exception {
        if (TempDirs.isMountPoint(mountpoint)) {
            Commands.runAllowingFailure(List.of("umount", "-l", mountpoint.toString()),
                    Duration.ofSeconds(60), new byte[0]);
        }
        if (daemon != null) {
            boolean exited = daemon.waitFor(60, TimeUnit.SECONDS);
            if (!exited) {
                daemon.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            }
            assertTrue(exited, "nydusd did not exit after the unmount: "
                    + Files.readString(log));
        }
    }

    private static String state(Path socket) throws IOException {
        JsonNode info = JSON.readTree(exchange(socket, "GET", "/api/v1/daemon", "").body());
        return info.path("state").asText();
    }

    private static int put(Path socket, String target) throws IOException {
        Response response = exchange(socket, "PUT", target, "");
        assertTrue(response.status() == 204, "PUT " + target + ": " + response.status() + " "
                + response.body());
        return response.status();
    }

    private record Response(int status, String body) {
    }

    private static Response exchange(Path socket, String method, String target, String body)
            throws IOException {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            Channels.newOutputStream(channel).write((method + " " + target + " HTTP/1.1\r\n"
                    + "Host: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + content.length + "\r\nConnection: close\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            String response = new String(Channels.newInputStream(channel).readAllBytes(),
                    StandardCharsets.UTF_8);
            int status = Integer.parseInt(response.substring(9, 12));
            return new Response(status, response.substring(response.indexOf("\r\n\r\n") + 4));
        }
    }
}
