package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Cases no real registry acts out, played by small servers on 127.0.0.1: redirects to another
 * host, connection resets and bodies cut short.
 */
class MockedTransportTest {

    private static final RetryPolicy FAST_RETRIES = new RetryPolicy(5, Duration.ofMillis(1),
            Duration.ofMillis(5), Duration.ofSeconds(30));
    private static final Credentials CREDENTIALS = new Credentials("carol", "redirect-Secret");

    /** A server that requires Basic auth and redirects blob reads to {@code target}. */
    private static HttpServer redirectingServer(String target, List<String> seen)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v2/", exchange -> {
            try (exchange) {
                String authorization = exchange.getRequestHeaders().getFirst("Authorization");
                seen.add(String.valueOf(authorization));
                if (authorization == null) {
                    exchange.getResponseHeaders().set("WWW-Authenticate", "Basic realm=\"t\"");
                    exchange.sendResponseHeaders(401, -1);
                    return;
                }
                exchange.getResponseHeaders().set("Location", target);
                exchange.sendResponseHeaders(307, -1);
            }
        });
        return server;
    }

    private static HttpServer storageServer(byte[] data, List<String> seen) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/storage/", exchange -> serve(exchange, data, seen));
        return server;
    }

    private static void serve(HttpExchange exchange, byte[] data, List<String> seen)
            throws IOException {
        try (exchange) {
            seen.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            exchange.sendResponseHeaders(200, data.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(data);
            }
        }
    }

    /** Starts a storage service on 127.0.0.1 that serves {@code /storage/} with {@code handler}. */
    private static HttpServer storageHost(com.sun.net.httpserver.HttpHandler handler)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/storage/", handler);
        server.start();
        return server;
    }

    private static RegistryClient client(String registry, RetryPolicy retries)
            throws IOException {
        return RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP)
                .credentials(CredentialProvider.of(Map.of(registry, CREDENTIALS)))
                .retryPolicy(retries).build();
    }

    @Test
    void redirectToOtherHostDropsAuthorization() throws Exception {
        byte[] data = TestBlobs.random(5000, 51);
        Digest digest = Digest.of(data);
        List<String> registrySeen = new CopyOnWriteArrayList<>();
        List<String> storageSeen = new CopyOnWriteArrayList<>();
        HttpServer storage = storageServer(data, storageSeen);
        storage.start();
        String target = "http://127.0.0.1:" + storage.getAddress().getPort() + "/storage/blob";
        HttpServer registry = redirectingServer(target, registrySeen);
        registry.start();
        String address = "127.0.0.1:" + registry.getAddress().getPort();
        try (RegistryClient client = client(address, FAST_RETRIES);
                InputStream in = client.getBlob(new Repository(address, "app"), digest)) {
            assertArrayEquals(data, in.readAllBytes());
        } finally {
            registry.stop(0);
            storage.stop(0);
        }

        assertEquals(List.of("null", CREDENTIALS.basicAuthorization()), registrySeen);
        assertEquals(List.of("null"), storageSeen);
    }

    @Test
    void uploadLocationOnOtherHostGetsNoAuthorization() throws Exception {
        byte[] data = TestBlobs.random(3000, 53);
        List<String> storageSeen = new CopyOnWriteArrayList<>();
        HttpServer storage = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        storage.createContext("/upload/", exchange -> {
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                storageSeen.add(exchange.getRequestMethod() + " " + exchange.getRequestHeaders()
                        .getFirst("Authorization"));
                exchange.sendResponseHeaders(201, -1);
            }
        });
        storage.start();
        String uploadUrl = "http://127.0.0.1:" + storage.getAddress().getPort() + "/upload/1";
        HttpServer registry = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        // The registry requires Basic auth and sends uploads to a storage host of its own.
        registry.createContext("/v2/", exchange -> {
            try (exchange) {
                if (exchange.getRequestHeaders().getFirst("Authorization") == null) {
                    exchange.getResponseHeaders().set("WWW-Authenticate", "Basic realm=\"t\"");
                    exchange.sendResponseHeaders(401, -1);
                } else if (exchange.getRequestMethod().equals("POST")) {
                    exchange.getResponseHeaders().set("Location", uploadUrl);
                    exchange.sendResponseHeaders(202, -1);
                } else {
                    exchange.sendResponseHeaders(404, -1);
                }
            }
        });
        registry.start();
        String address = "127.0.0.1:" + registry.getAddress().getPort();
        try (RegistryClient client = client(address, FAST_RETRIES)) {
            client.pushBlob(new Repository(address, "app"), Digest.of(data), data.length,
                    BlobSource.of(data));
        } finally {
            registry.stop(0);
            storage.stop(0);
        }

        assertEquals(List.of("PUT null"), storageSeen);
    }

    @Test
    void redirectToSameHostKeepsAuthorization() throws Exception {
        byte[] data = TestBlobs.random(100, 52);
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer registry = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        String address = "127.0.0.1:" + registry.getAddress().getPort();
        List<String> registrySeen = new CopyOnWriteArrayList<>();
        registry.createContext("/v2/", redirectingServerHandler(
                "http://" + address + "/storage/blob", registrySeen));
        registry.createContext("/storage/", exchange -> serve(exchange, data, seen));
        registry.start();
        try (RegistryClient client = client(address, FAST_RETRIES);
                InputStream in = client.getBlob(new Repository(address, "app"),
                        Digest.of(data))) {
            assertArrayEquals(data, in.readAllBytes());
        } finally {
            registry.stop(0);
        }

        assertEquals(List.of(CREDENTIALS.basicAuthorization()), seen);
    }

    private static com.sun.net.httpserver.HttpHandler redirectingServerHandler(String target,
            List<String> seen) {
        return exchange -> {
            try (exchange) {
                String authorization = exchange.getRequestHeaders().getFirst("Authorization");
                seen.add(String.valueOf(authorization));
                if (authorization == null) {
                    exchange.getResponseHeaders().set("WWW-Authenticate", "Basic realm=\"t\"");
                    exchange.sendResponseHeaders(401, -1);
                    return;
                }
                exchange.getResponseHeaders().set("Location", target);
                exchange.sendResponseHeaders(307, -1);
            }
        };
    }

    @Test
    void retriesAfterConnectionReset() throws Exception {
        byte[] manifest = "{\"schemaVersion\":2,\"manifests\":[]}"
                .getBytes(StandardCharsets.UTF_8);
        try (RawServer server = new RawServer((index, socket, head) -> {
            if (index < 2) {
                RawServer.reset(socket);
                return;
            }
            RawServer.write(socket, "HTTP/1.1 200 OK\r\nContent-Type: "
                    + MediaTypes.OCI_INDEX + "\r\nContent-Length: " + manifest.length
                    + "\r\nConnection: close\r\n\r\n", manifest);
        }); RegistryClient client = client(server.address(), FAST_RETRIES)) {
            ImageReference reference = new Repository(server.address(), "app").tag("v1");

            ManifestContent content = client.getManifest(reference);

            assertArrayEquals(manifest, content.bytes());
            assertTrue(server.connections() >= 3, "connections: " + server.connections());
        }
    }

    @Test
    void retriesAfterResponseTimeout() throws Exception {
        byte[] manifest = "{\"schemaVersion\":2,\"manifests\":[]}"
                .getBytes(StandardCharsets.UTF_8);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (RawServer server = new RawServer((index, socket, head) -> {
            if (index == 0) {
                awaitQuietly(release);
                return;
            }
            RawServer.write(socket, "HTTP/1.1 200 OK\r\nContent-Type: "
                    + MediaTypes.OCI_INDEX + "\r\nContent-Length: " + manifest.length
                    + "\r\nConnection: close\r\n\r\n", manifest);
        }); RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).retryPolicy(FAST_RETRIES)
                .requestTimeout(Duration.ofMillis(200)).build()) {
            ImageReference reference = new Repository(server.address(), "app").tag("v1");

            ManifestContent content = client.getManifest(reference);
            release.countDown();

            assertArrayEquals(manifest, content.bytes());
            assertTrue(server.connections() >= 2, "connections: " + server.connections());
        }
    }

    @Test
    void interruptedUploadIsNotRestarted() throws Exception {
        CountDownLatch putArrived = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (RawServer server = new RawServer((index, socket, head) -> {
            if (head.startsWith("HEAD ")) {
                RawServer.write(socket, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                        + "Connection: close\r\n\r\n", new byte[0]);
                return;
            }
            if (head.startsWith("POST ")) {
                RawServer.write(socket, "HTTP/1.1 202 Accepted\r\nLocation: /v2/app/blobs/"
                        + "uploads/u1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        new byte[0]);
                return;
            }
            if (head.startsWith("PUT ")) {
                putArrived.countDown();
            }
            awaitQuietly(release);
        }); RegistryClient client = client(server.address(), FAST_RETRIES);
                LogCapture log = new LogCapture("io.nydus.registry")) {
            byte[] blob = "blob".getBytes(StandardCharsets.UTF_8);
            Repository repository = new Repository(server.address(), "app");
            CompletableFuture<Throwable> failure = new CompletableFuture<>();
            Thread pusher = Thread.ofPlatform().start(() -> {
                try {
                    client.pushBlob(repository, Digest.of(blob), blob.length,
                            BlobSource.of(blob));
                    failure.complete(null);
                } catch (IOException | RuntimeException e) {
                    failure.complete(e);
                }
            });
            boolean arrived = putArrived.await(30, TimeUnit.SECONDS);
            if (!arrived) {
                release.countDown();
            }
            assertTrue(arrived, "no PUT arrived");

            pusher.interrupt();
            Throwable thrown = failure.get(30, TimeUnit.SECONDS);
            release.countDown();

            assertTrue(thrown instanceof IOException, String.valueOf(thrown));
            assertTrue(log.messages().stream().noneMatch(line -> line.contains("restarting")),
                    log.messages().toString());
        }
    }

    @Test
    void cancelDoesNotWaitForStalledCancel() throws Exception {
        CountDownLatch deleteArrived = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (RawServer server = new RawServer((index, socket, head) -> {
            if (head.startsWith("DELETE ")) {
                deleteArrived.countDown();
                awaitQuietly(release);
                RawServer.write(socket, "HTTP/1.1 204 No Content\r\nConnection: close"
                        + "\r\n\r\n", new byte[0]);
                return;
            }
            RawServer.write(socket, "HTTP/1.1 202 Accepted\r\nLocation: /v2/app/blobs/uploads/1"
                    + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", new byte[0]);
        }); RegistryClient client = client(server.address(), FAST_RETRIES)) {
            BlobUpload upload = client.startUpload(new Repository(server.address(), "app"));
            Thread first = Thread.ofVirtual().start(upload::cancel);
            try {
                assertTrue(deleteArrived.await(30, TimeUnit.SECONDS));

                // A cancel that waited for the first one would wait as long as the registry
                // stalls, up to the request timeout.
                assertTimeoutPreemptively(Duration.ofSeconds(20), upload::cancel);

                assertTrue(first.isAlive());
            } finally {
                release.countDown();
            }
            first.join();
        }
    }

    private static void awaitQuietly(java.util.concurrent.CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void connectionResetWithoutRetriesNamesManifest() throws Exception {
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.reset(socket));
                RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            ImageReference reference = new Repository(server.address(), "app").tag("v1");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.getManifest(reference));

            assertTrue(e.getMessage().contains("manifest v1 in " + server.address() + "/app"),
                    e.getMessage());
            assertTrue(e.isTransient());
        }
    }

    @Test
    void bodyCutShortNamesBlob() throws Exception {
        byte[] data = TestBlobs.random(1000, 53);
        Digest digest = Digest.of(data);
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n",
                java.util.Arrays.copyOf(data, 100)));
                RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            Repository repository = new Repository(server.address(), "app");

            RegistryException e = assertThrows(RegistryException.class, () -> {
                try (InputStream in = client.getBlob(repository, digest)) {
                    in.readAllBytes();
                }
            });

            assertTrue(e.getMessage().contains("blob " + digest + " in " + repository),
                    e.getMessage());
            assertTrue(e.getMessage().contains("after 100 bytes"), e.getMessage());
        }
    }

    @Test
    void downloadResumesWithRange() throws Exception {
        byte[] data = TestBlobs.random(1000, 55);
        Digest digest = Digest.of(data);
        List<String> heads = new CopyOnWriteArrayList<>();
        try (RawServer server = new RawServer((index, socket, head) -> {
            heads.add(head);
            if (index == 0) {
                RawServer.write(socket, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"
                        + "Connection: close\r\n\r\n", java.util.Arrays.copyOf(data, 100));
                return;
            }
            RawServer.write(socket, "HTTP/1.1 206 Partial Content\r\nContent-Length: 900\r\n"
                    + "Content-Range: bytes 100-999/1000\r\nConnection: close\r\n\r\n",
                    java.util.Arrays.copyOfRange(data, 100, 1000));
        }); RegistryClient client = client(server.address(), FAST_RETRIES)) {
            Repository repository = new Repository(server.address(), "app");

            byte[] read;
            try (InputStream in = client.getBlob(repository, digest)) {
                read = in.readAllBytes();
            }

            assertArrayEquals(data, read);
            assertEquals(2, heads.size());
            assertTrue(heads.get(1).toLowerCase().contains("range: bytes=100-"), heads.get(1));
        }
    }

    @Test
    void resumeIgnoredByServerFails() throws Exception {
        byte[] data = TestBlobs.random(1000, 56);
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n",
                index == 0 ? java.util.Arrays.copyOf(data, 100) : data));
                RegistryClient client = client(server.address(), FAST_RETRIES)) {
            Repository repository = new Repository(server.address(), "app");

            UnexpectedStatusException e = assertThrows(UnexpectedStatusException.class, () -> {
                try (InputStream in = client.getBlob(repository, Digest.of(data))) {
                    in.readAllBytes();
                }
            });

            assertTrue(e.getMessage().contains("from byte 100"), e.getMessage());
        }
    }

    @Test
    void stalledBodyTimesOut() throws Exception {
        byte[] data = TestBlobs.random(1000, 57);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (RawServer server = new RawServer((index, socket, head) -> {
            RawServer.write(socket, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                    java.util.Arrays.copyOf(data, 100));
            awaitQuietly(release);
        }); RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).retryPolicy(RetryPolicy.NONE)
                .readTimeout(Duration.ofMillis(200)).build()) {
            Repository repository = new Repository(server.address(), "app");

            RegistryException e = assertThrows(RegistryException.class, () -> {
                try (InputStream in = client.getBlob(repository, Digest.of(data))) {
                    in.readAllBytes();
                }
            });
            release.countDown();

            assertTrue(e.getMessage().contains("after 100 bytes"), e.getMessage());
            assertTrue(e.getMessage().contains("no response data for 200 ms"), e.getMessage());
        }
    }

    @Test
    void rangeIgnoredByServerIsRejected() throws Exception {
        byte[] data = TestBlobs.random(64, 54);
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 200 OK\r\nContent-Length: 64\r\nConnection: close\r\n\r\n", data));
                RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            Repository repository = new Repository(server.address(), "app");

            UnexpectedStatusException e = assertThrows(UnexpectedStatusException.class,
                    () -> client.getBlobRange(repository, Digest.of(data), 0, 8));

            assertTrue(e.getMessage().contains("ignored the Range header"), e.getMessage());
        }
    }

    @Test
    void manifestWithWrongDigestHeaderIsRejected() throws Exception {
        byte[] manifest = "{\"schemaVersion\":2,\"manifests\":[]}"
                .getBytes(StandardCharsets.UTF_8);
        Digest other = Digest.of(new byte[] {1});
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 200 OK\r\nContent-Type: " + MediaTypes.OCI_INDEX
                        + "\r\nDocker-Content-Digest: " + other + "\r\nContent-Length: "
                        + manifest.length + "\r\nConnection: close\r\n\r\n", manifest));
                RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            ImageReference reference = new Repository(server.address(), "app").tag("v1");

            DigestMismatchException e = assertThrows(DigestMismatchException.class,
                    () -> client.getManifest(reference));

            assertEquals(other, e.expected());
            assertEquals(Digest.of(manifest), e.actual());
        }
    }

    @Test
    void manifestByDigestIsVerified() throws Exception {
        byte[] manifest = "{\"schemaVersion\":2,\"manifests\":[]}"
                .getBytes(StandardCharsets.UTF_8);
        Digest requested = Digest.of(new byte[] {2});
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 200 OK\r\nContent-Type: " + MediaTypes.OCI_INDEX
                        + "\r\nContent-Length: " + manifest.length
                        + "\r\nConnection: close\r\n\r\n", manifest));
                RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            ImageReference reference = new Repository(server.address(), "app")
                    .digest(requested);

            DigestMismatchException e = assertThrows(DigestMismatchException.class,
                    () -> client.getManifest(reference));

            assertEquals(requested, e.expected());
            assertTrue(e.getMessage().contains("manifest " + requested), e.getMessage());
        }
    }

    @Test
    void acceptHeaderListsAllManifestTypes() throws Exception {
        List<String> heads = new CopyOnWriteArrayList<>();
        byte[] manifest = "{\"schemaVersion\":2,\"manifests\":[]}"
                .getBytes(StandardCharsets.UTF_8);
        try (RawServer server = new RawServer((index, socket, head) -> {
            heads.add(head);
            RawServer.write(socket, "HTTP/1.1 200 OK\r\nContent-Type: application/json"
                    + "\r\nContent-Length: " + manifest.length
                    + "\r\nConnection: close\r\n\r\n", manifest);
        }); RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            ManifestContent content = client.getManifest(
                    new Repository(server.address(), "app").tag("v1"));

            String accept = heads.getFirst().lines()
                    .filter(line -> line.toLowerCase().startsWith("accept:")).findFirst()
                    .orElse("");
            for (String type : MediaTypes.MANIFEST_TYPES) {
                assertTrue(accept.contains(type), accept);
            }
            assertEquals(MediaTypes.OCI_INDEX, content.mediaType());
            assertNull(content.toIndex().mediaType());
        }
    }

    @Test
    void redirectLoopEndsWithError() throws Exception {
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v2/", exchange -> {
            try (exchange) {
                seen.add(exchange.getRequestURI().getPath());
                exchange.getResponseHeaders().set("Location",
                        exchange.getRequestURI().getPath());
                exchange.sendResponseHeaders(302, -1);
            }
        });
        server.start();
        String address = "127.0.0.1:" + server.getAddress().getPort();
        Digest digest = Digest.of(new byte[] {1});
        try (RegistryClient client = client(address, FAST_RETRIES)) {
            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.getBlobRange(new Repository(address, "app"), digest, 0, 1));

            assertTrue(e.getMessage().contains("more than 10 redirects"), e.getMessage());
            assertTrue(e.getMessage().contains(digest.toString()), e.getMessage());
            assertEquals(11, seen.size());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void encodedRangeIsRejected() throws Exception {
        byte[] data = TestBlobs.random(64, 77);
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-7/64\r\n"
                        + "Content-Encoding: gzip\r\nContent-Length: 8\r\n\r\n",
                java.util.Arrays.copyOf(data, 8)));
                RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            Repository repository = new Repository(server.address(), "app");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.getBlobRange(repository, Digest.of(data), 0, 8));

            assertTrue(e.getMessage().contains("Content-Encoding gzip"), e.getMessage());
        }
    }

    @Test
    void encodedBlobIsRejected() throws Exception {
        byte[] data = TestBlobs.random(64, 78);
        try (RawServer server = new RawServer((index, socket, head) -> RawServer.write(socket,
                "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 64\r\n\r\n",
                data));
                RegistryClient client = client(server.address(), RetryPolicy.NONE)) {
            Repository repository = new Repository(server.address(), "app");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.getBlob(repository, Digest.of(data)).close());

            assertTrue(e.getMessage().contains("Content-Encoding br"), e.getMessage());
        }
    }

    @Test
    void storageChallengeLeavesRegistryLoginAlone() throws Exception {
        byte[] data = TestBlobs.random(300, 79);
        List<String> registrySeen = new CopyOnWriteArrayList<>();
        List<String> storageSeen = new CopyOnWriteArrayList<>();
        HttpServer storage = storageHost(exchange -> {
            if (storageSeen.size() < 2) {
                try (exchange) {
                    storageSeen.add("rejected");
                    exchange.getResponseHeaders().set("WWW-Authenticate",
                            "Bearer realm=\"http://127.0.0.1:1/storage-token\"");
                    exchange.sendResponseHeaders(401, -1);
                }
                return;
            }
            serve(exchange, data, storageSeen);
        });
        String target = "http://127.0.0.1:" + storage.getAddress().getPort() + "/storage/blob";
        HttpServer registry = redirectingServer(target, registrySeen);
        registry.start();
        String address = "127.0.0.1:" + registry.getAddress().getPort();
        Repository repository = new Repository(address, "app");
        try (RegistryClient client = client(address, RetryPolicy.NONE)) {
            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.getBlob(repository, Digest.of(data)));
            assertTrue(e.getMessage().contains("HTTP 401"), e.getMessage());

            try (InputStream in = client.getBlob(repository, Digest.of(data))) {
                assertArrayEquals(data, in.readAllBytes());
            }
        } finally {
            registry.stop(0);
            storage.stop(0);
        }

        String basic = CREDENTIALS.basicAuthorization();
        assertEquals(List.of("null", basic, basic, basic), registrySeen);
    }

    @Test
    void interruptedRedirectHidesSignature() throws Exception {
        CountDownLatch arrived = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        HttpServer storage = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        storage.createContext("/storage/", exchange -> {
            try (exchange) {
                arrived.countDown();
                awaitQuietly(release);
            }
        });
        storage.start();
        String target = "http://127.0.0.1:" + storage.getAddress().getPort()
                + "/storage/blob?X-Amz-Signature=sig-Secret-42";
        HttpServer registry = redirectingServer(target, new CopyOnWriteArrayList<>());
        registry.start();
        String address = "127.0.0.1:" + registry.getAddress().getPort();
        Digest digest = Digest.of(new byte[] {4});
        CompletableFuture<Throwable> failure = new CompletableFuture<>();
        try (RegistryClient client = client(address, FAST_RETRIES);
                LogCapture logs = new LogCapture()) {
            Thread reader = Thread.ofPlatform().start(() -> {
                try {
                    client.getBlobRange(new Repository(address, "app"), digest, 0, 1);
                    failure.complete(null);
                } catch (Throwable e) {
                    failure.complete(e);
                }
            });
            assertTrue(arrived.await(30, TimeUnit.SECONDS));
            reader.interrupt();
            Throwable e = failure.get(30, TimeUnit.SECONDS);

            assertTrue(e instanceof RegistryException, String.valueOf(e));
            assertFalse(e.getMessage().contains("sig-Secret-42"), e.getMessage());
            assertFalse(logs.messages().stream().anyMatch(m -> m.contains("sig-Secret-42")),
                    logs.messages().toString());
        } finally {
            release.countDown();
            registry.stop(0);
            storage.stop(0);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://127.0.0.1:1/a b", "ftp://127.0.0.1/blob",
        "storage.invalid:5000/blob", "http://"})
    void invalidRedirectLocationIsNamed(String location) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v2/", exchange -> {
            try (exchange) {
                exchange.getResponseHeaders().set("Location", location);
                exchange.sendResponseHeaders(307, -1);
            }
        });
        server.start();
        String address = "127.0.0.1:" + server.getAddress().getPort();
        Digest digest = Digest.of(new byte[] {5});
        try (RegistryClient client = client(address, FAST_RETRIES)) {
            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.getBlobRange(new Repository(address, "app"), digest, 0, 1));

            assertTrue(e.getMessage().contains("invalid redirect location"), e.getMessage());
            assertTrue(e.getMessage().contains(digest.toString()), e.getMessage());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void uploadLocationOfOtherSchemeIsNamed() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v2/", exchange -> {
            try (exchange) {
                boolean post = exchange.getRequestMethod().equals("POST");
                if (post) {
                    exchange.getResponseHeaders().set("Location", "ftp://127.0.0.1/upload/1");
                }
                exchange.sendResponseHeaders(post ? 202 : 404, -1);
            }
        });
        server.start();
        String address = "127.0.0.1:" + server.getAddress().getPort();
        byte[] data = TestBlobs.random(100, 80);
        try (RegistryClient client = client(address, RetryPolicy.NONE)) {
            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.pushBlob(new Repository(address, "app"), Digest.of(data),
                            data.length, BlobSource.of(data)));

            assertTrue(e.getMessage().contains("invalid Location header"), e.getMessage());
            assertTrue(e.getMessage().contains("ftp://127.0.0.1/upload/1"), e.getMessage());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void reusedRedirectGetsNoAuthorization() throws Exception {
        byte[] data = TestBlobs.random(4000, 83);
        List<String> registrySeen = new CopyOnWriteArrayList<>();
        List<String> storageSeen = new CopyOnWriteArrayList<>();
        HttpServer storage = storageHost(exchange -> {
            try (exchange) {
                storageSeen.add(String.valueOf(
                        exchange.getRequestHeaders().getFirst("Authorization")));
                String[] bounds = exchange.getRequestHeaders().getFirst("Range")
                        .substring("bytes=".length()).split("-");
                int first = Integer.parseInt(bounds[0]);
                int last = Integer.parseInt(bounds[1]);
                exchange.getResponseHeaders().set("Content-Range",
                        "bytes " + first + "-" + last + "/" + data.length);
                exchange.sendResponseHeaders(206, last - first + 1);
                exchange.getResponseBody().write(data, first, last - first + 1);
            }
        });
        String target = "http://127.0.0.1:" + storage.getAddress().getPort() + "/storage/blob";
        HttpServer registry = redirectingServer(target, registrySeen);
        registry.start();
        String address = "127.0.0.1:" + registry.getAddress().getPort();
        Repository repository = new Repository(address, "app");
        try (RegistryClient client = client(address, FAST_RETRIES)) {
            for (int offset = 0; offset < 300; offset += 100) {
                byte[] part = client.getBlobRange(repository, Digest.of(data), offset, 100);
                assertArrayEquals(java.util.Arrays.copyOfRange(data, offset, offset + 100),
                        part);
            }
        } finally {
            registry.stop(0);
            storage.stop(0);
        }

        assertEquals(List.of("null", CREDENTIALS.basicAuthorization()), registrySeen);
        assertEquals(List.of("null", "null", "null"), storageSeen);
    }
}
