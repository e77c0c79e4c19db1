package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.BuildResult;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.fuse.InflightRequest;
import io.nydus.storage.ErrorEvents;
import io.nydus.storage.config.RuntimeSettings;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The management API on a unix socket, with a shared daemon and the test blob data. */
class ApiServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TempDir work;
    private Daemon daemon;
    private ApiServer api;
    private Path socket;
    private Path bootstrap;
    private final List<String> levels = new ArrayList<>();
    /** The data side of every image that the daemon opened, in order. */
    private final List<DirectBlobData> opened = new CopyOnWriteArrayList<>();
    /** The number of images whose opening has started. */
    private final AtomicInteger opening = new AtomicInteger();
    /** How long opening an image takes, so that tests can overlap requests with it. */
    private volatile long openMillis;
    /** A gate that the next opening of an image waits at until the test opens it. */
    private final AtomicReference<CountDownLatch> nextOpenGate = new AtomicReference<>();

    @BeforeEach
    void start() throws IOException {
        work = TempDirs.create("api-");
        Path source = Files.createDirectories(work.resolve("source"));
        Files.writeString(source.resolve("hello"), "hello world");
        BuildResult image = TestImages.build(source, work.resolve("image"));
        bootstrap = image.bootstrapFile();
        Path blobs = work.resolve("image/blobs");
        daemon = new Daemon("test-daemon", true, (config, decoded, settings) -> {
            long millis = openMillis;
            CountDownLatch gate = nextOpenGate.getAndSet(null);
            opening.incrementAndGet();
            sleep(millis);
            await(gate);
            DirectBlobData data = new DirectBlobData(blobs, decoded.bootstrap().blobs());
            opened.add(data);
            return data;
        });
        daemon.running(work.resolve("mnt").toString());
        socket = work.resolve("api.sock");
        api = ApiServer.start(socket, daemon, "0.1.0", levels::add);
    }

    @AfterEach
    void stop() throws IOException {
        api.close();
        daemon.close();
        work.close();
    }

    private static void sleep(long millis) throws InterruptedIOException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("opening the test image was interrupted");
        }
    }

    private static void await(CountDownLatch gate) throws InterruptedIOException {
        if (gate == null) {
            return;
        }
        try {
            gate.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("opening the test image was interrupted");
        }
    }

    /** Reads the test file "hello" of the image at /{@code name} through the Vfs. */
    private String readHello(String name) throws FuseException {
        Vfs vfs = daemon.vfs();
        long dir = vfs.lookup(FuseFileSystem.ROOT, name.getBytes()).attr().inode();
        long file = vfs.lookup(dir, "hello".getBytes()).attr().inode();
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            var target = arena.allocate(64);
            int count = vfs.read(file, 0, 0, target);
            return new String(target.asSlice(0, count)
                    .toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    private long openDataSides() {
        return opened.stream().filter(data -> !data.closed).count();
    }

    private JsonNode backendCollection() throws IOException {
        return JSON.readTree(send("GET", "/api/v1/daemon", null).body()).path("backend_collection");
    }

    private ApiClient.Response send(String method, String target, String body)
            throws IOException {
        return ApiClient.send(socket, method, target, body);
    }

    private String mountBody() {
        return "{\"source\": \"" + bootstrap + "\", \"fs_type\": \"rafs\", \"config\": "
                + JSON.valueToTree("{\"fs_prefetch\": {\"enable\": false}}") + "}";
    }

    @Test
    void startKeepsRegularFileAtSocketPath() throws IOException {
        Path file = Files.writeString(work.resolve("not-a-socket"), "kept");

        IOException e = assertThrows(IOException.class,
                () -> ApiServer.start(file, daemon, "0.1.0", levels::add));

        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("is not a socket"), e.getMessage());
        assertEquals("kept", Files.readString(file));
    }

    @Test
    void startKeepsSocketOfLiveServer() throws IOException {
        Daemon other = new Daemon("other-daemon", true, (config, decoded, settings) -> {
            throw new IOException("the other daemon mounts nothing");
        });
        try (other) {
            IOException e = assertThrows(IOException.class,
                    () -> ApiServer.start(socket, other, "0.1.0", levels::add).close());

            assertTrue(e.getMessage().contains(socket.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("another process listens"), e.getMessage());
            JsonNode info = JSON.readTree(send("GET", "/api/v1/daemon", null).body());
            assertEquals("test-daemon", info.path("id").asText());
        }
    }

    @Test
    void startReplacesLeftoverSocketFile() throws IOException {
        Path leftover = work.resolve("leftover.sock");
        try (java.nio.channels.ServerSocketChannel old = java.nio.channels.ServerSocketChannel
                .open(java.net.StandardProtocolFamily.UNIX)) {
            old.bind(java.net.UnixDomainSocketAddress.of(leftover));
        }
        assertTrue(Files.exists(leftover), "closing a socket channel removed " + leftover);

        try (ApiServer second = ApiServer.start(leftover, daemon, "0.1.0", levels::add)) {
            assertEquals(200, ApiClient.send(leftover, "GET", "/api/v1/daemon", null)
                    .status());
        }
    }

    @Test
    void inflightListsRequestsAsUpstream() throws IOException {
        List<InflightRequest> requests = new ArrayList<>();
        daemon.running(work.resolve("mnt").toString(), () -> List.copyOf(requests));
        assertEquals(204, send("GET", "/api/v1/metrics/inflight", null).status());

        requests.add(new InflightRequest(42, 15, 7, 1_700_000_000L));
        ApiClient.Response response = send("GET", "/api/v1/metrics/inflight", null);

        assertEquals(200, response.status());
        JsonNode first = JSON.readTree(response.body()).get(0);
        assertEquals(42, first.path("inode").asLong());
        assertEquals(15, first.path("opcode").asInt());
        assertEquals(7, first.path("unique").asLong());
        assertEquals(1_700_000_000L, first.path("timestamp_secs").asLong());
    }

    @Test
    void eventsListLatestErrors() throws IOException {
        String message = "test event " + System.nanoTime();
        ErrorEvents.DAEMON.add(message);

        ApiClient.Response response = send("GET", "/api/v1/daemon/events", null);

        assertEquals(200, response.status());
        JsonNode events = JSON.readTree(response.body());
        assertEquals(500, events.path("max_errors").asInt());
        assertEquals(50 * 1024, events.path("max_size").asInt());
        assertEquals(events.path("errors").size(), events.path("total_errors").asInt());
        String last = events.path("errors").get(events.path("errors").size() - 1).asText();
        assertTrue(last.endsWith(" - " + message), last);
    }

    @Test
    void configKeepsRegistryAuthMasked() throws IOException {
        String auth = Base64.getEncoder().encodeToString("user:secret-pass"
                .getBytes(StandardCharsets.UTF_8));

        send("POST", "/api/v1/mount?mountpoint=/app", mountBody());
        ApiClient.Response put = send("PUT", "/api/v1/config?id=/app",
                "{\"registry_auth\": \"" + auth + "\"}");

        assertEquals(204, put.status(), put.body());
        assertEquals(Optional.of(auth),
                daemon.settings().get("/app", RuntimeSettings.Key.REGISTRY_AUTH));
        ApiClient.Response one = send("GET", "/api/v1/config?id=/app", null);
        assertEquals(200, one.status());
        assertEquals(ApiServer.MASKED, JSON.readTree(one.body()).path("registry_auth").asText());
        ApiClient.Response all = send("GET", "/api/v1/config", null);
        assertEquals(ApiServer.MASKED,
                JSON.readTree(all.body()).path("/app:registry_auth").asText());
        assertFalse(all.body().contains(auth), all.body());
    }

    @Test
    void configOfUnmountedIdIsNotFound() throws IOException {
        String body = "{\"registry_auth\": \"dXNlcjpwYXNz\"}";
        assertEquals(404, send("PUT", "/api/v1/config?id=/nothing", body).status());
        assertEquals(404, send("GET", "/api/v1/config?id=/nothing", null).status());
        send("POST", "/api/v1/mount?mountpoint=/gone", mountBody());
        assertEquals(204, send("PUT", "/api/v1/config?id=/gone", body).status());

        assertEquals(204, send("DELETE", "/api/v1/mount?mountpoint=/gone", null).status());

        assertEquals(Map.of(), daemon.settings().list("/gone"));
    }

    @Test
    void configRejectsBadSettings() throws IOException {
        String[][] cases = {
            {"{\"proxy_url\": \"http://127.0.0.1:1\"}", "is not supported by this nydusd"},
            {"{\"no_such_key\": \"x\"}", "unknown setting 'no_such_key'"},
            {"{\"registry_auth\": \"!!!\"}", "registry_auth is not valid base64"},
            {"{\"registry_auth\": \"bm9jb2xvbg==\"}", "does not decode to user:password"},
            {"{\"registry_auth\": 7}", "must be a string"},
            {"[]", "must be a JSON object"},
        };
        send("POST", "/api/v1/mount?mountpoint=/bad", mountBody());
        for (String[] c : cases) {
            ApiClient.Response response = send("PUT", "/api/v1/config?id=/bad", c[0]);


            assertEquals(400, response.status(), c[0]);
            assertTrue(response.body().contains(c[1]), c[0] + ": " + response.body());
        }
        assertEquals(Map.of(), daemon.settings().list("/bad"));
    }

    @Test
    void daemonInfoReportsStateAndVersion() throws IOException {
        ApiClient.Response response = send("GET", "/api/v1/daemon", null);
        assertEquals(200, response.status());
        JsonNode info = JSON.readTree(response.body());
        assertEquals("RUNNING", info.path("state").asText());
        assertEquals("test-daemon", info.path("id").asText());
        assertEquals("0.1.0", info.path("version").path("package_ver").asText());
    }

    @Test
    void mountServesTheImageBelowTheRoot() throws Exception {
        assertEquals(204, send("POST", "/api/v1/mount?mountpoint=/app", mountBody()).status());

        assertEquals("hello world", readHello("app"));
        JsonNode info = JSON.readTree(send("GET", "/api/v1/daemon", null).body());
        assertTrue(info.path("backend_collection").has("/app"));
    }

    @Test
    void umountRemovesTheImage() throws Exception {
        send("POST", "/api/v1/mount?mountpoint=/app", mountBody());
        assertEquals(204, send("DELETE", "/api/v1/mount?mountpoint=/app", null).status());
        assertTrue(daemon.mounts().isEmpty());
        assertEquals(409, send("DELETE", "/api/v1/mount?mountpoint=/app", null).status());
    }

    @Test
    void mountpointThatIsNotUtf8IsRejected() throws IOException {
        ApiClient.Response response = send("POST", "/api/v1/mount?mountpoint=/bad%ff%fe",
                mountBody());

        assertEquals(400, response.status());
        assertTrue(response.body().contains("query parameter 'mountpoint' is not UTF-8"),
                response.body());
        assertTrue(daemon.mounts().isEmpty());
    }

    @Test
    void invalidPercentEscapeIsRejected() throws IOException {
        ApiClient.Response response = send("DELETE", "/api/v1/mount?mountpoint=/a%zz", null);

        assertEquals(400, response.status());
        assertTrue(response.body().contains("invalid percent escape"), response.body());
    }

    @Test
    void encodedUtf8MountpointIsDecoded() throws IOException {
        assertEquals(204, send("POST", "/api/v1/mount?mountpoint=/caf%C3%A9", mountBody())
                .status());

        assertTrue(daemon.mounts().containsKey("/caf\u00e9"), daemon.mounts().toString());
    }

    @Test
    void secondMountAtSamePathConflicts() throws IOException {
        send("POST", "/api/v1/mount?mountpoint=/app", mountBody());
        ApiClient.Response again = send("POST", "/api/v1/mount?mountpoint=/app", mountBody());
        assertEquals(409, again.status());
        assertTrue(again.body().contains("/app"), again.body());
    }

    @Test
    void missingBootstrapNamesTheFile() throws IOException {
        String body = "{\"source\": \"" + work.resolve("absent") + "\", \"config\": \"{}\"}";
        ApiClient.Response response = send("POST", "/api/v1/mount?mountpoint=/x", body);
        assertEquals(400, response.status());
        assertTrue(response.body().contains("absent"), response.body());
        assertTrue(response.body().contains("not found"), response.body());
        assertFalse(daemon.mounts().containsKey("/x"));
    }

    @Test
    void sourceThatIsNoBootstrapIsInvalid() throws IOException {
        Path text = Files.writeString(work.resolve("notes.txt"), "not a bootstrap");
        String body = "{\"source\": \"" + text + "\", \"config\": \"{}\"}";

        ApiClient.Response response = send("POST", "/api/v1/mount?mountpoint=/x", body);

        assertEquals(400, response.status(), response.body());
        assertEquals("InvalidArgument", JSON.readTree(response.body()).path("code").asText());
        assertTrue(response.body().contains(text.toString()), response.body());
        assertEquals(0, backendCollection().size(), backendCollection().toString());
        assertEquals(List.of(), opened);
    }

    @Test
    void nestedMountpointRejected() throws IOException {
        ApiClient.Response response = send("POST", "/api/v1/mount?mountpoint=/a/b",
                mountBody());
        assertEquals(400, response.status());
        assertTrue(response.body().contains("/a/b"), response.body());

        assertEquals(0, backendCollection().size(), backendCollection().toString());
        assertEquals(List.of(), opened);
        assertEquals(400, send("POST", "/api/v1/mount?mountpoint=/a/b", mountBody()).status());
    }

    @Test
    void mountFailingAfterOpenClosesImage() throws IOException {
        // With every slot taken, the image opens and then fails to enter the Vfs.
        daemon.reserveSlotsBelow(1 << 15);

        ApiClient.Response response = send("POST", "/api/v1/mount?mountpoint=/app",
                mountBody());

        assertEquals(409, response.status());
        assertTrue(response.body().contains("all 32767 node id slots"), response.body());
        assertEquals(1, opened.size());
        assertEquals(0, openDataSides());
        assertEquals(0, backendCollection().size(), backendCollection().toString());
        assertTrue(daemon.mounts().isEmpty());
    }

    @Test
    void concurrentMountsAtSamePathOneWins() throws Exception {
        openMillis = 300;
        List<Future<ApiClient.Response>> responses = new ArrayList<>();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 10; i++) {
                responses.add(clients.submit(() -> send("POST",
                        "/api/v1/mount?mountpoint=/same", mountBody())));
            }
        }
        List<Integer> statuses = new ArrayList<>();
        for (Future<ApiClient.Response> response : responses) {
            statuses.add(response.get().status());
        }

        assertEquals(1, Collections.frequency(statuses, 204), statuses.toString());
        assertEquals(9, Collections.frequency(statuses, 409), statuses.toString());
        assertEquals(1, openDataSides());
        assertEquals(204, send("DELETE", "/api/v1/mount?mountpoint=/same", null).status());
        assertEquals(0, openDataSides());
        assertEquals(0, backendCollection().size(), backendCollection().toString());
    }

    @Test
    void slowMountBlocksNeitherReadsNorOtherPaths() throws Exception {
        send("POST", "/api/v1/mount?mountpoint=/ready", mountBody());
        // The mount at /slow stays in its opening until the gate opens, however slow the
        // machine is, so the other requests overlap it for certain.
        CountDownLatch slowOpen = new CountDownLatch(1);
        nextOpenGate.set(slowOpen);
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<ApiClient.Response> slow = clients.submit(() -> send("POST",
                    "/api/v1/mount?mountpoint=/slow", mountBody()));
            try {
                while (opening.get() < 2) {
                    assertFalse(slow.isDone(), "the mount at /slow ended before its opening");
                    Thread.sleep(10);
                }

                String read = awaitBeside(clients.submit(() -> readHello("ready")), "a read");
                ApiClient.Response other = awaitBeside(clients.submit(() -> send("POST",
                        "/api/v1/mount?mountpoint=/other", mountBody())), "the mount at /other");

                assertEquals("hello world", read);
                assertEquals(204, other.status(), other.body());
                assertFalse(slow.isDone(), "the mount at /slow finished first");
            } finally {
                // The executor's close waits for the mount at /slow, so it must not stay held.
                slowOpen.countDown();
            }
            assertEquals(204, slow.get().status());
        }
        assertEquals(3, backendCollection().size(), backendCollection().toString());
    }

    /**
     * Returns the result of {@code request}, which must not wait for the held mount at /slow.
     * The deadline only turns such a wait into a failure instead of a hang.
     */
    private static <T> T awaitBeside(Future<T> request, String requestName)
            throws Exception {
        try {
            return request.get(60, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(requestName + " waited for the mount at /slow", e);
        }
    }

    @Test
    void umountWaitsForMountInProgress() throws Exception {
        openMillis = 500;
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<ApiClient.Response> mount = clients.submit(() -> send("POST",
                    "/api/v1/mount?mountpoint=/app", mountBody()));
            while (opening.get() == 0) {
                Thread.sleep(10);
            }

            ApiClient.Response umount = send("DELETE", "/api/v1/mount?mountpoint=/app", null);

            assertEquals(204, mount.get().status());
            assertEquals(204, umount.status(), umount.body());
        }
        assertTrue(daemon.mounts().isEmpty());
        assertEquals(0, openDataSides());
    }

    @Test
    void mountWaitsForTakeover() throws IOException {
        Path blobs = work.resolve("image/blobs");
        Path upgradeSocket = work.resolve("upgrade.sock");
        try (Daemon successor = new Daemon("successor", true, (config, decoded, settings) ->
                new DirectBlobData(blobs, decoded.bootstrap().blobs()));
                ApiServer upgradeApi = ApiServer.start(upgradeSocket, successor, "0.1.0",
                        level -> { })) {
            ApiClient.Response mount = ApiClient.send(upgradeSocket, "POST",
                    "/api/v1/mount?mountpoint=/app", mountBody());
            ApiClient.Response umount = ApiClient.send(upgradeSocket, "DELETE",
                    "/api/v1/mount?mountpoint=/app", null);

            assertEquals(409, mount.status(), mount.body());
            assertTrue(mount.body().contains("INIT"), mount.body());
            assertEquals(409, umount.status(), umount.body());
            assertTrue(successor.mounts().isEmpty());
        }
    }

    @Test
    void metricsOfAMount() throws IOException {
        send("POST", "/api/v1/mount?mountpoint=/app", mountBody());
        JsonNode metrics = JSON.readTree(send("GET", "/api/v1/metrics?id=/app", null).body());
        assertEquals(0, metrics.path("data_read").asLong());
        ApiClient.Response backend = send("GET", "/api/v1/metrics/backend?id=/app", null);
        assertEquals(200, backend.status());
        String prometheus = send("GET", "/metrics", null).body();
        assertTrue(prometheus.contains("nydusd_read_bytes_total{mountpoint=\"/app\"} 0"),
                prometheus);
    }

    @Test
    void metricsOfTwoMountsGroupFamilies() throws IOException {
        send("POST", "/api/v1/mount?mountpoint=/app", mountBody());
        send("POST", "/api/v1/mount?mountpoint=/web", mountBody());

        List<String> lines = List.of(send("GET", "/metrics", null).body().split("\n"));

        Set<String> families = new HashSet<>();
        String current = "";
        for (String line : lines) {
            if (line.startsWith("# TYPE ")) {
                current = line.split(" ")[2];
                assertTrue(families.add(current), "second TYPE line of " + current);
            } else {
                assertTrue(line.startsWith(current), line + " outside its family " + current);
            }
        }
        assertTrue(lines.contains("# TYPE nydusd_read_bytes_total counter"), lines.toString());
        assertTrue(lines.contains("# TYPE nydusd_read_latency_seconds histogram"),
                lines.toString());
        assertEquals(2, lines.stream().filter(line -> line.startsWith(
                "nydusd_read_bytes_total{")).count());
    }

    @Test
    void logLevelChanges() throws IOException {
        assertEquals(204, send("PUT", "/api/v1/daemon", "{\"log_level\": \"debug\"}").status());
        assertEquals(List.of("debug"), levels);
        assertEquals(400, send("PUT", "/api/v1/daemon", "{\"log_level\": \"loud\"}").status());
    }

    @Test
    void logLevelBodyErrorsSayWhatIsWrong() throws IOException {
        String[][] cases = {
            {"[]", "is not a JSON object"},
            {"{\"unknown\": 1}", "has no \"log_level\" field (its fields: unknown)"},
            {"", "has no \"log_level\" field; send"},
            {"{\"log_level\": 7}", "log_level 7 must be one of trace, debug"},
            {"{\"log_level\": \"loud\"}", "log_level \"loud\" must be one of"},
        };
        for (String[] c : cases) {
            ApiClient.Response response = send("PUT", "/api/v1/daemon", c[0]);

            assertEquals(400, response.status(), c[0]);
            String message = JSON.readTree(response.body()).path("message").asText();
            assertTrue(message.contains(c[1]), c[0] + ": " + message);
        }
        assertEquals(List.of(), levels);
    }

    @Test
    void unknownEndpointIsNotFound() throws IOException {
        ApiClient.Response response = send("GET", "/api/v1/nothing", null);
        assertEquals(404, response.status());
        assertEquals("NotFound", JSON.readTree(response.body()).path("code").asText());
    }

    @Test
    void wrongMethodIsNotAllowed() throws IOException {
        ApiClient.Response daemonInfo = send("POST", "/api/v1/daemon", null);
        ApiClient.Response mount = send("GET", "/api/v1/mount?mountpoint=/app", null);

        assertEquals(405, daemonInfo.status(), daemonInfo.body());
        assertEquals("GET, PUT", daemonInfo.headers().get("allow"));
        assertEquals("MethodNotAllowed",
                JSON.readTree(daemonInfo.body()).path("code").asText());
        assertTrue(daemonInfo.body().contains("/api/v1/daemon does not accept POST"),
                daemonInfo.body());
        assertEquals(405, mount.status(), mount.body());
        assertEquals("POST, PUT, DELETE", mount.headers().get("allow"));
    }

    @Test
    void exitReleasesTheWaiter() throws Exception {
        assertEquals(204, send("PUT", "/api/v1/daemon/exit", null).status());
        daemon.awaitExit();
    }

    @Test
    void handoverStepsNeedTheDaemonsOwnMount() throws IOException {
        for (String path : List.of("/api/v1/daemon/fuse/sendfd", "/api/v1/daemon/fuse/takeover",
                "/api/v1/daemon/start")) {
            ApiClient.Response response = send("PUT", path, null);
            assertEquals(409, response.status(), path);
            assertTrue(response.body().contains("serves no FUSE mount"), response.body());
        }
    }

    @Test
    void badJsonIsRejected() throws IOException {
        assertEquals(400, send("POST", "/api/v1/mount?mountpoint=/app", "{nope").status());
    }

    @Test
    void remountSwapsTheBootstrap() throws Exception {
        send("POST", "/api/v1/mount?mountpoint=/app", mountBody());
        assertEquals(204, send("PUT", "/api/v1/mount?mountpoint=/app", mountBody()).status());
        assertEquals(1, daemon.mounts().size());
        assertEquals(bootstrap, daemon.mounts().get("/app").bootstrap());
    }
}
