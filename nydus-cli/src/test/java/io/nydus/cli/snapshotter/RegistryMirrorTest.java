package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.RegistryServer.AccessLogEntry;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A registry mirror named in a hosts.toml under the snapshotter's mirrors config directory, in
 * containerd's format: nydusd reads the image's blobs from the mirror.
 */
class RegistryMirrorTest {
    private static final String K8S = "k8s.io";

    private static TempDir dir;
    private static TempDir mirrorDir;
    private static RegistryServer registry;
    private static RegistryServer mirror;
    private static Node node;
    private static SeedImage seed;
    private static Path certs;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("registry-mirror");
        mirrorDir = TempDirs.create("registry-mirror-copy");
        registry = RegistryServer.start(dir);
        mirror = RegistryServer.startWithAccessLog(mirrorDir);
        seed = Node.pushOneLayerNydusImage(registry, dir.path());
        Commands.run(List.of("skopeo", "copy", "--src-tls-verify=false",
                "--dest-tls-verify=false", "docker://" + registry.address() + "/library/one:nydus",
                "docker://" + mirror.address() + "/library/one:nydus"), Duration.ofSeconds(120));
        certs = Files.createDirectories(dir.resolve("certs.d"));
        node = Node.start(List.of(registry.address()), "",
                "[remote.mirrors_config]\ndir = \"" + certs + "\"\n");
    }

    @AfterAll
    static void stopNode() throws Exception {
        try {
            Node.closeAll(dir, node, registry, mirror);
        } finally {
            TempDirs.remove(mirrorDir.path());
        }
    }

    /**
     * Pulls the image from the registry, stops the registry, and runs a container that reads
     * a file, whose chunks nydusd can then only get from the mirror. The hosts.toml is written
     * after the snapshotter started, because it is read again for every mount.
     */
    @Test
    void blobsComeFromMirrorOfHostsToml() throws Exception {
        Path hosts = Files.createDirectories(certs.resolve(registry.address()))
                .resolve("hosts.toml");
        Files.writeString(hosts, """
                server = "http://%s"
                [host."http://%s"]
                  capabilities = ["pull", "resolve"]
                """.formatted(registry.address(), mirror.address()));
        String image = registry.address() + "/library/one:nydus";
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        registry.stop();

        String read = ContainerdServer.output(node.containerd.run(K8S, "--rm",
                "--snapshotter", "nydus", image, "from-mirror", "/bin/busybox", "sha256sum",
                "/etc/app.conf"));

        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
        assertTrue(read.contains(appConf), read);
        List<AccessLogEntry> blobReads = mirror.accessLog().stream()
                .filter(entry -> entry.method().equals("GET")
                        && entry.path().contains("/library/one/blobs/sha256:"))
                .toList();
        assertTrue(!blobReads.isEmpty(), "the mirror served no blob: " + mirror.accessLog());
    }
}
