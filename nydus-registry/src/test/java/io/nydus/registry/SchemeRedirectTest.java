package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Registry redirects that change the scheme on the same host: a plain HTTP address that
 * redirects to a real HTTPS registry with Basic authentication, and an HTTPS address that
 * redirects to plain HTTP.
 */
class SchemeRedirectTest {

    private static final String USER = "dave";
    private static final String PASSWORD = "upgrade-Secret-5";

    private static TempDir dir;
    private static Path caFile;
    private static SSLContext serverContext;
    private static RegistryServer registry;
    private static byte[] data;
    private static Digest digest;

    @BeforeAll
    static void startRegistry() throws Exception {
        dir = TempDirs.create("registry-scheme");
        caFile = dir.resolve("ca.pem");
        Path serverKey = dir.resolve("server.key");
        Path serverCert = dir.resolve("server.pem");
        TestCertificates.make(dir.path(), caFile, serverKey, serverCert);
        serverContext = TestCertificates.serverContext(dir.path(), serverKey, serverCert);
        Path htpasswd = dir.resolve("htpasswd");
        Files.write(htpasswd, Commands.run(List.of("htpasswd", "-Bbn", USER, PASSWORD),
                Duration.ofSeconds(30)).stdout());
        registry = RegistryServer.start(dir, """
                  tls:
                    certificate: %s
                    key: %s
                """.formatted(serverCert, serverKey), """
                auth:
                  htpasswd:
                    realm: scheme-realm
                    path: %s
                """.formatted(htpasswd));
        data = TestBlobs.random(20_000, 61);
        digest = Digest.of(data);
        try (RegistryClient client = client(TransportMode.HTTPS, registry.address())) {
            client.pushBlob(registry.repository("scheme"), digest, data.length,
                    BlobSource.of(data));
        }
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

    private static RegistryClient client(TransportMode mode, String registryAddress)
            throws IOException {
        return client(mode, registryAddress, PASSWORD);
    }

    private static RegistryClient client(TransportMode mode, String registryAddress,
            String password) throws IOException {
        return RegistryClient.builder().transportMode(mode).caCertificateFile(caFile)
                .credentials(CredentialProvider.of(
                        Map.of(registryAddress, new Credentials(USER, password))))
                .retryPolicy(RetryPolicy.NONE).build();
    }

    /** Starts a plain HTTP server on 127.0.0.1 that redirects to the HTTPS registry. */
    private static HttpServer startUpgradingFront() throws IOException {
        return startUpgradingFront(301, new CopyOnWriteArrayList<>());
    }

    /**
     * Starts a plain HTTP server on 127.0.0.1 that redirects each request with {@code status}
     * to the HTTPS registry and adds {@code METHOD path} of the request to {@code seen}.
     */
    private static HttpServer startUpgradingFront(int status, List<String> seen)
            throws IOException {
        HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        front.createContext("/", exchange -> {
            seen.add(exchange.getRequestMethod() + " " + exchange.getRequestURI());
            redirect(exchange, "https://" + registry.address(), status);
        });
        front.start();
        return front;
    }

    /** Redirects each request with 301 to the same path and query under {@code base}. */
    private static void redirect(HttpExchange exchange, String base) throws IOException {
        redirect(exchange, base, 301);
    }

    /** Redirects each request with {@code status} to the same path and query under base. */
    private static void redirect(HttpExchange exchange, String base, int status)
            throws IOException {
        try (exchange) {
            exchange.getRequestBody().readAllBytes();
            exchange.getResponseHeaders().set("Location",
                    base + exchange.getRequestURI().toString());
            exchange.sendResponseHeaders(status, -1);
        }
    }

    @Test
    void upgradeToHttpsKeepsCredentials() throws Exception {
        HttpServer front = startUpgradingFront();
        String address = "127.0.0.1:" + front.getAddress().getPort();
        Repository repository = new Repository(address, "scheme");
        try (RegistryClient client = client(TransportMode.PLAIN_HTTP, address)) {
            assertTrue(client.blobExists(repository, digest));
            assertArrayEquals(Arrays.copyOfRange(data, 100, 300),
                    client.getBlobRange(repository, digest, 100, 200));
            try (InputStream in = client.getBlob(repository, digest)) {
                assertArrayEquals(data, in.readAllBytes());
            }
        } finally {
            front.stop(0);
        }
    }

    @Test
    void upgradeLocationUserInfoStaysOutOfLogs() throws Exception {
        String secret = "Location-Secret-9";
        HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        front.createContext("/", exchange -> redirect(exchange,
                "https://robot:" + secret + "@" + registry.address(), 308));
        front.start();
        String address = "127.0.0.1:" + front.getAddress().getPort();
        Repository repository = new Repository(address, "scheme");
        String failure = "";
        try (LogCapture log = new LogCapture();
                RegistryClient client = client(TransportMode.PLAIN_HTTP, address)) {
            try {
                client.blobExists(repository, digest);
                client.blobExists(repository, digest);
            } catch (IOException e) {
                failure = String.valueOf(e.getMessage());
            }

            for (String message : log.messages()) {
                assertFalse(message.contains(secret), message);
            }
        } finally {
            front.stop(0);
        }
        assertFalse(failure.contains(secret), failure);
    }

    @Test
    void upgradeIsRememberedForLaterRequests() throws Exception {
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer front = startUpgradingFront(308, seen);
        String address = "127.0.0.1:" + front.getAddress().getPort();
        Repository repository = new Repository(address, "remembered");
        byte[] pushed = TestBlobs.random(3 * 1024 * 1024 + 5, 62);
        Digest pushedDigest = Digest.of(pushed);
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).caCertificateFile(caFile)
                .credentials(CredentialProvider.of(
                        Map.of(address, new Credentials(USER, PASSWORD))))
                .retryPolicy(RetryPolicy.NONE).chunkSize(1024 * 1024).build()) {
            client.startUpload(repository).cancel();
            client.pushBlob(repository, pushedDigest, pushed.length, BlobSource.of(pushed));
            for (int offset = 0; offset < 4000; offset += 1000) {
                assertArrayEquals(Arrays.copyOfRange(pushed, offset, offset + 1000),
                        client.getBlobRange(repository, pushedDigest, offset, 1000));
            }
            try (InputStream in = client.getBlob(repository, pushedDigest)) {
                assertArrayEquals(pushed, in.readAllBytes());
            }
        } finally {
            front.stop(0);
        }

