package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.RegistryServer;
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
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A nydusd upgrade through the system API on a node laid out as the install script lays it
 * out: {@code daemon.nydusd_path} is a link in a bin directory to a launcher that finds the
 * rest of its release next to the file that the link resolves to.
 */
class NydusdUpgradeTest {
    private static final String K8S = "k8s.io";
    /** The log line of a daemon that took a mount over, after an upgrade or a crash. */
    private static final String TAKEOVER = "took over the mount at";

    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static SeedImage seed;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("nydusd-upgrade");
        registry = RegistryServer.start(dir);
        seed = Node.pushOneLayerNydusImage(registry, dir.path());
        image = registry.address() + "/library/one:nydus";
        node = Node.start(List.of(registry.address()), Node.SHARED,
                "[system]\nenable = true\naddress = \"%NODE%/system.sock\"\n", List.of(),
                "recover_policy = \"failover\"");
        Path link = Files.createDirectories(node.dir.resolve("usr/local/bin"))
                .resolve("nydusd");
        Files.createSymbolicLink(link, release("v1"));
        node.snapshotter.terminate();
        Path config = node.dir.resolve("config.toml");
        Files.writeString(config, Files.readString(config).replaceFirst(
                "nydusd_path = \"[^\"]*\"", "nydusd_path = \"" + link + "\""));
        node.restartSnapshotter();
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    /**
     * Writes a release of nydusd under {@code opt/NAME}: {@code bin/nydusd} is a launcher that
     * runs {@code lib/nydusd} of its own release, as {@code bin/nydusd} of this project runs
     * the {@code launcher.sh} beside it. Returns the launcher.
     */
    private static Path release(String name) throws IOException {
        Path release = node.dir.resolve("opt").resolve(name);
        Node.writeNydusd(Files.createDirectories(release.resolve("lib")));
        Path launcher = Files.createDirectories(release.resolve("bin")).resolve("nydusd");
        Files.writeString(launcher, "#!/bin/sh\n"
                + "exec \"$(dirname \"$(readlink -f \"$0\")\")/../lib/nydusd\" \"$@\"\n");
        if (!launcher.toFile().setExecutable(true)) {
            throw new IOException("cannot make " + launcher + " executable");
        }
        return launcher;
    }

    /**
     * Upgrades the nydusd of a running container to a new release, then kills it. The
     * daemon that takes its mount over starts from {@code nydusd_path}, which must now run
     * the new release.
     */
    @Test
    void daemonAfterUpgradeStartsFromNydusdPath() throws Exception {
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        ContainerdServer.output(node.containerd.run(K8S, "-d", "--snapshotter", "nydus",
                image, "upgraded", "/bin/busybox", "sleep", "3600"));
        try {
            Path newRelease = release("v2");
            String reply = systemRequest("{\"nydusd_path\": \"" + newRelease + "\"}");
            int takeovers = countOf(node.snapshotter.log(), TAKEOVER);
            List<Long> upgraded = node.nydusdPids();
            ProcessHandle daemon = ProcessHandle.of(upgraded.getFirst()).orElseThrow();
            daemon.destroyForcibly();
            daemon.onExit().get(30, TimeUnit.SECONDS);
            awaitRecovery(takeovers);
            String read = ContainerdServer.output(node.containerd.exec(K8S, "--exec-id",
                    "read", "upgraded", "/bin/busybox", "sha256sum", "/etc/app.conf"));

            assertTrue(reply.endsWith("{\"upgraded\":1}"), reply);
            String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
            assertTrue(read.contains(appConf), read);
            assertEquals(takeovers + 1, countOf(node.snapshotter.log(), TAKEOVER),
                    node.snapshotter.log());
        } finally {
            node.removeContainer(K8S, "upgraded");
        }
    }

    /**
     * Waits until the log shows a takeover more than the {@code takeovers} before the kill,
     * or that the takeover failed.
     */
    private static void awaitRecovery(int takeovers) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            String log = node.snapshotter.log();
            if (countOf(log, TAKEOVER) > takeovers || log.contains("could not be taken over")) {
                return;
            }
            Thread.sleep(100);
        }
    }

    private static int countOf(String text, String part) {
        return text.split(Pattern.quote(part), -1).length - 1;
    }

    /** Sends the upgrade request to the system socket and returns the response. */
    private static String systemRequest(String body) throws IOException {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(node.dir.resolve("system.sock")));
            Channels.newOutputStream(channel).write(("PUT /api/v1/daemons/upgrade HTTP/1.1\r\n"
                    + "Host: localhost\r\nContent-Length: " + content.length
                    + "\r\nConnection: close\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            return new String(Channels.newInputStream(channel).readAllBytes(),
                    StandardCharsets.UTF_8);
        }
    }
}
