package io.nydus.cli.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TokenRegistryFixture;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Private Nydus images, with Basic and with bearer-token authentication, pulled through the
 * snapshotter's CRI image service proxy with credentials given only in the CRI request: the
 * proxy remembers them and nydusd reads the blobs with them.
 */
class PrivateImageTest {
    private static final String USER = "puller";
    private static final String PASSWORD = "Pull-Secret-7";

    private static TempDir dir;
    private static TempDir basicDir;
    private static TempDir tokenDir;
    private static RegistryServer basic;
    private static TokenRegistryFixture token;
    private static Node node;
    private static SeedImage seed;

    @BeforeAll
    static void startNode() throws Exception {
        dir = TempDirs.create("private-image");
        byte[] entry = Commands.run(List.of("htpasswd", "-Bbn", USER, PASSWORD),
                Duration.ofSeconds(30)).stdout();
        Path htpasswd = dir.resolve("htpasswd");
        Files.write(htpasswd, entry);
        basicDir = TempDirs.create("basic-registry");
        tokenDir = TempDirs.create("token-registry");
        basic = RegistryServer.start(basicDir, "", """
                auth:
                  htpasswd:
                    realm: test
                    path: %s
                """.formatted(htpasswd));
        token = TokenRegistryFixture.start(tokenDir, USER, PASSWORD);
        seed = SeedImage.oneLayer(dir.resolve("seed"), layer -> {
            Files.copy(Path.of("/bin/busybox"), layer.resolve("bin/busybox"));
            byte[] data = new byte[1 << 20];
            new Random(5).nextBytes(data);
            Files.write(layer.resolve("secret.bin"), data);
        });
        for (RegistryServer registry : List.of(basic, token.registry())) {
            pushNydus(registry);
        }
        node = Node.start(List.of(basic.address(), token.registry().address()), Node.SHARED,
                """
                [remote.auth]
                enable_cri_keychain = true
                image_service_address = "%CONTAINERD%"
                """);
    }

    @AfterAll
    static void stopNode() throws Exception {
        Node.closeAll(dir, node, basic, token, basicDir, tokenDir);
    }

    private static void pushNydus(RegistryServer registry) throws Exception {
        Credentials credentials = new Credentials(USER, PASSWORD);
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP)
                .credentials(CredentialProvider.of(Map.of(registry.address(), credentials)))
                .build()) {
            ImageReference source = ImageReference.parse(registry.address() + "/private/app:v1");
            seed.push(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source,
                            source.withTag("nydus"))
                    .withWorkDir(Files.createDirectories(dir.resolve("work")))
                    .withPlatform(PlatformSpec.parse("linux/amd64")));
        }
    }

    @Test
    void basicAuthImageRuns() throws Exception {
        assertRunsWithCriCredentials(basic.address() + "/private/app:nydus");
    }

    @Test
    void tokenAuthImageRuns() throws Exception {
        int tokensBefore = token.tokenRequests();

        assertRunsWithCriCredentials(token.registry().address() + "/private/app:nydus");

        assertTrue(token.tokenRequests() > tokensBefore, "no token was requested");
    }

    @Test
    void pullWithoutCredentialsFails() {
        try (CriClient cri = new CriClient(node.socket)) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> cri.pull(basic.address() + "/private/app:v1"));

            assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode(), e.toString());
            assertTrue(e.getStatus().getDescription().contains("401 Unauthorized"),
                    e.getStatus().getDescription());
        }
    }

    @Test
    void proxyForwardsImageListing() throws Exception {
        String image = basic.address() + "/private/app:nydus";
        try (CriClient cri = new CriClient(node.socket)) {
            cri.pull(image, USER, PASSWORD);

            assertTrue(cri.imageTags().contains(image), cri.imageTags().toString());
        }
    }

    @Test
    void proxyRejectsRuntimeService() {
        try (CriClient cri = new CriClient(node.socket)) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    cri::runtimeVersion);

            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
        }
        try (CriClient cri = new CriClient(node.containerd.socket())) {
            assertEquals("containerd", cri.runtimeVersion());
        }
    }

    private static void assertRunsWithCriCredentials(String image) throws Exception {
        try (CriClient cri = new CriClient(node.socket)) {
            cri.pull(image, USER, PASSWORD);
        }

        String listing = node.listing("k8s.io", "nydus", image);

        String secret = SeedImage.sha256(seed.expected().resolve("secret.bin")).hex();
        assertTrue(listing.contains(secret + "  /secret.bin"), listing);
    }
}
