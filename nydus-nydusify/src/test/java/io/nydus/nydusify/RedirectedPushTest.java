package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.Repository;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tests for the push of a converted image to a registry behind a front on 127.0.0.1. The front
 * redirects every request with 307 or 308, as a load balancer does, and requires Basic
 * credentials. The fronts record what they receive, so the tests also check which hosts get
 * the credentials.
 */
class RedirectedPushTest {

    private static final String USER = "frank";
    private static final String PASSWORD = "balancer-Secret-3";
    private static final String BASIC = "Basic " + Base64.getEncoder().encodeToString(
            (USER + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8));

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient direct;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("nydusify-redirect-");
        registry = RegistryServer.start(temp);
        direct = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        direct.close();
        registry.close();
        temp.close();
    }

    private static RegistryClient frontClient(String address) throws IOException {
        return RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP)
                .credentials(CredentialProvider.of(Map.of(address,
                        new Credentials(USER, PASSWORD))))
                .build();
    }

    private static ForwardingProxy front() throws IOException {
        ForwardingProxy front = ForwardingProxy.start("http://" + registry.address());
        front.challengeWithoutAuthorization("Basic realm=\"front\"");
        return front;
    }

    /** Converts a seed image of the registry into {@code target} and returns the result. */
    private static ConvertResult convert(Path dir, String name, RegistryClient targetClient,
            ImageReference target) throws IOException {
        SeedImage seed = SeedImage.threeLayers(dir);
        ImageReference source = registry.repository(name).tag("v1");
        seed.push(direct, source);
        ConvertOptions options = ConvertOptions.defaults(source, target)
                .withWorkDir(dir.resolve("work"))
                .withPlatform(PlatformSpec.parse("linux/amd64"));
        return new Converter(direct, targetClient).convert(options);
    }

    /** Checks that the registry stores the converted image whole under {@code name:v1-nydus}. */
    private static void assertStored(String name, ConvertResult result) throws IOException {
        ImageReference stored = registry.repository(name).tag("v1-nydus");
        Manifest manifest = direct.getManifest(stored).toManifest();
        assertEquals(result.targetManifest(), direct.getManifest(stored).digest());
        assertTrue(manifest.isNydus(), manifest.toString());
        assertEquals(4, manifest.layers().size(), manifest.toString());
        Repository repository = registry.repository(name);
        for (Descriptor layer : manifest.layers()) {
            assertEquals(layer.size(), direct.blobSize(repository, layer.digest()).orElse(-1));
        }
        Descriptor config = manifest.config();
        assertEquals(config.size(), direct.blobSize(repository, config.digest()).orElse(-1));
    }

    private static long count(ForwardingProxy proxy, String method, String prefix) {
        return proxy.received().stream()
                .filter(r -> r.method().equals(method) && r.pathAndQuery().startsWith(prefix))
                .count();
    }

    @Test
    void pushThroughRedirectingFront() throws Exception {
        try (TempDir dir = TempDirs.create("redirect-front-");
                ForwardingProxy front = front();
                RegistryClient client = frontClient(front.address())) {
            front.redirectEachRequest(307);
            ImageReference target = new Repository(front.address(), "front/app").tag("v1-nydus");

            ConvertResult result = convert(dir.path(), "front/app", client, target);

            assertStored("front/app", result);
            for (String method : List.of("HEAD", "POST", "PUT")) {
                long redirected = count(front, method, "/v2/");
                assertTrue(redirected > 0, method + " " + front.requests());
                assertEquals(redirected, count(front, method, "/redirected/v2/"),
                        method + " " + front.requests());
            }
            List<ForwardingProxy.Received> followed = front.received().stream()
                    .filter(r -> r.pathAndQuery().startsWith("/redirected/")).toList();
            assertTrue(followed.stream().allMatch(r -> r.authorization().equals(BASIC)),
                    followed.toString());
        }
    }

    @Test
    void pushThroughBalancerToOtherPort() throws Exception {
        try (TempDir dir = TempDirs.create("redirect-balancer-");
                ForwardingProxy backend = ForwardingProxy.start("http://" + registry.address());
                ForwardingProxy balancer = front();
                RegistryClient client = frontClient(balancer.address())) {
            balancer.redirectEachRequestTo("http://" + backend.address(), 308);
            ImageReference target = new Repository(balancer.address(), "balanced/app")
                    .tag("v1-nydus");

            ConvertResult result = convert(dir.path(), "balanced/app", client, target);

            assertStored("balanced/app", result);
            assertTrue(balancer.received().stream()
                    .anyMatch(r -> r.authorization().equals(BASIC)),
                    balancer.received().toString());
            for (String method : List.of("HEAD", "POST", "PUT")) {
                assertTrue(count(backend, method, "/v2/") > 0,
                        method + " " + backend.requests());
            }
            assertEquals(List.of(), backend.received().stream()
                    .filter(r -> !r.authorization().isEmpty()).toList());
        }
    }
}
