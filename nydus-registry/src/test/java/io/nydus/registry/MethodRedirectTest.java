package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Redirects of the POST, PATCH and PUT requests of a push, from a front on 127.0.0.1 that
 * redirects every request to a real registry, as a load balancer does.
 */
class MethodRedirectTest {

    private static final int CHUNK_SIZE = 64 * 1024;
    private static final String USER = "erin";
    private static final String PASSWORD = "front-Secret-7";
    private static final String BASIC = "Basic " + Base64.getEncoder().encodeToString(
            (USER + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    private static final String MANIFEST_TYPE = MediaTypes.OCI_MANIFEST;

    private static TempDir dir;
    private static RegistryServer registry;
    private static RegistryClient direct;

    @BeforeAll
    static void startRegistry() throws Exception {
        dir = TempDirs.create("registry-method-redirect");
        registry = RegistryServer.start(dir, "", "");
        direct = client(registry.address());
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        if (direct != null) {
            direct.close();
        }
        if (registry != null) {
            registry.close();
        }
        if (dir != null) {
            dir.close();
        }
    }

    private static RegistryClient client(String address) throws IOException {
        return RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP)
                .retryPolicy(RetryPolicy.NONE).chunkSize(CHUNK_SIZE)
                .credentials(CredentialProvider.of(Map.of(address,
                        new Credentials(USER, PASSWORD))))
                .build();
    }

    private static ForwardingProxy front() throws IOException {
        return ForwardingProxy.start("http://" + registry.address());
    }

    private static byte[] pull(Repository repository, Digest digest) throws IOException {
        try (InputStream in = direct.getBlob(repository, digest)) {
            return in.readAllBytes();
        }
    }

    /** Returns a manifest of one layer, {@code layer}, and {@code config}. */
    private static byte[] manifest(Digest config, int configSize, Digest layer, int layerSize) {
        return ("""
                {"schemaVersion":2,"mediaType":"%s",\
                "config":{"mediaType":"%s","digest":"%s","size":%d},\
                "layers":[{"mediaType":"%s","digest":"%s","size":%d}]}"""
                .formatted(MANIFEST_TYPE, MediaTypes.OCI_CONFIG, config, configSize,
                        MediaTypes.OCI_LAYER_GZIP, layer, layerSize))
                .getBytes(StandardCharsets.UTF_8);
    }

    private static long count(ForwardingProxy proxy, String method, String prefix) {
        return proxy.received().stream()
                .filter(r -> r.method().equals(method) && r.pathAndQuery().startsWith(prefix))
                .count();
    }

    @ParameterizedTest
    @ValueSource(ints = {307, 308})
    void pushFollowsRedirectOfEveryMethod(int status) throws Exception {
        byte[] layer = TestBlobs.random(3 * CHUNK_SIZE + 100, status);
        byte[] config = "{\"architecture\":\"amd64\"}".getBytes(StandardCharsets.UTF_8);
        Digest layerDigest = Digest.of(layer);
        Digest configDigest = Digest.of(config);
        byte[] manifest = manifest(configDigest, config.length, layerDigest, layer.length);
        try (ForwardingProxy proxy = front();
                RegistryClient client = client(proxy.address())) {
            proxy.redirectEachRequest(status);
            Repository repository = new Repository(proxy.address(), "redirect/" + status);

            client.pushBlob(repository, layerDigest, layer.length, BlobSource.of(layer));
            client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
            Digest pushed = client.putManifest(repository.tag("v1"), manifest, MANIFEST_TYPE);

            Repository stored = registry.repository("redirect/" + status);
            assertArrayEquals(layer, pull(stored, layerDigest));
            assertArrayEquals(config, pull(stored, configDigest));
            assertEquals(Digest.of(manifest), pushed);
            assertArrayEquals(manifest, direct.getManifest(stored.tag("v1")).bytes());
            for (String method : List.of("POST", "PATCH", "PUT")) {
                long redirected = count(proxy, method, "/v2/");
                assertTrue(redirected > 0, method + " " + proxy.received());
                assertEquals(redirected, count(proxy, method, "/redirected/v2/"),
                        method + " " + proxy.received());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {301, 302, 303})
    void manifestPutRedirectNamesStatusAndUrl(int status) throws Exception {
        byte[] config = ("{\"status\":" + status + "}").getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        byte[] manifest = manifest(configDigest, config.length, configDigest, config.length);
        try (ForwardingProxy proxy = front();
                RegistryClient client = client(proxy.address())) {
            Repository repository = new Repository(proxy.address(), "put-" + status);
            client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
            proxy.redirectEachRequest(status, "PUT");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.putManifest(repository.tag("v1"), manifest, MANIFEST_TYPE));

            String url = "http://" + proxy.address() + "/v2/put-" + status + "/manifests/v1";
            assertTrue(e.getMessage().startsWith("PUT manifest v1 in "), e.getMessage());
            assertTrue(e.getMessage().contains("HTTP " + status), e.getMessage());
            assertTrue(e.getMessage().contains(url), e.getMessage());
            assertFalse(e.isTransient(), e.getMessage());
            assertEquals(0, count(proxy, "GET", "/redirected/"), proxy.requests().toString());
            assertEquals(0, count(proxy, "PUT", "/redirected/"), proxy.requests().toString());
        }
    }

    @Test
    void patchWith303NamesStatusAndUrl() throws Exception {
        byte[] layer = TestBlobs.random(2 * CHUNK_SIZE, 303);
        Digest digest = Digest.of(layer);
        try (ForwardingProxy proxy = front();
                RegistryClient client = client(proxy.address())) {
            proxy.redirectEachRequest(303, "PATCH");
            Repository repository = new Repository(proxy.address(), "patch-303");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.pushBlob(repository, digest, layer.length,
                            BlobSource.of(layer)));

            assertTrue(e.getMessage().startsWith("PATCH blob " + digest), e.getMessage());
            assertTrue(e.getMessage().contains("HTTP 303"), e.getMessage());
            assertTrue(e.getMessage().contains("http://" + proxy.address()
                    + "/v2/patch-303/blobs/uploads/"), e.getMessage());
            assertFalse(direct.blobExists(registry.repository("patch-303"), digest));
        }
    }

    @Test
    void streamedBodyRedirectNamesRegistry() throws Exception {
        byte[] layer = TestBlobs.random(CHUNK_SIZE / 2, 7);
        Digest digest = Digest.of(layer);
        try (ForwardingProxy proxy = front();
                RegistryClient client = client(proxy.address())) {
            proxy.redirectEachRequest(307, "PUT");
            Repository repository = new Repository(proxy.address(), "streamed");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.pushBlob(repository, digest, layer.length,
                            new ByteArrayInputStream(layer)));

            assertTrue(e.getMessage().startsWith("PUT blob " + digest + " in "
                    + proxy.address() + "/streamed"), e.getMessage());
            assertTrue(e.getMessage().contains("HTTP 307"), e.getMessage());
            assertTrue(e.getMessage().contains("http://" + proxy.address()
                    + "/v2/streamed/blobs/uploads/"), e.getMessage());
            assertTrue(e.getMessage().contains("read only once"), e.getMessage());
            assertFalse(direct.blobExists(registry.repository("streamed"), digest));
        }
    }

