package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The client against a real registry with htpasswd (Basic) authentication. */
class BasicAuthRegistryTest {

    private static final String USER = "alice";
    private static final String PASSWORD = "pa55-Secret-word";
    private static final RetryPolicy FAST_RETRIES = new RetryPolicy(3, Duration.ofMillis(1),
            Duration.ofMillis(5), Duration.ofSeconds(30));

    private static TempDir dir;
    private static RegistryServer registry;

    @BeforeAll
    static void startRegistry() throws Exception {
        dir = TempDirs.create("registry-basic");
        byte[] entry = Commands.run(List.of("htpasswd", "-Bbn", USER, PASSWORD),
                Duration.ofSeconds(30)).stdout();
        Path htpasswd = dir.resolve("htpasswd");
        Files.write(htpasswd, entry);
        registry = RegistryServer.start(dir, "", """
                auth:
                  htpasswd:
                    realm: test-realm
                    path: %s
                """.formatted(htpasswd));
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        if (registry != null) {
            registry.close();
        }
        if (dir != null) {
            dir.close();
        }
    }

    private static RegistryClient clientWith(String registryHost, String password)
            throws IOException {
        CredentialProvider credentials = CredentialProvider.of(
                Map.of(registryHost, new Credentials(USER, password)));
        return RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP)
                .credentials(credentials).retryPolicy(FAST_RETRIES).build();
    }

    @Test
    void pushAndPullWithPassword() throws Exception {
        Repository repository = registry.repository("basic");
        byte[] data = TestBlobs.random(3000, 21);
        Digest digest = Digest.of(data);
        try (RegistryClient client = clientWith(registry.address(), PASSWORD)) {
            client.pushBlob(repository, digest, data.length, BlobSource.of(data));

            try (InputStream in = client.getBlob(repository, digest)) {
                assertArrayEquals(data, in.readAllBytes());
            }
        }
    }

    @Test
    void wrongPasswordIsUnauthorized() throws Exception {
        Repository repository = registry.repository("basic");
        Digest digest = Digest.of(new byte[] {1, 2, 3});
        String wrong = "not-the-Secret-42";
        try (RegistryClient client = clientWith(registry.address(), wrong)) {
            RegistryUnauthorizedException e = assertThrows(RegistryUnauthorizedException.class,
                    () -> client.blobExists(repository, digest));

            assertEquals(401, e.statusCode());
            assertTrue(e.getMessage().contains(registry.address() + "/basic"), e.getMessage());
            assertFalse(e.getMessage().contains(wrong), e.getMessage());
        }
    }

    @Test
    void anonymousIsUnauthorized() throws Exception {
        Repository repository = registry.repository("basic");
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).build()) {
            assertThrows(RegistryUnauthorizedException.class,
                    () -> client.getManifest(repository.tag("latest")));
        }
    }

    @Test
    void dockerConfigCredentialsAreUsed() throws Exception {
        Path config = dir.resolve("docker-config.json");
        String auth = java.util.Base64.getEncoder().encodeToString(
                (USER + ":" + PASSWORD).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        Files.writeString(config, """
                {"auths": {"http://%s": {"auth": "%s"}}}
                """.formatted(registry.address(), auth));
        Repository repository = registry.repository("from-config");
        byte[] data = TestBlobs.random(10, 22);
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP)
                .credentials(DockerConfigCredentials.load(config)).build()) {
            BlobPushResult result = client.pushBlob(repository, Digest.of(data), data.length,
                    BlobSource.of(data));

            assertEquals(BlobPushResult.UPLOADED, result);
        }
    }

    @Test
    void retriesAreLoggedWithoutSecrets() throws Exception {
        Repository direct = registry.repository("logged");
        byte[] data = TestBlobs.random(500, 23);
        Digest digest = Digest.of(data);
        try (RegistryClient client = clientWith(registry.address(), PASSWORD)) {
            client.pushBlob(direct, digest, data.length, BlobSource.of(data));
        }
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address());
                RegistryClient client = clientWith(proxy.address(), PASSWORD);
                LogCapture logs = new LogCapture()) {
            Repository repository = new Repository(proxy.address(), "logged");
            proxy.failNext(1);

            try (InputStream in = client.getBlob(repository, digest)) {
                assertArrayEquals(data, in.readAllBytes());
            }

            List<String> warnings = logs.messages(Level.WARN);
            assertEquals(1, warnings.size(), warnings.toString());
            String warning = warnings.getFirst();
            assertTrue(warning.contains("blob " + digest + " in " + repository), warning);
            assertTrue(warning.contains("attempt 2 of 3"), warning);
            assertTrue(warning.contains("HTTP 503"), warning);
            assertTrue(logs.messages().stream().noneMatch(m -> m.contains(PASSWORD)));
        }
    }
}