        assertEquals(List.of("POST /v2/remembered/blobs/uploads/"), seen);
    }

    @Test
    void upgradeDroppedWhenHttpsFails() throws Exception {
        HttpsServer secure = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        secure.setHttpsConfigurator(new HttpsConfigurator(serverContext));
        secure.createContext("/", SchemeRedirectTest::notFound);
        secure.start();
        String secureBase = "https://127.0.0.1:" + secure.getAddress().getPort();
        List<String> seen = new CopyOnWriteArrayList<>();
        AtomicBoolean upgrading = new AtomicBoolean(true);
        HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        front.createContext("/", exchange -> {
            seen.add(exchange.getRequestMethod() + " " + exchange.getRequestURI());
            if (upgrading.get()) {
                redirect(exchange, secureBase, 301);
            } else {
                notFound(exchange);
            }
        });
        front.start();
        String address = "127.0.0.1:" + front.getAddress().getPort();
        Repository repository = new Repository(address, "dropped");
        String head = "HEAD /v2/dropped/blobs/" + digest;
        try (RegistryClient client = client(TransportMode.PLAIN_HTTP, address)) {
            assertFalse(client.blobExists(repository, digest));
            secure.stop(0);
            upgrading.set(false);

            assertFalse(client.blobExists(repository, digest));
            assertFalse(client.blobExists(repository, digest));
        } finally {
            front.stop(0);
            secure.stop(0);
        }

        assertEquals(List.of(head, head, head), seen);
    }

    @Test
    void downgradeAfterUpgradeDropsCredentials() throws Exception {
        List<String> seenBack = new CopyOnWriteArrayList<>();
        HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        String frontBase = "http://127.0.0.1:" + front.getAddress().getPort();
        HttpsServer secure = startSecureRedirect(frontBase + "/back", 301);
        String secureBase = "https://127.0.0.1:" + secure.getAddress().getPort();
        front.createContext("/back/", exchange -> {
            seenBack.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            notFound(exchange);
        });
        front.createContext("/v2/", exchange -> challengeThenRedirect(exchange, secureBase));
        front.start();
        String address = "127.0.0.1:" + front.getAddress().getPort();
        try (RegistryClient client = client(TransportMode.PLAIN_HTTP, address)) {
            assertFalse(client.blobExists(new Repository(address, "back"), digest));
        } finally {
            front.stop(0);
            secure.stop(0);
        }

        assertEquals(List.of("null"), seenBack);
    }

    @Test
    void tokenRedirectDowngradeDropsCredentials() throws Exception {
        List<String> seenRealm = new CopyOnWriteArrayList<>();
        List<String> seenBack = new CopyOnWriteArrayList<>();
        HttpServer plain = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        String plainBase = "http://127.0.0.1:" + plain.getAddress().getPort();
        HttpsServer secure = startSecureRedirect(plainBase + "/back", 302);
        String secureBase = "https://127.0.0.1:" + secure.getAddress().getPort();
        plain.createContext("/v2/", exchange -> challengeBearer(exchange, plainBase + "/token"));
        plain.createContext("/token", exchange -> {
            seenRealm.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            redirect(exchange, secureBase, 302);
        });
        plain.createContext("/back/", exchange -> {
            seenBack.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            sendToken(exchange);
        });
        plain.start();
        String address = "127.0.0.1:" + plain.getAddress().getPort();
        try (RegistryClient client = client(TransportMode.PLAIN_HTTP, address)) {
            assertFalse(client.blobExists(new Repository(address, "token"), digest));
        } finally {
            plain.stop(0);
            secure.stop(0);
        }

        assertEquals(1, seenRealm.size(), seenRealm.toString());
        assertTrue(seenRealm.getFirst().startsWith("Basic "), seenRealm.toString());
        assertEquals(List.of("null"), seenBack);
    }

    /**
     * Starts an HTTPS server on 127.0.0.1 that redirects each request with {@code status} to
     * the same path and query under {@code base}.
     */
    private static HttpsServer startSecureRedirect(String base, int status) throws IOException {
        HttpsServer secure = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        secure.setHttpsConfigurator(new HttpsConfigurator(serverContext));
        secure.createContext("/", exchange -> redirect(exchange, base, status));
        secure.start();
        return secure;
    }

    /**
     * Responds with 404 to a request with the token that {@link #sendToken} issues, and with a
     * Bearer challenge naming {@code realm} to any other.
     */
    private static void challengeBearer(HttpExchange exchange, String realm) throws IOException {
        try (exchange) {
            if ("Bearer downgrade-token".equals(
                    exchange.getRequestHeaders().getFirst("Authorization"))) {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            exchange.getResponseHeaders().set("WWW-Authenticate",
                    "Bearer realm=\"" + realm + "\",service=\"scheme-test\"");
            exchange.sendResponseHeaders(401, -1);
        }
    }

    private static void sendToken(HttpExchange exchange) throws IOException {
        byte[] body = "{\"token\":\"downgrade-token\"}".getBytes(StandardCharsets.UTF_8);
        try (exchange) {
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
        }
    }

    private static void notFound(HttpExchange exchange) throws IOException {
        try (exchange) {
            exchange.getRequestBody().readAllBytes();
            exchange.sendResponseHeaders(404, -1);
        }
    }

    @Test
    void upgradeWithWrongPasswordNamesRegistry() throws Exception {
        HttpServer front = startUpgradingFront();
        String address = "127.0.0.1:" + front.getAddress().getPort();
        String wrong = "wrong-Upgrade-9";
        try (RegistryClient client = client(TransportMode.PLAIN_HTTP, address, wrong)) {
            RegistryUnauthorizedException e = assertThrows(RegistryUnauthorizedException.class,
                    () -> client.blobExists(new Repository(address, "scheme"), digest));

            assertEquals(401, e.statusCode());
            assertTrue(e.getMessage().contains(address + "/scheme"), e.getMessage());
            assertFalse(e.getMessage().contains(wrong), e.getMessage());
        } finally {
            front.stop(0);
        }
    }

    @Test
    void downgradeToHttpDropsCredentials() throws Exception {
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer plain = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        plain.createContext("/", exchange -> {
            try (exchange) {
                seen.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
                exchange.sendResponseHeaders(404, -1);
            }
        });
        plain.start();
        HttpsServer front = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        front.setHttpsConfigurator(new HttpsConfigurator(serverContext));
        front.createContext("/", exchange -> challengeThenRedirect(exchange,
                "http://127.0.0.1:" + plain.getAddress().getPort()));
        front.start();
        String address = "127.0.0.1:" + front.getAddress().getPort();
        try (RegistryClient client = client(TransportMode.HTTPS, address)) {
            assertFalse(client.blobExists(new Repository(address, "scheme"), digest));
        } finally {
            front.stop(0);
            plain.stop(0);
        }

        assertEquals(List.of("null"), seen);
    }

    /**
     * Responds with a Basic challenge to a request without credentials, as a registry does,
     * and redirects one with credentials to the same path under {@code base}.
     */
    private static void challengeThenRedirect(HttpExchange exchange, String base)
            throws IOException {
        if (exchange.getRequestHeaders().getFirst("Authorization") != null) {
            redirect(exchange, base);
            return;
        }
        try (exchange) {
            exchange.getResponseHeaders().set("WWW-Authenticate", "Basic realm=\"front\"");
            exchange.sendResponseHeaders(401, -1);
        }
    }
}
