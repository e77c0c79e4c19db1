package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The snapshotter started with the options of upstream's command line, as a node's existing
 * systemd unit or DaemonSet passes them, which must keep working when the snapshotter is
 * swapped for this one.
 */
class UpstreamCommandLineTest {
    private static final String K8S = "k8s.io";

    private static TempDir dir;
    private static RegistryServer registry;
    private static Node node;
    private static SeedImage seed;
    private static String image;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("upstream-command-line");
        registry = RegistryServer.start(dir);
        seed = Node.pushOneLayerNydusImage(registry, dir.path());
        image = registry.address() + "/library/one:nydus";
        node = Node.start(registry.address(), "");
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, registry);
    }

    /**
     * Restarts the snapshotter with upstream's options for the nydusd executable, its config
     * and the daemon mode, plus {@code --log-to-stdout} as upstream's README passes it, which
     * sends nydusd's log to the snapshotter's output, and runs a container through it.
     */
    @Test
    void upstreamOptionsSelectDaemonAndMode() throws Exception {
        Path marker = node.dir.resolve("nydusd-started");
        Path nydusd = node.dir.resolve("nydusd-marking");
        Files.writeString(nydusd, "#!/bin/sh\ntouch '" + marker + "'\nexec '"
                + node.dir.resolve("nydusd") + "' \"$@\"\n");
        assertTrue(nydusd.toFile().setExecutable(true));
        // The image's snapshots let the restart wait until containerd reaches the snapshotter
        // again, as it waits by asking for their usage.
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        node.snapshotter.terminate();

        node.restartSnapshotter(List.of("--nydusd-config",
                node.dir.resolve("nydusd-config.json").toString(), "--log-to-stdout",
                "--nydusd", nydusd.toString(), "--daemon-mode", "multiple", "--fs-driver",
                "fusedev"));
        String read = ContainerdServer.output(node.containerd.run(K8S, "--rm",
                "--snapshotter", "nydus", image, "upstream-flags", "/bin/busybox", "sha256sum",
                "/etc/app.conf"));

        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
        assertTrue(read.contains(appConf), read);
        assertTrue(Files.exists(marker), "nydusd did not start from " + nydusd);
        assertTrue(node.snapshotter.log().contains("daemon mode multiple"),
                node.snapshotter.log());
        // nydusd's own line for the mount reaches the snapshotter's output.
        assertTrue(node.snapshotter.log().contains("inodes, backend"), node.snapshotter.log());
    }

    /** Checks that a file system driver other than FUSE is rejected with its name. */
    @Test
    void fsDriverOtherThanFusedevIsRejected() throws Exception {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                io.nydus.cli.Snapshotter.class.getName(), "--config",
                node.dir.resolve("config.toml").toString(), "--fs-driver", "fscache"));

        CommandResult result = Commands.runAllowingFailure(command, Duration.ofSeconds(60),
                new byte[0]);

        assertEquals(2, result.exitCode(), result.stderrText());
        assertTrue(result.stderrText().contains("--fs-driver fscache is not supported"),
                result.stderrText());
    }
}
