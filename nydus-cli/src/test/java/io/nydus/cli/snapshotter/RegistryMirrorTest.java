package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.RegistryServer.AccessLogEntry;
import io.nydus.registry.TestCertificates;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
     * An HTTPS mirror whose certificate a private CA signed, with the CA file next to the
     * hosts.toml as its relative {@code ca}: nydusd must trust that CA for the mirror.
     */
    @Test
    void httpsMirrorTrustsCaOfHostsToml() throws Exception {
        try (TempDir tlsDir = TempDirs.create("registry-mirror-tls")) {
            // An image of its own, so that no chunk of it is in the cache from another test.
            SeedImage tlsSeed = Node.pushOneLayerNydusImage(registry, tlsDir.path(), "tls",
                    layer -> Files.writeString(layer.resolve("etc/tls-only.conf"),
                            "served by the HTTPS mirror\n"));
            Path ca = tlsDir.resolve("ca.pem");
            Path certificate = tlsDir.resolve("server.pem");
            Path key = tlsDir.resolve("server.key");
            TestCertificates.make(tlsDir.path(), ca, key, certificate);
            try (RegistryServer tlsMirror = RegistryServer.startWithTls(tlsDir, certificate,
                    key)) {
                Commands.run(List.of("skopeo", "copy", "--src-tls-verify=false",
                        "--dest-tls-verify=false", "docker://" + registry.address()
                                + "/library/tls:nydus", "docker://" + tlsMirror.address()
                                + "/library/tls:nydus"), Duration.ofSeconds(120));
                Path hostDir = Files.createDirectories(certs.resolve(registry.address()));
                Files.copy(ca, hostDir.resolve("mirror-ca.pem"),
                        StandardCopyOption.REPLACE_EXISTING);
                Files.writeString(hostDir.resolve("hosts.toml"), """
                        server = "http://%s"
                        [host."https://%s"]
                          capabilities = ["pull", "resolve"]
                          ca = "mirror-ca.pem"
                        """.formatted(registry.address(), tlsMirror.address()));

                String read = readWithRegistryStopped("library/tls:nydus", "from-tls-mirror",
                        "/etc/tls-only.conf");

                String expected = SeedImage.sha256(tlsSeed.expected()
                        .resolve("etc/tls-only.conf")).hex();
                assertTrue(read.contains(expected), read);
            }
        }
    }

    /**
     * Pulls the image, stops the registry, and returns what a container that checksums
     * {@code file} of the image printed, so that nydusd can read the file's chunks only from a
     * mirror. The registry runs again afterwards.
     */
    private static String readWithRegistryStopped(String repositoryAndTag, String container,
            String file) throws Exception {
        String image = registry.address() + "/" + repositoryAndTag;
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            cri.pull(image);
        }
        registry.stop();
        try {
            return ContainerdServer.output(node.containerd.run(K8S, "--rm",
                    "--snapshotter", "nydus", image, container, "/bin/busybox", "sha256sum",
                    file));
        } finally {
            registry.restart();
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
        String read = readWithRegistryStopped("library/one:nydus", "from-mirror",
                "/etc/app.conf");

        String appConf = SeedImage.sha256(seed.expected().resolve("etc/app.conf")).hex();
        assertTrue(read.contains(appConf), read);
        List<AccessLogEntry> blobReads = mirror.accessLog().stream()
                .filter(entry -> entry.method().equals("GET")
                        && entry.path().contains("/library/one/blobs/sha256:"))
                .toList();
        assertTrue(!blobReads.isEmpty(), "the mirror served no blob: " + mirror.accessLog());
    }
}