    @Test
    void putRedirectLoopStopsAtLimit() throws Exception {
        byte[] config = "{\"loop\":true}".getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        byte[] manifest = manifest(configDigest, config.length, configDigest, config.length);
        try (ForwardingProxy proxy = front();
                RegistryClient client = client(proxy.address())) {
            Repository repository = new Repository(proxy.address(), "loop");
            client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
            proxy.redirectEachRequestTo("http://" + proxy.address(), 308);

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.putManifest(repository.tag("v1"), manifest, MANIFEST_TYPE));

            assertEquals("PUT manifest v1 in " + proxy.address() + "/loop: more than 10"
                    + " redirects", e.getMessage());
            assertEquals(11, count(proxy, "PUT", "/v2/loop/manifests/v1"));
        }
    }

    @Test
    void redirectToOtherPortGetsNoCredentials() throws Exception {
        byte[] layer = TestBlobs.random(2 * CHUNK_SIZE + 10, 11);
        byte[] config = "{\"os\":\"linux\"}".getBytes(StandardCharsets.UTF_8);
        Digest layerDigest = Digest.of(layer);
        Digest configDigest = Digest.of(config);
        byte[] manifest = manifest(configDigest, config.length, layerDigest, layer.length);
        try (ForwardingProxy storage = front();
                ForwardingProxy balancer = front();
                RegistryClient client = client(balancer.address())) {
            balancer.challengeWithoutAuthorization("Basic realm=\"balancer\"");
            balancer.redirectEachRequestTo("http://" + storage.address(), 307);
            Repository repository = new Repository(balancer.address(), "other-port");

            client.pushBlob(repository, layerDigest, layer.length, BlobSource.of(layer));
            client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
            client.putManifest(repository.tag("v1"), manifest, MANIFEST_TYPE);
            try (InputStream in = client.getBlob(repository, layerDigest)) {
                assertArrayEquals(layer, in.readAllBytes());
            }

            Repository stored = registry.repository("other-port");
            assertArrayEquals(manifest, direct.getManifest(stored.tag("v1")).bytes());
            assertTrue(balancer.received().stream()
                    .anyMatch(r -> r.authorization().equals(BASIC)), balancer.received()
                    .toString());
            for (String method : List.of("HEAD", "GET", "POST", "PATCH", "PUT")) {
                assertTrue(count(storage, method, "/v2/") > 0, method + " "
                        + storage.requests());
            }
            assertEquals(List.of(), storage.received().stream()
                    .filter(r -> !r.authorization().isEmpty()).toList());
        }
    }
}
