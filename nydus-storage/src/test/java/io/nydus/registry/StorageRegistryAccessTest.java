package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.nydus.rafs.tree.Chunk;
import io.nydus.storage.ImageStorage;
import io.nydus.storage.TestImage;
import io.nydus.storage.backend.BackendMetrics;
import io.nydus.storage.backend.RegistryBackend;
import io.nydus.storage.config.RegistryConfig;
import io.nydus.storage.config.RuntimeSettings;
import io.nydus.storage.config.StorageConfig;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * Storage reads through authentication, mirrors and a proxy. It lives in this package to use
 * the registry module's test token service and proxy.
 */
class StorageRegistryAccessTest {
    private static final String USER = "storage-user";
    private static final String PASSWORD = "storage-Pass-1";
    private static final String REPO = "storage/access";

    private static TempDir dir;
    private static TestImage image;
    private static TokenService tokens;
    private static RegistryServer tokenRegistry;
    private static RegistryServer plain;
    private static RegistryServer mirror;
    private static final List<TempDir> subdirs = new java.util.ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        dir = TempDirs.create("storage-access");
        image = TestImage.build(dir.path().resolve("image"),
                TestImage.generate(12, 1, 150_000, 3), 64 << 10);
        tokens = TokenService.start(dir.path(), USER, PASSWORD);
        tokenRegistry = RegistryServer.start(subdir("token"), "", tokens.authSection());
        image.push(tokenRegistry.repository(REPO), CredentialProvider.of(Map.of(
                tokenRegistry.address(), new Credentials(USER, PASSWORD))));
        plain = RegistryServer.startWithAccessLog(subdir("plain"));
        image.push(plain.repository(REPO));
        mirror = RegistryServer.startWithAccessLog(subdir("mirror"));
        image.push(mirror.repository(REPO));
    }

    private static TempDir subdir(String name) throws IOException {
        TempDir created = TempDirs.create("storage-access-" + name);
        subdirs.add(created);
        return created;
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {tokenRegistry, plain, mirror, tokens}) {
            if (c != null) {
                c.close();
            }
        }
        for (TempDir sub : subdirs) {
            sub.close();
        }
        dir.close();
    }

    @BeforeEach
    void resetTokens() {
        tokens.expiresIn(300);
        tokens.corruptNext(0);
        tokens.delayResponses(Duration.ZERO);
    }

    private static String auth() {
        return Base64.getEncoder().encodeToString((USER + ":" + PASSWORD)
                .getBytes(StandardCharsets.UTF_8));
    }

    private static StorageConfig config(RegistryServer registry, String extra) {
        return config(registry.address(), REPO, extra);
    }

    private static StorageConfig config(String host, String repo, String extra) {
        String json = """
                {"device": {"backend": {"type": "registry", "config": {"scheme": "http",
                  "host": "%s", "repo": "%s", "timeout": 5, "connect_timeout": 5%s}}}}"""
                .formatted(host, repo, extra);
        return StorageConfig.parse(json, Map.of());
    }

    private static ImageStorage open(StorageConfig config, MutableClock clock)
            throws IOException {
        BackendMetrics metrics = new BackendMetrics();
        RegistryBackend backend = RegistryBackend.open((RegistryConfig) config.backend(),
                metrics, clock);
        return ImageStorage.open(config.withAmplifyIo(0), backend, metrics, image.blobs,
                image.chunkTable);
    }

    private static void assertReadsAll(ImageStorage storage) throws IOException {
        for (Map.Entry<String, byte[]> file : image.files.entrySet()) {
            assertArrayEquals(file.getValue(), image.read(storage, file.getKey()),
                    file.getKey());
        }
    }

    private static List<String> names() {
        return List.copyOf(image.files.keySet());
    }

    @Test
    void expiringTokenIsRefreshed() throws Exception {
        tokens.expiresIn(5);
        MutableClock clock = new MutableClock();
        try (ImageStorage storage = open(config(tokenRegistry, ", \"auth\": \"" + auth() + "\""),
                clock)) {
            image.read(storage, names().get(0));
            int afterFirst = tokens.requests();

            clock.advance(Duration.ofMillis(4600));
            byte[] read = image.read(storage, names().get(1));

            assertArrayEquals(image.files.get(names().get(1)), read);
            assertEquals(afterFirst + 1, tokens.requests());
        }
    }

    @Test
    void rejectedTokenIsReplaced() throws Exception {
        MutableClock clock = new MutableClock();
        try (ImageStorage storage = open(config(tokenRegistry, ", \"auth\": \"" + auth() + "\""),
                clock)) {
            image.read(storage, names().get(0));
            clock.advance(Duration.ofMinutes(10));
            tokens.corruptNext(1);
            int before = tokens.requests();

            assertReadsAll(storage);
            assertEquals(before + 2, tokens.requests());
            assertEquals(0L, storage.backendMetrics().get("read_errors"));
        }
    }

    @Test
    void concurrentReadsShareOneTokenRefresh() throws Exception {
        tokens.expiresIn(5);
        MutableClock clock = new MutableClock();
        StorageConfig config = config(tokenRegistry, ", \"auth\": \"" + auth() + "\"");
        byte[] blob = Files.readAllBytes(image.blobFile);
        int readers = 8;
        try (RegistryBackend backend = RegistryBackend.open((RegistryConfig) config.backend(),
                new BackendMetrics(), clock)) {
            backend.read(image.blobId(), 0, ByteBuffer.allocate(1));
            int before = tokens.requests();
            clock.advance(Duration.ofSeconds(5));
            // Delayed token responses let every reader start before the first token arrives.
            tokens.delayResponses(Duration.ofMillis(500));

            List<Future<byte[]>> reads = new java.util.ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(readers)) {
                for (int i = 0; i < readers; i++) {
                    long offset = i * 1024L;
                    reads.add(pool.submit(() -> {
                        ByteBuffer target = ByteBuffer.allocate(1024);
                        backend.read(image.blobId(), offset, target);
                        return target.array();
                    }));
                }
            }

            for (int i = 0; i < readers; i++) {
                assertArrayEquals(Arrays.copyOfRange(blob, i * 1024, (i + 1) * 1024),
                        reads.get(i).get(), "read " + i);
            }
            assertEquals(before + 1, tokens.requests());
        }
    }

    @Test
    void presetRegistryTokenIsSent() throws Exception {
        String token = fetchToken();
        int before = tokens.requests();
        try (ImageStorage storage = open(config(tokenRegistry,
                ", \"registry_token\": \"" + token + "\""), new MutableClock())) {
            assertReadsAll(storage);
        }
        assertEquals(before, tokens.requests());
    }

    /** A test CA and a server key and certificate for 127.0.0.1, in {@code dir}. */
    private record TlsFiles(TempDir dir, Path ca, Path key, Path certificate) {

        static TlsFiles make(TempDir dir) throws IOException {
            TlsFiles files = new TlsFiles(dir, dir.resolve("ca.pem"), dir.resolve("server.key"),
                    dir.resolve("server.pem"));
            TestCertificates.make(dir.path(), files.ca(), files.key(), files.certificate());
            return files;
        }
    }

    /**
     * A registry on plain HTTP that redirects itself to HTTPS on the same host still gets the
     * preset registry_token, so the reads need no token service. Reads after the first go to
     * HTTPS directly.
     */
    @Test
    void presetTokenFollowsUpgradeToHttps() throws Exception {
        TlsFiles tls = TlsFiles.make(subdir("tls-token"));
        Path ca = tls.ca();
        String section = """
                  tls:
                    certificate: %s
                    key: %s
                """.formatted(tls.certificate(), tls.key());
        try (RegistryServer tlsRegistry = RegistryServer.start(tls.dir(), section,
                tokens.authSection())) {
            pushTrusting(ca, tlsRegistry.repository(REPO), CredentialProvider.of(Map.of(
                    tlsRegistry.address(), new Credentials(USER, PASSWORD))));
            List<String> seenReads = new java.util.concurrent.CopyOnWriteArrayList<>();
            HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            front.createContext("/", exchange -> {
                try (exchange) {
                    if (exchange.getRequestMethod().equals("GET")) {
                        seenReads.add(exchange.getRequestURI().toString());
                    }
                    exchange.getResponseHeaders().set("Location", "https://"
                            + tlsRegistry.address() + exchange.getRequestURI());
                    exchange.sendResponseHeaders(301, -1);
                }
            });
            front.start();
            String token = fetchToken();
            int before = tokens.requests();
            String extra = ", \"ca_cert_files\": [\"" + ca + "\"], \"registry_token\": \""
                    + token + "\"";
            try (ImageStorage storage = open(config("127.0.0.1:" + front.getAddress().getPort(),
                    REPO, extra), new MutableClock())) {
                assertReadsAll(storage);
                assertReadsAll(storage);
            } finally {
                front.stop(0);
            }

            assertEquals(before, tokens.requests());
            assertEquals(1, seenReads.size(), seenReads.toString());
        }
    }

    /**
     * A redirect chain from the registry's plain HTTP address to HTTPS and back to plain HTTP
     * on the same host sends the preset token to no hop after the downgrade.
     */
    @Test
    void presetTokenNotSentAfterDowngrade() throws Exception {
        TlsFiles tls = TlsFiles.make(subdir("tls-downgrade"));
        List<String> seenBack = new java.util.concurrent.CopyOnWriteArrayList<>();
        HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        String frontBase = "http://127.0.0.1:" + front.getAddress().getPort();
        HttpsServer secure = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        secure.setHttpsConfigurator(new HttpsConfigurator(TestCertificates.serverContext(
                tls.dir().path(), tls.key(), tls.certificate())));
        secure.createContext("/", exchange -> redirect(exchange, frontBase + "/back"));
        secure.start();
        String secureBase = "https://127.0.0.1:" + secure.getAddress().getPort();
        front.createContext("/back/", exchange -> {
            try (exchange) {
                seenBack.add(String.valueOf(exchange.getRequestHeaders()
                        .getFirst("Authorization")));
                exchange.sendResponseHeaders(404, -1);
            }
        });
        front.createContext("/v2/", exchange -> redirect(exchange, secureBase));
        front.start();
        String extra = ", \"ca_cert_files\": [\"" + tls.ca() + "\"], \"retry_limit\": 0,"
                + " \"registry_token\": \"downgrade-Token-5\"";
        StorageConfig config = config("127.0.0.1:" + front.getAddress().getPort(), REPO, extra);
        try (RegistryBackend backend = RegistryBackend.open((RegistryConfig) config.backend(),
                new BackendMetrics(), new MutableClock())) {
            assertThrows(IOException.class,
                    () -> backend.read(image.blobId(), 0, ByteBuffer.allocate(64)));
        } finally {
            front.stop(0);
            secure.stop(0);
        }

        assertFalse(seenBack.isEmpty());
        assertTrue(seenBack.stream().allMatch("null"::equals), seenBack.toString());
    }

    /** Redirects a request with 301 to the same path and query under {@code base}. */
    private static void redirect(HttpExchange exchange, String base) throws IOException {
        try (exchange) {
            exchange.getResponseHeaders().set("Location", base + exchange.getRequestURI());
            exchange.sendResponseHeaders(301, -1);
        }
    }

    /**
     * Reads with the preset token go back to the registry's plain HTTP address once the HTTPS
     * address that it redirected to stops accepting connections.
     */
    @Test
    void presetUpgradeDroppedWhenHttpsFails() throws Exception {
        TlsFiles tls = TlsFiles.make(subdir("tls-dropped"));
        List<String> seenReads = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicBoolean upgrading =
                new java.util.concurrent.atomic.AtomicBoolean(true);
        byte[] expected = Arrays.copyOf(Files.readAllBytes(image.blobFile), 64);
        try (RegistryServer tlsRegistry = RegistryServer.startWithTls(tls.dir(),
                tls.certificate(), tls.key())) {
            pushTrusting(tls.ca(), tlsRegistry.repository(REPO));
            String secureBase = "https://" + tlsRegistry.address();
            HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            front.createContext("/", exchange -> {
                if (exchange.getRequestMethod().equals("GET")) {
                    seenReads.add(exchange.getRequestURI().toString());
                }
                if (upgrading.get()) {
                    redirect(exchange, secureBase);
                    return;
                }
                try (exchange) {
                    exchange.sendResponseHeaders(404, -1);
                }
            });
            front.start();
            String extra = ", \"ca_cert_files\": [\"" + tls.ca() + "\"],"
                    + " \"retry_limit\": 0, \"registry_token\": \"dropped-Token-8\"";
            StorageConfig config = config("127.0.0.1:" + front.getAddress().getPort(), REPO,
                    extra);
            try (RegistryBackend backend = RegistryBackend.open(
                    (RegistryConfig) config.backend(), new BackendMetrics(),
                    new MutableClock())) {
                ByteBuffer first = ByteBuffer.allocate(64);
                backend.read(image.blobId(), 0, first);
                assertArrayEquals(expected, first.array());
                ByteBuffer second = ByteBuffer.allocate(64);
                backend.read(image.blobId(), 0, second);
                assertArrayEquals(expected, second.array());
                assertEquals(1, seenReads.size(), seenReads.toString());
                tlsRegistry.close();
                upgrading.set(false);

                IOException e = assertThrows(IOException.class,
                        () -> backend.read(image.blobId(), 0, ByteBuffer.allocate(64)));

                assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
                assertEquals(2, seenReads.size(), seenReads.toString());
            } finally {
                front.stop(0);
            }
        }
    }

    @Test
    void upgradeToHttpsIsReachedDirectly() throws Exception {
        TlsFiles tls = TlsFiles.make(subdir("tls-upgrade"));
        try (RegistryServer tlsRegistry = RegistryServer.startWithTls(tls.dir(),
                tls.certificate(), tls.key())) {
            pushTrusting(tls.ca(), tlsRegistry.repository(REPO));
            List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
            HttpServer front = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            front.createContext("/", exchange -> {
                try (exchange) {
                    seen.add(exchange.getRequestMethod() + " " + exchange.getRequestURI());
                    exchange.getResponseHeaders().set("Location", "https://"
                            + tlsRegistry.address() + exchange.getRequestURI());
                    exchange.sendResponseHeaders(301, -1);
                }
            });
            front.start();
            String extra = ", \"ca_cert_files\": [\"" + tls.ca() + "\"]";
            try (ImageStorage storage = open(config("127.0.0.1:" + front.getAddress().getPort(),
                    REPO, extra), new MutableClock())) {
                assertReadsAll(storage);
                assertReadsAll(storage);
            } finally {
                front.stop(0);
            }

            assertEquals(1, seen.size(), seen.toString());
        }
    }

    @Test
    void rejectedPresetTokenFallsBackToAuth() throws Exception {
        String preset = "revoked-Preset-Token-42";
        int before = tokens.issuedTokens().size();
        List<String> messages;
        try (LogCapture log = new LogCapture("io.nydus");
                ImageStorage storage = open(config(tokenRegistry, ", \"auth\": \"" + auth()
                        + "\", \"registry_token\": \"" + preset + "\""), new MutableClock())) {
            assertReadsAll(storage);
            messages = log.messages();
        }

        List<String> secrets = new java.util.ArrayList<>(tokens.issuedTokens().subList(before,
                tokens.issuedTokens().size()));
        secrets.add(preset);
        secrets.add(PASSWORD);
        assertTrue(secrets.size() > 2, "no token was fetched after the preset one failed");
        assertTrue(messages.stream().anyMatch(m -> m.contains("rejected the preset")),
                messages.toString());
        for (String message : messages) {
            for (String secret : secrets) {
                assertFalse(message.contains(secret), message);
            }
        }
    }

    @Test
    void replacedCredentialsTakeEffectAtOnce() throws Exception {
        RuntimeSettings settings = new RuntimeSettings();
        String wrong = Base64.getEncoder().encodeToString((USER + ":wrong-password")
                .getBytes(StandardCharsets.UTF_8));
        StorageConfig config = config(tokenRegistry, ", \"auth\": \"" + wrong + "\"");
        BackendMetrics metrics = new BackendMetrics();
        RegistryBackend backend = RegistryBackend.open((RegistryConfig) config.backend(),
                metrics, new MutableClock(), settings.scope("/")::registryCredentials);
        try (ImageStorage storage = ImageStorage.open(config.withAmplifyIo(0), backend, metrics,
                image.blobs, image.chunkTable)) {
            assertThrows(IOException.class, () -> image.read(storage, names().get(0)));

            settings.set("/", RuntimeSettings.Key.REGISTRY_AUTH, auth());
            assertArrayEquals(image.files.get(names().get(0)),
                    image.read(storage, names().get(0)));

            settings.set("/other", RuntimeSettings.Key.REGISTRY_AUTH, wrong);
            assertArrayEquals(image.files.get(names().get(1)),
                    image.read(storage, names().get(1)));

            settings.set("/", RuntimeSettings.Key.REGISTRY_AUTH, wrong);
            assertThrows(IOException.class, () -> image.read(storage, names().get(2)),
                    "the token of the former credentials was still sent");
        }
    }

    private static String fetchToken() throws Exception {
        URI uri = URI.create(tokens.realm() + "?service=" + TokenService.SERVICE
                + "&scope=repository:" + REPO + ":pull");
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> response = client.send(HttpRequest.newBuilder(uri)
                    .header("Authorization", "Basic " + auth()).build(),
                    HttpResponse.BodyHandlers.ofString());
            String body = response.body();
            int start = body.indexOf("\"token\":\"") + 9;
            return body.substring(start, body.indexOf('"', start));
        }
    }

    @Test
    void mirrorIsAskedFirstAndSkippedWhenDown() throws Exception {
        String mirrors = ", \"mirrors\": [{\"host\": \"http://" + mirror.address()
                + "\", \"headers\": {\"X-Mirror\": \"yes\"}, \"failure_limit\": 1,"
                + " \"health_check_interval\": 600}]";
        int plainBefore = blobGets(plain);
        try (ImageStorage storage = open(config(plain, mirrors), new MutableClock())) {
            image.read(storage, names().get(0));
            assertTrue(blobGets(mirror) > 0);
            assertEquals(plainBefore, blobGets(plain));

            mirror.stop();
            try {
                byte[] read = image.read(storage, names().get(1));
                assertArrayEquals(image.files.get(names().get(1)), read);
                assertTrue(blobGets(plain) > plainBefore);
            } finally {
                mirror.restart();
            }
        }
    }

    /**
     * An HTTPS mirror whose certificate a CA of ca_cert_files signed serves the reads, as the
     * snapshotter configures a mirror of a hosts.toml with its {@code ca}.
     */
    @Test
    void httpsMirrorTrustsCaCertFiles() throws Exception {
        TlsFiles tls = TlsFiles.make(subdir("tls-mirror"));
        Path ca = tls.ca();
        try (RegistryServer tlsMirror = RegistryServer.startWithTls(tls.dir(),
                tls.certificate(), tls.key())) {
            pushTrusting(ca, tlsMirror.repository(REPO));
            String extra = ", \"ca_cert_files\": [\"" + ca + "\"], \"mirrors\": [{\"host\":"
                    + " \"https://" + tlsMirror.address() + "\", \"failure_limit\": 1,"
                    + " \"health_check_interval\": 600}]";
            int plainBefore = blobGets(plain);

            try (ImageStorage storage = open(config(plain, extra), new MutableClock())) {
                assertReadsAll(storage);
            }

            assertEquals(plainBefore, blobGets(plain), "reads went past the mirror");
        }
    }

    @Test
    void missingCaCertFileIsNamed() throws IOException {
        Path present = dir.resolve("present-ca.pem");
        TestCertificates.make(dir.path(), present, dir.resolve("unused.key"),
                dir.resolve("unused.pem"));
        Path missing = dir.resolve("missing-ca.pem");
        for (String files : List.of("\"" + missing + "\"",
                "\"" + present + "\", \"" + missing + "\"")) {
            StorageConfig config = config(plain, ", \"ca_cert_files\": [" + files + "]");

            IOException e = assertThrows(IOException.class,
                    () -> open(config, new MutableClock()), files);

            assertTrue(e.getMessage().contains("CA certificate file " + missing),
                    e.getMessage());
            assertTrue(e.getMessage().contains("device.backend.config.ca_cert_files"),
                    e.getMessage());
        }
    }

    private static void pushTrusting(Path ca, Repository repository) throws IOException {
        pushTrusting(ca, repository, CredentialProvider.anonymous());
    }

    private static void pushTrusting(Path ca, Repository repository,
            CredentialProvider credentials) throws IOException {
        try (RegistryClient client = RegistryClient.builder().caCertificateFile(ca)
                .credentials(credentials).retryPolicy(RetryPolicy.NONE).build();
                InputStream in = Files.newInputStream(image.blobFile)) {
            client.pushBlob(repository, image.digest, Files.size(image.blobFile), in);
        }
    }

    @Test
    void proxyIsUsedAndFallsBack() throws Exception {
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + plain.address())) {
            String proxyConfig = ", \"proxy\": {\"url\": \"http://" + proxy.address()
                    + "\", \"fallback\": true, \"check_interval\": 600}";
            int plainBefore = blobGets(plain);
            try (ImageStorage storage = open(config(plain, proxyConfig), new MutableClock())) {
                image.read(storage, names().get(0));
                int viaProxy = proxy.requests().size();
                assertTrue(viaProxy > 0);

                proxy.failNext(1);
                assertArrayEquals(image.files.get(names().get(1)),
                        image.read(storage, names().get(1)));
                assertEquals(viaProxy + 1, proxy.requests().size());
                assertTrue(blobGets(plain) > plainBefore + viaProxy);
            }
        }
    }

    @Test
    @Timeout(60)
    void stalledProxyBodyFallsBackToRegistry() throws Exception {
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + plain.address())) {
            String proxyConfig = ", \"proxy\": {\"url\": \"http://" + proxy.address()
                    + "\", \"fallback\": true, \"check_interval\": 600}";
            proxy.stallBodiesAfter(100);
            int plainBefore = blobGets(plain);
            ListAppender<ILoggingEvent> logs = captureLogs();
            try (ImageStorage storage = open(config(plain, proxyConfig), new MutableClock())) {
                byte[] read = image.read(storage, names().get(0));

                assertArrayEquals(image.files.get(names().get(0)), read);
                assertTrue(blobGets(plain) > plainBefore);
            } finally {
                backendLogger().detachAppender(logs);
            }
            assertTrue(logs.list.stream().map(ILoggingEvent::getFormattedMessage).anyMatch(
                    m -> m.contains("failed after 100 of ") && m.contains("no response data")),
                    logs.list.toString());
        }
    }

    @Test
    @Timeout(60)
    void stalledRegistryBodyFailsRead() throws Exception {
        try (ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            try (ImageStorage storage = open(config(front.address(), REPO,
                    ", \"timeout\": 1"), new MutableClock())) {
                image.read(storage, names().get(0));
                front.stallBodiesAfter(100);

                IOException e = assertThrows(IOException.class,
                        () -> image.read(storage, names().get(1)));

                String message = String.valueOf(e.getMessage());
                assertTrue(message.contains("no response data for 1000 ms"), message);
                assertTrue(message.contains("failed after 1 attempt"), message);
                assertTrue(message.contains(image.blobId()), message);
            }
        }
    }

    @Test
    void proxyWithoutFallbackFails() throws Exception {
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + plain.address())) {
            String proxyConfig = ", \"proxy\": {\"url\": \"http://" + proxy.address()
                    + "\", \"fallback\": false}";
            try (ImageStorage storage = open(config(plain, proxyConfig), new MutableClock())) {
                proxy.failNext(1);
                IOException e = assertThrows(IOException.class,
                        () -> image.read(storage, names().get(0)));
                assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
            }
        }
    }

    @Test
    @Timeout(60)
    void retryAfterIsWaitedBeforeRetrying() throws Exception {
        try (ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            try (ImageStorage storage = open(config(front.address(), REPO,
                    ", \"retry_limit\": 1"), new MutableClock())) {
                front.rejectFor(Duration.ofMillis(1500), 429, "2");

                byte[] read = image.read(storage, names().get(0));

                assertArrayEquals(image.files.get(names().get(0)), read);
                assertEquals(0L, storage.backendMetrics().get("read_errors"));
            }
        }
    }

    @Test
    @Timeout(60)
    void retryAfterIsCappedByTimeout() throws Exception {
        try (ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            try (ImageStorage storage = open(config(front.address(), REPO,
                    ", \"retry_limit\": 1, \"timeout\": 1"), new MutableClock())) {
                front.rejectFor(Duration.ofMillis(500), 503, "3600");

                byte[] read = image.read(storage, names().get(0));

                assertArrayEquals(image.files.get(names().get(0)), read);
            }
        }
    }

    @Test
    void unreachableRedirectTargetIsNamed() throws Exception {
        int closedPort;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1,
                java.net.InetAddress.getLoopbackAddress())) {
            closedPort = socket.getLocalPort();
        }
        String target = "127.0.0.1:" + closedPort;
        try (ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            front.redirectBlobsTo("http://" + target);
            try (ImageStorage storage = open(config(front.address(), REPO, ""),
                    new MutableClock())) {
                IOException e = assertThrows(IOException.class,
                        () -> image.read(storage, names().get(0)));

                String message = String.valueOf(e.getMessage());
                assertTrue(message.contains(target), message);
                assertFalse(message.contains("could not connect to " + front.address()),
                        message);
            }
        }
    }

    @Test
    void expiredStorageUrlIsFetchedAgain() throws Exception {
        try (ForwardingProxy storageHost = ForwardingProxy.start("http://" + plain.address());
                ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            front.redirectBlobsTo("http://" + storageHost.address());
            try (ImageStorage storage = open(config(front.address(), REPO, ""),
                    new MutableClock())) {
                storageHost.failNext(1, 403);

                byte[] read = image.read(storage, names().get(0));

                assertArrayEquals(image.files.get(names().get(0)), read);
                assertEquals(0L, storage.backendMetrics().get("read_errors"));
            }
        }
    }

    @Test
    void expiredSignedUrlAsksRegistryOnce() throws Exception {
        String signature = "Signature=expired-Secret-31";
        String blobPath = "/v2/" + REPO + "/blobs/" + image.digest;
        try (ForwardingProxy storageHost = ForwardingProxy.start("http://" + plain.address());
                ForwardingProxy front = ForwardingProxy.start("http://" + plain.address());
                LogCapture logs = new LogCapture("io.nydus")) {
            front.redirectBlobsTo("http://" + storageHost.address(), "?" + signature);
            try (ImageStorage storage = open(config(front.address(), REPO, ""),
                    new MutableClock())) {
                assertArrayEquals(image.files.get(names().get(0)),
                        image.read(storage, names().get(0)));
                storageHost.failNext(1, 403);

                byte[] read = image.read(storage, names().get(1));

                assertArrayEquals(image.files.get(names().get(1)), read);
                assertEquals(0L, storage.backendMetrics().get("read_errors"));
            }
            assertEquals(List.of("GET " + blobPath, "GET " + blobPath), front.requests());
            List<String> expired = logs.messages().stream()
                    .filter(m -> m.contains("signature has expired")).toList();
            assertEquals(1, expired.size(), logs.messages().toString());
            assertTrue(expired.getFirst().contains("blob " + image.digest), expired.toString());
            assertTrue(expired.getFirst().contains("HTTP 403"), expired.toString());
            assertTrue(expired.getFirst().contains("http://" + storageHost.address()),
                    expired.toString());
            for (String message : logs.messages()) {
                assertFalse(message.contains(signature), message);
            }
        }
    }

    /**
     * When the storage service also rejects the new URL that the registry gives for an expired
     * one, the read fails without asking the registry a third time.
     */
    @Test
    void rejectedNewUrlAsksRegistryOnce() throws Exception {
        try (ForwardingProxy storageHost = ForwardingProxy.start("http://" + plain.address());
                ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            front.redirectBlobsTo("http://" + storageHost.address(), "?Signature=revoked-9");
            StorageConfig config = config(front.address(), REPO, ", \"retry_limit\": 0");
            try (RegistryBackend backend = RegistryBackend.open(
                    (RegistryConfig) config.backend(), new BackendMetrics(),
                    new MutableClock())) {
                backend.read(image.blobId(), 0, ByteBuffer.allocate(64));
                storageHost.failNext(5, 403);

                IOException e = assertThrows(IOException.class,
                        () -> backend.read(image.blobId(), 64, ByteBuffer.allocate(64)));

                assertTrue(e.getMessage().contains("HTTP 403"), e.getMessage());
                assertFalse(e.getMessage().contains("revoked-9"), e.getMessage());
            }
            assertEquals(2, front.requests().size(), front.requests().toString());
            assertEquals(3, storageHost.requests().size(), storageHost.requests().toString());
        }
    }

    @Test
    @Timeout(60)
    void storageRetryAfterIsWaited() throws Exception {
        try (ForwardingProxy storageHost = ForwardingProxy.start("http://" + plain.address());
                ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            front.redirectBlobsTo("http://" + storageHost.address());
            try (ImageStorage storage = open(config(front.address(), REPO,
                    ", \"retry_limit\": 1"), new MutableClock())) {
                storageHost.rejectFor(Duration.ofMillis(1500), 503, "2");

                byte[] read = image.read(storage, names().get(0));

                assertArrayEquals(image.files.get(names().get(0)), read);
                assertEquals(0L, storage.backendMetrics().get("read_errors"));
            }
        }
    }

    @Test
    void expiredStorageUrlKeepsPresetToken() throws Exception {
        String token = fetchToken();
        try (ForwardingProxy storageHost = ForwardingProxy.start("http://" + plain.address());
                ForwardingProxy front = ForwardingProxy.start("http://"
                        + tokenRegistry.address());
                LogCapture logs = new LogCapture("io.nydus.storage")) {
            front.redirectBlobsTo("http://" + storageHost.address());
            try (ImageStorage storage = open(config(front.address(), REPO,
                    ", \"retry_limit\": 1, \"registry_token\": \"" + token + "\""),
                    new MutableClock())) {
                storageHost.failNext(1, 403);

                byte[] read = image.read(storage, names().get(0));

                assertArrayEquals(image.files.get(names().get(0)), read);
            }
            assertFalse(logs.messages().stream().anyMatch(m -> m.contains("preset")),
                    logs.messages().toString());
            assertTrue(logs.messages().stream().anyMatch(m -> m.contains("HTTP 403 from http://"
                    + storageHost.address() + ", where it was redirected")),
                    logs.messages().toString());
        }
    }

    @Test
    void encodedMirrorRangeFallsBackToRegistry() throws Exception {
        try (RawServer encoding = new RawServer((index, socket, head) -> {
            // Each response states the requested range, with a body of that length.
            String range = head.lines().filter(l -> l.toLowerCase().startsWith("range:"))
                    .findFirst().orElseThrow().substring(6).strip();
            String[] bounds = range.substring("bytes=".length()).split("-");
            int length = (int) (Long.parseLong(bounds[1]) - Long.parseLong(bounds[0]) + 1);
            RawServer.write(socket, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes "
                    + bounds[0] + "-" + bounds[1] + "/*\r\nContent-Encoding: gzip\r\n"
                    + "Content-Length: " + length + "\r\nConnection: close\r\n\r\n",
                    new byte[length]);
        }); LogCapture logs = new LogCapture("io.nydus.storage")) {
            String mirrors = ", \"mirrors\": [{\"host\": \"http://" + encoding.address()
                    + "\", \"failure_limit\": 1, \"health_check_interval\": 600}]";
            try (ImageStorage storage = open(config(plain, mirrors), new MutableClock())) {
                byte[] read = image.read(storage, names().get(0));

                assertArrayEquals(image.files.get(names().get(0)), read);
            }
            assertTrue(logs.messages().stream().anyMatch(m -> m.contains(encoding.address())
                    && m.contains("Content-Encoding gzip")), logs.messages().toString());
        }
    }

    @Test
    void missingBlobCountsOneAttempt() throws Exception {
        int before = blobGets(plain);
        try (ImageStorage storage = open(config(plain.address(), "storage/absent",
                ", \"retry_limit\": 2"), new MutableClock())) {
            IOException e = assertThrows(IOException.class,
                    () -> image.read(storage, names().get(0)));

            String message = String.valueOf(e.getMessage());
            assertTrue(message.contains("failed after 1 attempt:"), message);
            assertFalse(message.contains("3 attempt"), message);
        }
        assertEquals(before + 1, blobGets(plain));
    }

    @Test
    void rangeOutsideBlobIsNotRetried() throws Exception {
        try (RawServer shorter = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */1234\r\n"
                        + "Content-Length: 0\r\nConnection: close\r\n\r\n", new byte[0]));
                ImageStorage storage = open(config(shorter.address(), REPO,
                        ", \"retry_limit\": 2"), new MutableClock())) {
            IOException e = assertThrows(IOException.class,
                    () -> image.read(storage, names().get(0)));

            String message = String.valueOf(e.getMessage());
            assertTrue(message.contains("HTTP 416"), message);
            assertTrue(message.contains("the blob has 1234 bytes"), message);
            assertTrue(message.contains("failed after 1 attempt:"), message);
            assertEquals(1, shorter.connections());
        }
    }

    @Test
    void shiftedRangeIsDetectedAndRetried() throws Exception {
        try (ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            try (ImageStorage storage = open(config(front.address(), REPO,
                    ", \"retry_limit\": 1"), new MutableClock())) {
                image.read(storage, names().get(0));
                front.shiftNextRanges(1, 1);

                byte[] read = image.read(storage, names().get(1));

                assertArrayEquals(image.files.get(names().get(1)), read);
                assertEquals(0L, storage.backendMetrics().get("read_errors"));
                assertEquals(1L, storage.backendMetrics().get("read_retries"));
            }
        }
    }

    @Test
    void shiftedRangeFailureNamesBothRanges() throws Exception {
        try (ForwardingProxy front = ForwardingProxy.start("http://" + plain.address())) {
            try (ImageStorage storage = open(config(front.address(), REPO, ""),
                    new MutableClock())) {
                image.read(storage, names().get(0));
                Chunk chunk = image.chunks.get(names().get(1)).getFirst();
                long first = chunk.compressedOffset();
                front.shiftNextRanges(1, 1);

                IOException e = assertThrows(IOException.class,
                        () -> image.read(storage, names().get(1)));

                String message = String.valueOf(e.getMessage());
                assertTrue(message.contains("Content-Range bytes " + (first + 1) + "-"),
                        message);
                assertTrue(message.contains("bytes " + first + "-"), message);
                assertTrue(message.contains(image.blobId()), message);
                assertTrue(message.contains(front.address()), message);
            }
        }
    }

    @Test
    void corruptBlobErrorNamesRegistry() throws Exception {
        Chunk chunk = image.chunks.get(names().get(2)).getFirst();
        Path stored = plain.blobFile(image.digest);
        long at = chunk.compressedOffset() + chunk.compressedSize() / 2;
        flip(stored, at);
        try (ImageStorage storage = open(config(plain, ""), new MutableClock())) {
            IOException e = assertThrows(IOException.class,
                    () -> image.read(storage, names().get(2)));

            String message = String.valueOf(e.getMessage());
            assertTrue(message.contains("digest mismatch"), message);
            assertTrue(message.contains(image.blobId()), message);
            assertTrue(message.contains(plain.address()), message);
        } finally {
            flip(stored, at);
        }
    }

    private static void flip(Path file, long offset) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(offset);
            int value = raf.read();
            raf.seek(offset);
            raf.write(value ^ 0xff);
        }
    }

    private static ListAppender<ILoggingEvent> captureLogs() {
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        backendLogger().addAppender(appender);
        return appender;
    }

    private static Logger backendLogger() {
        return (Logger) LoggerFactory.getLogger(RegistryBackend.class);
    }

    private static int blobGets(RegistryServer registry) throws Exception {
        return (int) registry.accessLog().stream()
                .filter(e -> e.method().equals("GET") && e.path().contains(image.blobId()))
                .count();
    }
}
