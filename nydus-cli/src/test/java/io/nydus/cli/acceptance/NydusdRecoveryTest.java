package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.cli.Cli;
import io.nydus.cli.Nydusify;
import io.nydus.nydusify.MountSource;
import io.nydus.nydusify.SeedImage;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TokenService;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.RealImages;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The daemon as a process of its own, killed with SIGKILL during prefetch and restarted on the
 * same cache, and a mount whose registry tokens expire while it reads.
 */
class NydusdRecoveryTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long WAIT_MILLIS = 120_000;
    private static final String USER = "reader";
    private static final String PASSWORD = "s3cret-pass";

    private static TempDir temp;
    private static RegistryServer registry;
    private static TempDir registryDir;
    private static MountSource source;
    private static RealImages images;

    @BeforeAll
    static void convert() throws Exception {
        images = RealImages.get();
        temp = TempDirs.create("nydusd-recovery-");
        Files.setPosixFilePermissions(temp.path(),
                java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        registryDir = TempDirs.create("nydusd-recovery-store-");
        registry = RegistryServer.start(registryDir);
        String oci = registry.address() + "/real/debian:v1";
        images.push(RealImages.DEBIAN, "docker://" + oci, "--dest-tls-verify=false");
        String nydus = registry.address() + "/real/debian:v1-nydus";
        assertEquals(0, Cli.run(new Nydusify(), "convert", "--plain-http", "--source", oci,
                "--target", nydus, "--work-dir", temp.resolve("convert").toString(),
                "--log-level", "warn"));
        source = DaemonMount.fetch(nydus, CredentialProvider.anonymous(),
                temp.resolve("bootstrap"));
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

    private static Process startDaemon(Path config, Path mountpoint, Path socket, Path log)
            throws IOException {
        return NydusdProcess.start(config, source.bootstrap(), mountpoint, socket, log);
    }

    private static void awaitMount(Process daemon, Path mountpoint, Path log) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MILLIS;
        while (!TempDirs.isMountPoint(mountpoint)) {
            assertTrue(daemon.isAlive(), "nydusd exited: " + Files.readString(log));
            assertTrue(System.currentTimeMillis() < deadline, "nydusd did not mount");
            Thread.sleep(50);
        }
    }

    private static JsonNode get(Path socket, String target) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            Channels.newOutputStream(channel).write(("GET " + target + " HTTP/1.1\r\n"
                    + "Host: localhost\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            String response = new String(Channels.newInputStream(channel).readAllBytes(),
                    StandardCharsets.UTF_8);
            return JSON.readTree(response.substring(response.indexOf("\r\n\r\n") + 4));
        }
    }

    private static Path config(String name, boolean prefetch) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode device = root.putObject("device");
        device.set("backend", source.backend().deepCopy());
        ObjectNode cache = device.putObject("cache");
        cache.put("type", "blobcache");
        cache.putObject("config").put("work_dir", temp.resolve("cache-" + name).toString());
        root.put("mode", "direct");
        root.putObject("fs_prefetch").put("enable", prefetch).put("prefetch_all", prefetch)
                .put("threads_count", 2).put("bandwidth_rate", 8 << 20);
        Path file = temp.resolve(name + "-" + prefetch + ".json");
        Files.writeString(file, root.toString());
        return file;
    }

    @Test
    void killDuringPrefetchThenRestartServesRightData() throws Exception {
        Path mountpoint = Files.createDirectories(temp.resolve("mnt-kill"));
        Path socket = temp.resolve("kill.sock");
        Path log = temp.resolve("kill.log");
        Process first = startDaemon(config("kill", true), mountpoint, socket, log);
        try {
            awaitMount(first, mountpoint, log);
            NydusdProcess.awaitSocket(first, socket, log);
            long deadline = System.currentTimeMillis() + WAIT_MILLIS;
            while (get(socket, "/api/v1/metrics/blobcache").path("prefetch_data_amount")
                    .asLong() == 0) {
                assertTrue(System.currentTimeMillis() < deadline, "prefetch did not start");
                Thread.sleep(50);
            }
            assertTrue(!get(socket, "/api/v1/metrics/blobcache").path("data_all_ready")
                    .asBoolean(), "prefetch finished before the kill");
        } finally {
            first.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        // The dead mount is still a mount point, so the restarted daemon is up once its own
        // API socket, opened after its FUSE mount, is there.
        Path secondSocket = temp.resolve("kill-again.sock");
        Process second = startDaemon(config("kill", false), mountpoint, secondSocket, log);
        try {
            NydusdProcess.awaitSocket(second, secondSocket, log);
            assertTrue(Files.readString(log).contains("is the mount of a daemon that is gone"),
                    "the restarted daemon did not detach the dead mount: "
                            + Files.readString(log));
            TreeComparator.assertSameTree(TreeSnapshot.capture(images.unpacked(
                    RealImages.DEBIAN)), TreeSnapshot.capture(mountpoint),
                    TreeComparator.Options.defaults().ignoringRootMtime()
                            .ignoringXattr("user.empty"));
        } finally {
            Commands.run(List.of("umount", mountpoint.toString()), Duration.ofSeconds(60));
            assertTrue(second.waitFor(60, TimeUnit.SECONDS), "nydusd did not exit: "
                    + Files.readString(log) + threadDump(second));
        }
        assertEquals(0, second.exitValue(), Files.readString(log));
    }

    private static String threadDump(Process process) throws IOException {
        CommandResultHolder dump = new CommandResultHolder(Commands.runAllowingFailure(List.of(
                Path.of(System.getProperty("java.home"), "bin", "jstack").toString(),
                Long.toString(process.pid())), Duration.ofSeconds(30), new byte[0]));
        return dump.text();
    }

    private record CommandResultHolder(io.nydus.testkit.CommandResult result) {
        String text() {
            return "\n--- threads\n" + result.stdoutText();
        }
    }

    @Test
    void expiringTokensAreRefreshedWhileReading() throws Exception {
        try (TempDir dir = TempDirs.create("nydusd-token-");
                TempDir store = TempDirs.create("nydusd-token-store-");
                TokenService tokens = TokenService.start(dir.path(), USER, PASSWORD);
                RegistryServer tokenRegistry = RegistryServer.start(store, "",
                        tokens.authSection())) {
            CredentialProvider credentials = CredentialProvider.of(Map.of(
                    tokenRegistry.address(), new Credentials(USER, PASSWORD)));
            SeedImage seed = SeedImage.threeLayers(dir.resolve("seed"));
            String oci = tokenRegistry.address() + "/private/app:v1";
            String nydus = tokenRegistry.address() + "/private/app:v1-nydus";
            try (RegistryClient client = RegistryClient.builder()
                    .transportMode(TransportMode.PLAIN_HTTP).credentials(credentials).build()) {
                seed.push(client, ImageReference.parse(oci));
                new io.nydus.nydusify.Converter(client, client).convert(
                        io.nydus.nydusify.ConvertOptions.defaults(ImageReference.parse(oci),
                                ImageReference.parse(nydus)).withWorkDir(dir.resolve("work"))
                                .withPlatform(io.nydus.nydusify.PlatformSpec.parse(
                                        "linux/amd64")));
            }
            MountSource secured = DaemonMount.fetch(nydus, credentials, dir.resolve("boot"));
            tokens.expiresIn(3);
            int issuedBefore = tokens.requests();
            try (DaemonMount mount = DaemonMount.mount(secured, dir.resolve("cache"),
                    dir.resolve("mnt"), config -> { })) {
                List<Path> files = new ArrayList<>();
                try (var walk = Files.walk(seed.expected())) {
                    // Distinct files with data, so that each read fetches from the registry.
                    walk.filter(file -> Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS))
                            .filter(file -> !file.toString().endsWith("-hard"))
                            .filter(file -> file.toFile().length() > 0).sorted().limit(3)
                            .forEach(files::add);
                }
                for (Path file : files) {
                    Path relative = seed.expected().relativize(file);
                    assertEquals(Files.readString(file, StandardCharsets.ISO_8859_1),
                            Files.readString(mount.path().resolve(relative.toString()),
                                    StandardCharsets.ISO_8859_1), relative.toString());
                    // Each read comes after the previous token expired.
                    Thread.sleep(3500);
                }
                assertEquals(3, files.size(), "files " + files);
            }
            // One token for the first read, and a new one after each expiry.
            assertEquals(3, tokens.requests() - issuedBefore);
        }
    }
}
