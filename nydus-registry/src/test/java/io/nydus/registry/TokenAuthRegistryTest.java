package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The client against a real registry that requires bearer tokens from a token service. */
class TokenAuthRegistryTest {

    private static final String USER = "bob";
    private static final String PASSWORD = "token-Pass-9";
    /**
     * The real lifetime of tokens in the expiry tests: the registry accepts such a token for 2
     * to 3 s, which leaves a loaded machine time for the request that uses a new token.
     */
    private static final long SHORT_LIFETIME_SECONDS = 3;
    /** The upload chunk size, so that a blob of a few hundred KiB takes several PATCHes. */
    private static final int CHUNK_SIZE = 64 << 10;
    /** The number of range reads that run at once, as nydusd's readers and prefetch do. */
    private static final int CONCURRENT_READS = 8;
    /**
     * How long the token service delays each response in the concurrency tests, so that all
     * reads have started before the first token arrives.
     */
    private static final Duration TOKEN_DELAY = Duration.ofMillis(500);

    private static TempDir dir;
    private static TokenService tokens;
    private static RegistryServer registry;

    private MutableClock clock;
    private RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        dir = TempDirs.create("registry-token");
        tokens = TokenService.start(dir.path(), USER, PASSWORD);
        registry = RegistryServer.start(dir, "", tokens.authSection());
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        if (registry != null) {
            registry.close();
        }
        if (tokens != null) {
            tokens.close();
        }
        if (dir != null) {
            dir.close();
        }
    }

    @BeforeEach
    void newClient() throws IOException {
        tokens.expiresIn(300);
        tokens.corruptNext(0);
        tokens.oauthFields(false);
        tokens.realLifetime(0);
        tokens.rejectRequests(false);
        tokens.delayResponses(Duration.ZERO);
        tokens.redirectStatus(302);
        clock = new MutableClock();
        client = clientWith(PASSWORD);
    }

    @AfterEach
    void closeClient() {
        client.close();
    }

    private RegistryClient clientWith(String password) throws IOException {
        return RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP)
                .credentials(CredentialProvider.of(
                        Map.of(registry.address(), new Credentials(USER, password))))
                .clock(clock).retryPolicy(RetryPolicy.NONE).chunkSize(CHUNK_SIZE).build();
    }

    private Digest push(Repository repository, byte[] data) throws IOException {
        Digest digest = Digest.of(data);
        client.pushBlob(repository, digest, data.length, BlobSource.of(data));
        return digest;
    }

    private byte[] pull(Repository repository, Digest digest) throws IOException {
        try (InputStream in = client.getBlob(repository, digest)) {
            return in.readAllBytes();
        }
    }

    /** Sleeps until the registry rejects the token issued last, and a little longer. */
    private static void awaitTokenRejection() throws InterruptedException {
        Instant from = tokens.lastTokenRejectedFrom().plusMillis(100);
        Duration left = Duration.between(Instant.now(), from);
        if (left.isPositive()) {
            Thread.sleep(left);
        }
    }

    /** Returns the log lines of requests sent again because the registry rejected a token. */
    private static List<String> tokenRefreshes(LogCapture log) {
        return log.messages(Level.INFO).stream()
                .filter(message -> message.contains("rejected the bearer token")).toList();
    }

    private static boolean anyContains(List<String> messages, String text) {
        return messages.stream().anyMatch(message -> message.contains(text));
    }

    /**
     * Challenges that RFC 7235 allows but that differ from the registry's own: a Basic and a
     * Bearer challenge in one header, blanks around '=', and names in other case and order.
     */
    @ParameterizedTest
    @ValueSource(strings = {
        "Basic realm=\"registry\", Bearer realm=\"REALM\",service=\"SERVICE\"",
        "Bearer realm = \"REALM\" , service = \"SERVICE\"",
        "BEARER Service=SERVICE,Realm=\"REALM\""})
    void oddlyFormattedChallengeIsFollowed(String challenge) throws Exception {
        byte[] data = TestBlobs.random(1500, 35);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address());
                RegistryClient proxied = RegistryClient.builder()
                        .transportMode(TransportMode.PLAIN_HTTP)
                        .credentials(CredentialProvider.of(
                                Map.of(proxy.address(), new Credentials(USER, PASSWORD))))
                        .retryPolicy(RetryPolicy.NONE).build()) {
            proxy.replaceChallenges(List.of(challenge.replace("REALM", tokens.realm())
                    .replace("SERVICE", TokenService.SERVICE)));
            Repository repository = new Repository(proxy.address(), "token/odd");

            proxied.pushBlob(repository, Digest.of(data), data.length, BlobSource.of(data));

            try (InputStream in = proxied.getBlob(repository, Digest.of(data))) {
                assertArrayEquals(data, in.readAllBytes());
            }
        }
    }

    @Test
    void pushAndPullWithToken() throws Exception {
        Repository repository = registry.repository("token/app");
        byte[] data = TestBlobs.random(2048, 31);

        Digest digest = push(repository, data);

        assertArrayEquals(data, pull(repository, digest));
        assertTrue(tokens.scopes().contains("repository:token/app:pull,push"),
                tokens.scopes().toString());
    }

    @Test
    void uploadSessionIsCancelledWithToken() throws Exception {
        Repository repository = registry.repository("token/cancel");
        byte[] data = TestBlobs.random(4096, 32);
        BlobUpload upload = client.startUpload(repository);
        upload.append(new ByteArrayInputStream(data), data.length);
        assertEquals(1, registry.openUploads("token/cancel").size());

        upload.cancel();

        assertTrue(registry.openUploads("token/cancel").isEmpty());
        assertTrue(tokens.scopes().contains("repository:token/cancel:pull,push,delete"),
                tokens.scopes().toString());
    }

    @Test
    void tokenIsCachedPerScope() throws Exception {
        Repository repository = registry.repository("token/cached");
        Digest digest = Digest.of(new byte[] {7});
        client.blobExists(repository, digest);
        int afterFirst = tokens.requests();

        client.blobExists(repository, digest);
        client.blobExists(repository, digest);

        assertEquals(afterFirst, tokens.requests());
    }

    @Test
    void tokenIsRefreshedBeforeExpiry() throws Exception {
        tokens.expiresIn(5);
        Repository repository = registry.repository("token/short");
        Digest digest = Digest.of(new byte[] {8});
        client.blobExists(repository, digest);
        int afterFirst = tokens.requests();

        clock.advance(Duration.ofMillis(4600));
        client.blobExists(repository, digest);
        int afterRefresh = tokens.requests();
        client.blobExists(repository, digest);

        assertEquals(afterFirst + 1, afterRefresh);
        assertEquals(afterRefresh, tokens.requests());
    }

    @Test
    void oauthTokenFieldsAreRead() throws Exception {
        tokens.oauthFields(true);
        tokens.expiresIn(5);
        Repository repository = registry.repository("token/oauth");
        byte[] data = TestBlobs.random(200, 34);
        Digest digest = push(repository, data);
        int afterPush = tokens.requests();

        // issued_at is the service's real time, which is ahead of the test clock by the time
        // the push took, so the clock catches up before it moves past the refresh time.
        clock.advance(Duration.between(clock.instant(), Instant.now()).plusMillis(4600));
        byte[] read = pull(repository, digest);

        assertArrayEquals(data, read);
        assertEquals(afterPush + 1, tokens.requests());
    }

    @Test
    void hugeTokenLifetimeIsAccepted() throws Exception {
        tokens.expiresIn(Long.MAX_VALUE);
        tokens.realLifetime(600);
        Repository repository = registry.repository("token/huge");
        Digest digest = Digest.of(new byte[] {8});

        assertFalse(client.blobExists(repository, digest));
        assertFalse(client.blobExists(repository, digest));

        assertEquals(1, tokens.scopes().stream()
                .filter(scope -> scope.equals("repository:token/huge:pull")).count());
    }

    @Test
    void tokenWithoutExpiryLivesSixtySeconds() throws Exception {
        tokens.expiresIn(0);
        Repository repository = registry.repository("token/default");
        Digest digest = Digest.of(new byte[] {9});
        client.blobExists(repository, digest);
        int afterFirst = tokens.requests();

        clock.advance(Duration.ofSeconds(50));
        client.blobExists(repository, digest);
        int beforeMargin = tokens.requests();
        clock.advance(Duration.ofSeconds(5));
        client.blobExists(repository, digest);

        assertEquals(afterFirst, beforeMargin);
        assertEquals(afterFirst + 1, tokens.requests());
    }

    @Test
    void rejectedTokenIsFetchedAgain() throws Exception {
        Repository repository = registry.repository("token/rejected");
        byte[] data = TestBlobs.random(100, 32);
        Digest digest = push(repository, data);
        clock.advance(Duration.ofMinutes(10));
        tokens.corruptNext(1);
        int before = tokens.requests();

        byte[] read = pull(repository, digest);

        assertArrayEquals(data, read);
        assertEquals(before + 2, tokens.requests());
    }

    @Test
    void repeatedlyRejectedTokenFails() throws Exception {
        Repository repository = registry.repository("token/always-rejected");
        tokens.corruptNext(100);

        RegistryUnauthorizedException e = assertThrows(RegistryUnauthorizedException.class,
                () -> client.blobExists(repository, Digest.of(new byte[] {1})));

        assertEquals(401, e.statusCode());
        assertEquals("token/always-rejected", e.repository());
    }

    @Test
    void wrongPasswordAtTokenService() throws Exception {
        String wrong = "Wrong-Token-Pass";
        Repository repository = registry.repository("token/denied");
        try (RegistryClient denied = clientWith(wrong)) {
            RegistryUnauthorizedException e = assertThrows(RegistryUnauthorizedException.class,
                    () -> denied.blobExists(repository, Digest.of(new byte[] {2})));

            assertTrue(e.getMessage().contains(registry.address() + "/token/denied"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("user '" + USER + "'"), e.getMessage());
            assertFalse(e.getMessage().contains(wrong), e.getMessage());
        }
    }

    @Test
    void tokenServiceErrorIsNotRejection() throws Exception {
        Repository repository = registry.repository("token/service-down");
        tokens.failRequests(500);
        try {
            UnexpectedStatusException e = assertThrows(UnexpectedStatusException.class,
                    () -> client.blobExists(repository, Digest.of(new byte[] {3})));

            assertEquals(500, e.statusCode());
            assertTrue(e.getMessage().contains("token service " + tokens.realm()
                    + " failed to issue a token"), e.getMessage());
            assertFalse(e.getMessage().contains("rejected"), e.getMessage());
            assertTrue(e.getMessage().contains(registry.address() + "/token/service-down"),
                    e.getMessage());
        } finally {
            tokens.failRequests(0);
        }
    }

    /** How a cached token stops working. */
    private enum Expiry {
        /** The client's clock passes the refresh time that {@code expires_in} sets. */
        CLIENT_CLOCK,
        /** The registry rejects the token early, as after a revocation. */
        REGISTRY_REJECTION
    }

    @ParameterizedTest
    @EnumSource(Expiry.class)
    void concurrentReadsShareOneTokenRefresh(Expiry expiry) throws Exception {
        tokens.expiresIn(5);
        if (expiry == Expiry.REGISTRY_REJECTION) {
            tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        }
        Repository repository = registry.repository("token/concurrent-" + expiry.ordinal());
        byte[] data = TestBlobs.random(CONCURRENT_READS * 1024, 43);
        Digest digest = pushAndReadOnce(repository, data);
        int before = tokens.requests();
        if (expiry == Expiry.CLIENT_CLOCK) {
            clock.advance(Duration.ofSeconds(5));
        } else {
            awaitTokenRejection();
        }
        tokens.delayResponses(TOKEN_DELAY);

        List<Future<byte[]>> reads = readConcurrently(repository, digest);

        for (int i = 0; i < reads.size(); i++) {
            assertArrayEquals(Arrays.copyOfRange(data, i * 1024, (i + 1) * 1024),
                    reads.get(i).get(), "read " + i);
        }
        assertEquals(before + 1, tokens.requests());
    }

    @Test
    void sharedTokenFailureReachesEveryRead() throws Exception {
        tokens.expiresIn(5);
        Repository repository = registry.repository("token/concurrent-denied");
        byte[] data = TestBlobs.random(CONCURRENT_READS * 1024, 45);
        Digest digest = pushAndReadOnce(repository, data);
        int before = tokens.requests();
        clock.advance(Duration.ofSeconds(5));
        tokens.delayResponses(TOKEN_DELAY);
        tokens.rejectRequests(true);

        List<Future<byte[]>> reads = readConcurrently(repository, digest);

        for (Future<byte[]> read : reads) {
            ExecutionException failure = assertThrows(ExecutionException.class, read::get);
            RegistryUnauthorizedException e = assertInstanceOf(
                    RegistryUnauthorizedException.class, failure.getCause());
            assertEquals(401, e.statusCode());
            assertTrue(e.getMessage().contains(tokens.realm()), e.getMessage());
            assertTrue(e.getMessage().contains("scope 'repository:token/concurrent-denied:pull'"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("blob " + digest), e.getMessage());
            assertTrue(e.getMessage().contains(registry.address() + "/token/concurrent-denied"),
                    e.getMessage());
            assertFalse(e.getMessage().contains(PASSWORD), e.getMessage());
        }
        assertEquals(before + 1, tokens.requests());
    }

    @Test
    void tokenFetchedAcrossForgetIsNotCached() throws Exception {
        tokens.expiresIn(5);
        Repository repository = registry.repository("token/forget-during-fetch");
        Digest digest = pushAndReadOnce(repository, TestBlobs.random(1024, 47));
        int before = tokens.requests();
        clock.advance(Duration.ofSeconds(5));
        tokens.delayResponses(TOKEN_DELAY);

        try (ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Future<byte[]> read = pool.submit(() -> client.getBlobRange(repository, digest, 0, 1));
            while (tokens.requests() == before) {
                Thread.sleep(10);
            }
            // As when nydusd's credentials are replaced while a token request runs.
            client.forgetTokens();
            read.get();
        }
        tokens.delayResponses(Duration.ZERO);
        client.getBlobRange(repository, digest, 0, 1);

        assertEquals(before + 2, tokens.requests());
    }

    /** Pushes {@code data} and reads one byte of it, so that the client caches a pull token. */
    private Digest pushAndReadOnce(Repository repository, byte[] data) throws IOException {
        Digest digest = push(repository, data);
        client.getBlobRange(repository, digest, 0, 1);
        return digest;
    }

    /**
     * Starts {@link #CONCURRENT_READS} reads of 1 KiB each, read {@code i} at offset
     * {@code i * 1024}, on as many threads at once, and returns them in order.
     */
    private List<Future<byte[]>> readConcurrently(Repository repository, Digest digest)
            throws InterruptedException {
        CountDownLatch start = new CountDownLatch(1);
        List<Future<byte[]>> reads = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(CONCURRENT_READS)) {
            for (int i = 0; i < CONCURRENT_READS; i++) {
                long offset = i * 1024L;
                reads.add(pool.submit(() -> {
                    start.await();
                    return client.getBlobRange(repository, digest, offset, 1024);
                }));
            }
            start.countDown();
        }
        return reads;
    }

    @Test
    void tokenRealmRedirectIsFollowed() throws Exception {
        int before = tokens.requests();

        assertFalse(blobExistsThroughRealm(tokens.redirectingRealm(),
                new Credentials(USER, PASSWORD)));

        assertEquals(before + 1, tokens.requests());
    }

    @Test
    void identityTokenFollowsTemporaryRedirect() throws Exception {
        tokens.identityToken("identity-Token-7");
        tokens.redirectStatus(307);
        int before = tokens.refreshGrants();

        assertFalse(blobExistsThroughRealm(tokens.redirectingRealm(),
                Credentials.identityToken("identity-Token-7")));

        assertEquals(before + 1, tokens.refreshGrants());
    }

    @Test
    void identityTokenDoesNotFollowFoundRedirect() throws Exception {
        tokens.identityToken("identity-Token-8");
        int before = tokens.requests();

        RegistryException e = assertThrows(RegistryException.class,
                () -> blobExistsThroughRealm(tokens.redirectingRealm(),
                        Credentials.identityToken("identity-Token-8")));

        assertTrue(e.getMessage().contains(tokens.redirectingRealm()), e.getMessage());
        assertTrue(e.getMessage().contains("HTTP 302 would turn the POST into a GET"),
                e.getMessage());
        assertFalse(e.getMessage().contains("identity-Token-8"), e.getMessage());
        assertEquals(before, tokens.requests());
    }

    @Test
    void tokenRealmRedirectToOtherHostDropsCredentials() throws Exception {
        int before = tokens.requests();

        RegistryUnauthorizedException e = assertThrows(RegistryUnauthorizedException.class,
                () -> blobExistsThroughRealm(tokens.otherHostRealm(),
                        new Credentials(USER, PASSWORD)));

        // The service issues tokens only for Basic credentials, so its 401 shows that the
        // credentials stayed behind.
        assertEquals(401, e.statusCode());
        assertTrue(e.getMessage().contains(tokens.otherHostRealm()), e.getMessage());
        assertTrue(e.getMessage().contains("redirected the request to http://localhost:"),
                e.getMessage());
        assertTrue(e.getMessage().contains("which gets no credentials"), e.getMessage());
        assertFalse(e.getMessage().contains(PASSWORD), e.getMessage());
        assertEquals(before + 1, tokens.requests());
    }

    @Test
    void tokenRealmRedirectLoopFails() throws Exception {
        RegistryException e = assertThrows(RegistryException.class,
                () -> blobExistsThroughRealm(tokens.loopingRealm(),
                        new Credentials(USER, PASSWORD)));

        assertTrue(e.getMessage().contains(tokens.loopingRealm()), e.getMessage());
        assertTrue(e.getMessage().contains("more than 10 redirects"), e.getMessage());
    }

    @Test
    void unreachableTokenRealmIsNamed() throws Exception {
        String realm = "http://127.0.0.1:" + RegistryServer.freePort() + "/token";

        RegistryException e = assertThrows(RegistryException.class,
                () -> blobExistsThroughRealm(realm, new Credentials(USER, PASSWORD)));

        assertTrue(e.getMessage().contains("token request for blob "), e.getMessage());
        assertTrue(e.getMessage().contains(" to " + realm + " failed"), e.getMessage());
        assertTrue(e.getMessage().contains("ConnectException"), e.getMessage());
    }

    @Test
    void tokensStayOutOfLogsAndErrors() throws Exception {
        Repository repository = registry.repository("token/secret-free");
        byte[] data = TestBlobs.random(3000, 46);
        List<String> texts = new ArrayList<>();
        try (LogCapture log = new LogCapture()) {
            Digest digest = push(repository, data);
            blobExistsThroughRealm(tokens.redirectingRealm(), new Credentials(USER, PASSWORD));
            clock.advance(Duration.ofMinutes(10));
            tokens.corruptNext(1);
            pull(repository, digest);
            clock.advance(Duration.ofMinutes(10));
            tokens.rejectRequests(true);
            texts.add(assertThrows(RegistryException.class, () -> pull(repository, digest))
                    .getMessage());
            texts.addAll(log.messages());
        }

        assertTrue(tokens.issuedTokens().size() >= 3, tokens.issuedTokens().toString());
        for (String text : texts) {
            for (String token : tokens.issuedTokens()) {
                assertFalse(text.contains(token), text);
            }
            assertFalse(text.contains(PASSWORD), text);
        }
    }

    /**
     * Returns whether a blob exists in a repository of the registry, reached through a proxy
     * whose challenges name {@code realm} in place of the token service's own realm.
     */
    private boolean blobExistsThroughRealm(String realm, Credentials credentials)
            throws IOException {
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address());
                RegistryClient proxied = RegistryClient.builder()
                        .transportMode(TransportMode.PLAIN_HTTP)
                        .credentials(CredentialProvider.of(Map.of(proxy.address(), credentials)))
                        .retryPolicy(RetryPolicy.NONE).build()) {
            proxy.replaceChallenges(List.of("Bearer realm=\"" + realm + "\",service=\""
                    + TokenService.SERVICE + "\""));
            return proxied.blobExists(new Repository(proxy.address(), "token/redirected"),
                    Digest.of(new byte[] {4}));
        }
    }

    @Test
    void mountAcrossRepositoriesWithToken() throws Exception {
        Repository source = registry.repository("token/mount-from");
        Repository target = registry.repository("token/mount-to");
        Digest digest = push(source, TestBlobs.random(300, 33));

        BlobPushResult result = client.mountBlob(source, target, digest);

        assertEquals(BlobPushResult.MOUNTED, result);
        assertTrue(tokens.scopes().contains(
                "repository:token/mount-to:pull,push repository:token/mount-from:pull"),
                tokens.scopes().toString());
    }

    @Test
    void commitAfterTokenExpiry() throws Exception {
        tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        Repository repository = registry.repository("token/commit-expired");
        byte[] data = TestBlobs.random(4096, 35);
        Digest digest = Digest.of(data);
        try (LogCapture log = new LogCapture()) {
            BlobUpload upload = client.startUpload(repository);
            upload.append(new ByteArrayInputStream(data), data.length);
            awaitTokenRejection();

            upload.commit(digest);

            assertArrayEquals(data, pull(repository, digest));
            assertTrue(anyContains(tokenRefreshes(log), "PUT blob " + digest + " in "
                    + registry.address() + "/token/commit-expired"), log.messages().toString());
        }
    }

    @Test
    void cancelAfterTokenExpiry() throws Exception {
        tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        Repository repository = registry.repository("token/cancel-expired");
        byte[] data = TestBlobs.random(4096, 36);
        // The first cancel caches a token of the cancel scope, which the second one reuses.
        BlobUpload first = client.startUpload(repository);
        first.cancel();
        try (LogCapture log = new LogCapture()) {
            awaitTokenRejection();
            BlobUpload second = client.startUpload(repository);
            second.append(new ByteArrayInputStream(data), data.length);
            assertEquals(1, registry.openUploads("token/cancel-expired").size());

            second.cancel();

            assertTrue(registry.openUploads("token/cancel-expired").isEmpty());
            assertTrue(anyContains(tokenRefreshes(log), "DELETE new blob in "
                    + registry.address() + "/token/cancel-expired"), log.messages().toString());
        }
    }

    @Test
    void manifestPushAfterTokenExpiry() throws Exception {
        tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        Repository repository = registry.repository("token/manifest-expired");
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        Digest configDigest = push(repository, config);
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length), List.of(),
                null, Map.of(), Map.of());
        ManifestContent content = ManifestContent.of(manifest);
        try (LogCapture log = new LogCapture()) {
            awaitTokenRejection();

            Digest pushed = client.putManifest(repository.tag("v1"), content);

            assertEquals(content.digest(), pushed);
            assertArrayEquals(content.bytes(), client.getManifest(repository.tag("v1")).bytes());
            assertTrue(anyContains(tokenRefreshes(log), "PUT manifest v1 in "
                    + registry.address() + "/token/manifest-expired"), log.messages().toString());
        }
    }

    @Test
    void chunkedPushAfterTokenExpiry() throws Exception {
        byte[] data = TestBlobs.random(5 * CHUNK_SIZE + 100, 37);
        // The pause is inside the third of six chunks, so later PATCHes carry a dead token.
        // The rejected PATCH rereads its chunk from a reopened source.
        assertPushAfterTokenExpiry("token/chunks-expired", data, 2 * CHUNK_SIZE + CHUNK_SIZE / 2,
                "PATCH");
    }

    @Test
    void wholePutAfterTokenExpiry() throws Exception {
        byte[] data = TestBlobs.random(CHUNK_SIZE / 2, 42);
        // The source stalls when the upload opens it, after the POST and before the PUT.
        assertPushAfterTokenExpiry("token/put-expired", data, 0, "PUT");
    }

    /**
     * Pushes {@code data} with tokens that die while the source pauses at {@code pauseAt}, and
     * checks that the blob arrives, the {@code method} request was sent again with a new token,
     * and the source was opened once more for it.
     */
    private void assertPushAfterTokenExpiry(String name, byte[] data, long pauseAt,
            String method) throws Exception {
        tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        Repository repository = registry.repository(name);
        Digest digest = Digest.of(data);
        PausingSource source = new PausingSource(data, pauseAt,
                TokenAuthRegistryTest::awaitTokenRejection);
        try (LogCapture log = new LogCapture()) {
            BlobPushResult result = client.pushBlob(repository, digest, data.length, source);

            assertEquals(BlobPushResult.UPLOADED, result);
            assertEquals(data.length, client.blobSize(repository, digest).orElseThrow());
            assertEquals(digest, Digest.of(pull(repository, digest)));
            assertTrue(anyContains(tokenRefreshes(log), method + " blob " + digest + " in "
                    + registry.address() + "/" + name), log.messages().toString());
            assertEquals(2, source.opens());
        }
    }

    @Test
    void rejectedSecondTokenFailsPush() throws Exception {
        tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        Repository repository = registry.repository("token/second-rejected");
        byte[] data = TestBlobs.random(5 * CHUNK_SIZE + 100, 38);
        Digest digest = Digest.of(data);
        AtomicInteger requestsAtPause = new AtomicInteger();
        PausingSource source = new PausingSource(data, 2 * CHUNK_SIZE + CHUNK_SIZE / 2, () -> {
            awaitTokenRejection();
            tokens.rejectRequests(true);
            requestsAtPause.set(tokens.requests());
        });

        RegistryUnauthorizedException e = assertThrows(RegistryUnauthorizedException.class,
                () -> client.pushBlob(repository, digest, data.length, source));

        assertEquals(401, e.statusCode());
        assertTrue(e.getMessage().contains("token service " + tokens.realm()), e.getMessage());
        assertTrue(e.getMessage().contains("user '" + USER + "'"), e.getMessage());
        assertTrue(e.getMessage().contains("blob " + digest + " in " + registry.address()
                + "/token/second-rejected"), e.getMessage());
        assertEquals(requestsAtPause.get() + 1, tokens.requests());
        assertEquals(1, source.opens());
    }

    @Test
    void readOnceStreamFailsAfterTokenExpiry() throws Exception {
        tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        Repository repository = registry.repository("token/stream-expired");
        byte[] data = TestBlobs.random(5 * CHUNK_SIZE + 100, 39);
        Digest digest = Digest.of(data);
        PausingSource source = new PausingSource(data, 2 * CHUNK_SIZE + CHUNK_SIZE / 2,
                TokenAuthRegistryTest::awaitTokenRejection);

        RegistryUnauthorizedException e = assertThrows(RegistryUnauthorizedException.class,
                () -> client.pushBlob(repository, digest, data.length, source.open()));

        assertEquals(401, e.statusCode());
        assertTrue(e.getMessage().contains("PATCH blob " + digest + " in " + registry.address()
                + "/token/stream-expired"), e.getMessage());
        assertTrue(e.getMessage().contains("can be read only once"), e.getMessage());
        assertFalse(client.blobExists(repository, digest));
    }

    @Test
    void appendAfterTokenExpiry() throws Exception {
        tokens.realLifetime(SHORT_LIFETIME_SECONDS);
        Repository repository = registry.repository("token/append-expired");
        byte[] first = TestBlobs.random(3000, 40);
        byte[] second = TestBlobs.random(5000, 41);
        byte[] whole = new byte[first.length + second.length];
        System.arraycopy(first, 0, whole, 0, first.length);
        System.arraycopy(second, 0, whole, first.length, second.length);
        Digest digest = Digest.of(whole);
        PausingSource secondSource = new PausingSource(second, second.length, () -> { });
        try (LogCapture log = new LogCapture()) {
            BlobUpload upload = client.startUpload(repository);
            upload.append(BlobSource.of(first), first.length);
            awaitTokenRejection();

            upload.append(secondSource, second.length);
            upload.commit(digest);

            assertArrayEquals(whole, pull(repository, digest));
            assertEquals(2, secondSource.opens());
            assertTrue(anyContains(tokenRefreshes(log), "PATCH new blob in "
                    + registry.address() + "/token/append-expired"), log.messages().toString());
        }
    }

    /** An action that a {@link PausingSource} runs in the middle of its data. */
    @FunctionalInterface
    private interface Pause {
        void run() throws IOException, InterruptedException;
    }

    /**
     * A blob source of {@code data} that counts its opens. The stream of its first open runs
     * {@code pause} before it returns byte {@code pauseAt}, as a slow producer would stall. For
     * byte 0, the first open runs it, so that no request has started to send the stream.
     */
    private static final class PausingSource implements BlobSource {
        private final byte[] data;
        private final long pauseAt;
        private final Pause pause;
        private final AtomicInteger opens = new AtomicInteger();

        PausingSource(byte[] data, long pauseAt, Pause pause) {
            this.data = data;
            this.pauseAt = pauseAt;
            this.pause = pause;
        }

        @Override
        public InputStream open() throws IOException {
            InputStream in = new ByteArrayInputStream(data);
            if (opens.incrementAndGet() > 1) {
                return in;
            }
            PausingStream stream = new PausingStream(in, pauseAt, pause);
            if (pauseAt == 0) {
                stream.runPause();
            }
            return stream;
        }

        int opens() {
            return opens.get();
        }
    }

    /** A stream that runs a {@link Pause} once, before it returns byte {@code pauseAt}. */
    private static final class PausingStream extends FilterInputStream {
        private final long pauseAt;
        private final Pause pause;
        private long position;
        private boolean paused;

        PausingStream(InputStream in, long pauseAt, Pause pause) {
            super(in);
            this.pauseAt = pauseAt;
            this.pause = pause;
        }

        @Override
        public int read() throws IOException {
            byte[] single = new byte[1];
            return read(single, 0, 1) == 1 ? single[0] & 0xff : -1;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (!paused && position == pauseAt) {
                runPause();
            }
            int allowed = paused ? length : (int) Math.min(length, pauseAt - position);
            int n = in.read(buffer, offset, allowed);
            if (n > 0) {
                position += n;
            }
            return n;
        }

        void runPause() throws IOException {
            paused = true;
            try {
                pause.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted in the pause at byte " + pauseAt);
            }
        }
    }
}
