package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The client against a real registry over plain HTTP without authentication. */
class PlainRegistryTest {

    private static final int CHUNK_SIZE = 1 << 20;
    private static final RetryPolicy FAST_RETRIES = new RetryPolicy(4, Duration.ofMillis(1),
            Duration.ofMillis(5), Duration.ofSeconds(30));

    private static TempDir dir;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        dir = TempDirs.create("registry-plain");
        registry = RegistryServer.start(dir, "", "");
        client = newClient(TransportMode.PLAIN_HTTP, FAST_RETRIES);
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        if (client != null) {
            client.close();
        }
        if (registry != null) {
            registry.close();
        }
        if (dir != null) {
            dir.close();
        }
    }

    private static RegistryClient newClient(TransportMode mode, RetryPolicy retries)
            throws IOException {
        return RegistryClient.builder().transportMode(mode).retryPolicy(retries)
                .chunkSize(CHUNK_SIZE).build();
    }

    private static Digest push(Repository repository, byte[] data) throws IOException {
        Digest digest = Digest.of(data);
        client.pushBlob(repository, digest, data.length, BlobSource.of(data));
        return digest;
    }

    private static byte[] pull(RegistryClient with, Repository repository, Digest digest)
            throws IOException {
        try (InputStream in = with.getBlob(repository, digest)) {
            return in.readAllBytes();
        }
    }

    @Test
    void smallBlobRoundTrip() throws Exception {
        Repository repository = registry.repository("small");
        byte[] data = "hello registry".getBytes(StandardCharsets.UTF_8);
        Digest digest = Digest.of(data);

        BlobPushResult result = client.pushBlob(repository, digest, data.length,
                BlobSource.of(data));

        assertEquals(BlobPushResult.UPLOADED, result);
        assertArrayEquals(data, pull(client, repository, digest));
        assertEquals(data.length, client.blobSize(repository, digest).orElseThrow());
    }

    @Test
    void chunkedUploadOfLargeBlob() throws Exception {
        Repository repository = registry.repository("large");
        byte[] data = TestBlobs.random(5 * CHUNK_SIZE + 12345, 1);
        Digest digest = Digest.of(data);

        BlobPushResult result = client.pushBlob(repository, digest, data.length,
                new ByteArrayInputStream(data));

        assertEquals(BlobPushResult.UPLOADED, result);
        assertArrayEquals(data, pull(client, repository, digest));
    }

    @Test
    void chunkedUploadSendsPatches() throws Exception {
        byte[] data = TestBlobs.random(2 * CHUNK_SIZE + 1, 2);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            Repository repository = new Repository(proxy.address(), "patched");

            client.pushBlob(repository, Digest.of(data), data.length, BlobSource.of(data));

            long patches = proxy.requests().stream().filter(r -> r.startsWith("PATCH ")).count();
            assertEquals(3, patches);
        }
    }

    @Test
    void partsUploadStoresBlob() throws Exception {
        Repository repository = registry.repository("parts");
        byte[] data = TestBlobs.random(3 * CHUNK_SIZE + 7, 11);
        Digest digest = Digest.of(data);
        BlobUpload upload = client.startUpload(repository);

        upload.append(new ByteArrayInputStream(data, 0, CHUNK_SIZE), CHUNK_SIZE);
        upload.append(new ByteArrayInputStream(data, CHUNK_SIZE,
                data.length - CHUNK_SIZE), data.length - CHUNK_SIZE);
        upload.commit(digest);

        assertEquals(data.length, upload.sent());
        assertArrayEquals(data, pull(client, repository, digest));
        assertTrue(registry.openUploads("parts").isEmpty());
    }

    @Test
    void commitWithWrongDigestStoresNothing() throws Exception {
        Repository repository = registry.repository("parts-wrong");
        byte[] data = TestBlobs.random(1000, 12);
        Digest wrong = Digest.of("other".getBytes(StandardCharsets.UTF_8));
        BlobUpload upload = client.startUpload(repository);
        upload.append(new ByteArrayInputStream(data), data.length);

        RegistryException e = assertThrows(RegistryException.class, () -> upload.commit(wrong));
        upload.cancel();

        assertTrue(e.getMessage().contains(wrong.toString()), e.getMessage());
        assertFalse(client.blobExists(repository, wrong));
        assertFalse(client.blobExists(repository, Digest.of(data)));
        assertTrue(registry.openUploads("parts-wrong").isEmpty());
    }

    @Test
    void cancelledUploadLeavesNoSession() throws Exception {
        Repository repository = registry.repository("parts-cancelled");
        byte[] data = TestBlobs.random(1000, 13);
        BlobUpload upload = client.startUpload(repository);
        upload.append(new ByteArrayInputStream(data), data.length);
        assertEquals(1, registry.openUploads("parts-cancelled").size());

        upload.cancel();

        assertTrue(registry.openUploads("parts-cancelled").isEmpty());
        assertFalse(client.blobExists(repository, Digest.of(data)));
        assertThrows(IllegalStateException.class, () -> upload.commit(Digest.of(data)));
    }

    @Test
    void sessionsInUseUntilEnded() throws Exception {
        Repository repository = registry.repository("parts-in-use");
        byte[] data = TestBlobs.random(2 * CHUNK_SIZE + 5, 14);
        int before = UploadSessions.inUse();
        BlobUpload committed = client.startUpload(repository);
        BlobUpload failed = client.startUpload(repository);
        assertEquals(before + 2, UploadSessions.inUse());

        committed.append(new ByteArrayInputStream(data), data.length);
        committed.commit(Digest.of(data));
        failed.append(new ByteArrayInputStream(data), data.length);
        assertThrows(RegistryException.class,
                () -> failed.commit(Digest.of("other".getBytes(StandardCharsets.UTF_8))));
        // A JVM that stops now cancels the session that the failed commit left open.
        assertEquals(before + 1, UploadSessions.inUse());
        failed.cancel();
        push(repository, TestBlobs.random(2 * CHUNK_SIZE + 5, 15));

        assertEquals(before, UploadSessions.inUse());
        assertTrue(registry.openUploads("parts-in-use").isEmpty());
    }

    @Test
    void tagsTellWhetherRepositoryHasImages() throws Exception {
        Repository repository = registry.repository("tagged");
        assertFalse(client.hasTags(repository));
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        Digest configDigest = push(repository, config);
        assertFalse(client.hasTags(repository));
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length), List.of(),
                null, Map.of(), Map.of());

        client.putManifest(repository.tag("v1"), ManifestContent.of(manifest));

        assertTrue(client.hasTags(repository));
    }

    @Test
    void existingBlobIsNotSentAgain() throws Exception {
        Repository repository = registry.repository("existing");
        byte[] data = TestBlobs.random(1000, 3);
        push(repository, data);
        InputStream unreadable = new InputStream() {
            @Override
            public int read() throws IOException {
                throw new IOException("the data of an existing blob must not be read");
            }
        };

        BlobPushResult result = client.pushBlob(repository, Digest.of(data), data.length,
                unreadable);

        assertEquals(BlobPushResult.EXISTED, result);
    }

    @Test
    void pushRejectsWrongDigest() throws Exception {
        Repository repository = registry.repository("wrong-digest");
        byte[] data = TestBlobs.random(2000, 4);
        Digest claimed = Digest.of("something else".getBytes(StandardCharsets.UTF_8));

        DigestMismatchException e = assertThrows(DigestMismatchException.class,
                () -> client.pushBlob(repository, claimed, data.length, BlobSource.of(data)));

        assertEquals(claimed, e.expected());
        assertEquals(Digest.of(data), e.actual());
        assertFalse(client.blobExists(repository, claimed));
    }

    @Test
    void chunkedPushRejectsWrongDigest() throws Exception {
        Repository repository = registry.repository("wrong-digest-chunked");
        byte[] data = TestBlobs.random(CHUNK_SIZE + 10, 5);
        Digest claimed = Digest.of(new byte[] {1});

        DigestMismatchException e = assertThrows(DigestMismatchException.class,
                () -> client.pushBlob(repository, claimed, data.length, BlobSource.of(data)));

        assertEquals(Digest.of(data), e.actual());
    }

    @Test
    void sourceShorterThanSizeFails() throws Exception {
        Repository repository = registry.repository("short-source");
        byte[] data = TestBlobs.random(1000, 19);
        Digest digest = Digest.of(data);

        RegistryException e = assertThrows(RegistryException.class,
                () -> client.pushBlob(repository, digest, data.length + 10,
                        new ByteArrayInputStream(data)));

        assertTrue(e.getMessage().contains("blob " + digest + " in " + repository),
                e.getMessage());
        assertTrue(e.getMessage().contains("supplied 1000 bytes, expected 1010"),
                e.getMessage());
        assertFalse(client.blobExists(repository, digest));
    }

    @ParameterizedTest
    @ValueSource(ints = {1000, CHUNK_SIZE + 10})
    void failingSourceIsReadOnce(int size) throws Exception {
        Repository repository = registry.repository("failing-source");
        byte[] data = TestBlobs.random(size, 23);
        Digest digest = Digest.of(data);
        AtomicInteger opens = new AtomicInteger();
        BlobSource failing = () -> {
            opens.incrementAndGet();
            return new SequenceInputStream(new ByteArrayInputStream(data, 0, size / 2),
                    new InputStream() {
                        @Override
                        public int read() throws IOException {
                            throw new IOException("source checksum mismatch");
                        }
                    });
        };

        RegistryException e = assertThrows(RegistryException.class,
                () -> client.pushBlob(repository, digest, size, failing));

        assertEquals("reading the data of blob " + digest + " in " + repository
                + " failed: source checksum mismatch", e.getMessage());
        assertFalse(e.isTransient());
        assertEquals(1, opens.get());
        assertFalse(client.blobExists(repository, digest));
    }

    @Test
    void chunkedSourceShorterThanSizeFails() throws Exception {
        Repository repository = registry.repository("short-source");
        byte[] data = TestBlobs.random(CHUNK_SIZE + 10, 20);
        Digest digest = Digest.of(data);

        RegistryException e = assertThrows(RegistryException.class,
                () -> client.pushBlob(repository, digest, data.length + 10,
                        BlobSource.of(data)));

        assertTrue(e.getMessage().contains("source ended after " + data.length + " of "
                + (data.length + 10) + " bytes"), e.getMessage());
    }

    @Test
    void crossRepositoryMount() throws Exception {
        Repository source = registry.repository("mount-source");
        Repository target = registry.repository("mount-target");
        byte[] data = TestBlobs.random(4096, 6);
        Digest digest = push(source, data);

        BlobPushResult result = client.mountBlob(source, target, digest);

        assertEquals(BlobPushResult.MOUNTED, result);
        assertArrayEquals(data, pull(client, target, digest));
    }

    @Test
    void mountFallsBackToCopy() throws Exception {
        byte[] data = TestBlobs.random(3 * CHUNK_SIZE / 2, 7);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            proxy.ignoreMounts(true);
            Repository source = new Repository(proxy.address(), "copy-source");
            Repository target = new Repository(proxy.address(), "copy-target");
            Digest digest = push(source, data);

            BlobPushResult result = client.mountBlob(source, target, digest);

            assertEquals(BlobPushResult.UPLOADED, result);
            assertArrayEquals(data, pull(client, target, digest));
        }
    }

    @Test
    void mountOfExistingBlob() throws Exception {
        Repository repository = registry.repository("mount-existing");
        Digest digest = push(repository, TestBlobs.random(100, 8));

        assertEquals(BlobPushResult.EXISTED,
                client.mountBlob(registry.repository("elsewhere"), repository, digest));
    }

    @Test
    void rangeRead() throws Exception {
        Repository repository = registry.repository("ranges");
        byte[] data = TestBlobs.random(100_000, 9);
        Digest digest = push(repository, data);

        byte[] part = client.getBlobRange(repository, digest, 4096, 10_000);

        assertArrayEquals(Arrays.copyOfRange(data, 4096, 14_096), part);
    }

    @Test
    void rangeReadAtEnd() throws Exception {
        Repository repository = registry.repository("ranges");
        byte[] data = TestBlobs.random(5000, 10);
        Digest digest = push(repository, data);

        byte[] part = client.getBlobRange(repository, digest, 4999, 1);

        assertArrayEquals(new byte[] {data[4999]}, part);
    }

    @Test
    void rangePastEndNamesBlobSize() throws Exception {
        Repository repository = registry.repository("ranges");
        Digest digest = push(repository, TestBlobs.random(5000, 84));

        UnexpectedStatusException e = assertThrows(UnexpectedStatusException.class,
                () -> client.getBlobRange(repository, digest, 6000, 10));

        assertEquals(416, e.statusCode());
        assertFalse(e.isTransient());
        assertTrue(e.getMessage().contains("the blob has 5000 bytes"), e.getMessage());
    }

    @Test
    void manifestRoundTripKeepsBytes() throws Exception {
        Repository repository = registry.repository("manifests");
        byte[] config = "{\"architecture\":\"amd64\",\"os\":\"linux\"}"
                .getBytes(StandardCharsets.UTF_8);
        byte[] layer = TestBlobs.random(3000, 11);
        Digest configDigest = push(repository, config);
        Digest layerDigest = push(repository, layer);
        String json = """
                {
                   "schemaVersion": 2,
                   "mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                              "digest": "%s", "size": %d},
                   "layers": [ {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": "%s", "size": %d,
                                "annotations": {"org.example": "x"}, "x-layer-extra": [1, 2]} ],
                   "x-unknown": {"kept": true}
                }
                """.formatted(configDigest, config.length, layerDigest, layer.length);
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        ImageReference tag = repository.tag("v1");

        Digest pushed = client.putManifest(tag, bytes, MediaTypes.OCI_MANIFEST);
        ManifestContent byTag = client.getManifest(tag);
        ManifestContent byDigest = client.getManifest(repository.digest(pushed));

        assertEquals(Digest.of(bytes), pushed);
        assertArrayEquals(bytes, byTag.bytes());
        assertArrayEquals(bytes, byDigest.bytes());
        assertEquals(MediaTypes.OCI_MANIFEST, byTag.mediaType());
        Manifest manifest = byTag.toManifest();
        assertEquals(layerDigest, manifest.layers().getFirst().digest());
        assertTrue(manifest.otherFields().containsKey("x-unknown"));
        assertTrue(manifest.layers().getFirst().otherFields().containsKey("x-layer-extra"));
    }

    @Test
    void manifestCopiedToAnotherTagKeepsDigest() throws Exception {
        Repository repository = registry.repository("copies");
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        Digest configDigest = push(repository, config);
        Manifest manifest = new Manifest(2, MediaTypes.DOCKER_MANIFEST, null,
                Descriptor.of(MediaTypes.DOCKER_CONFIG, configDigest, config.length), List.of(),
                null, Map.of(), Map.of());
        Digest first = client.putManifest(repository.tag("a"), ManifestContent.of(manifest));

        ManifestContent fetched = client.getManifest(repository.tag("a"));
        Digest second = client.putManifest(repository.tag("b"), fetched);

        assertEquals(first, second);
        assertEquals(MediaTypes.DOCKER_MANIFEST, client.getManifest(repository.tag("b"))
                .mediaType());
    }

    @Test
    void indexRoundTrip() throws Exception {
        Repository repository = registry.repository("indexes");
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        Digest configDigest = push(repository, config);
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length), List.of(),
                null, Map.of(), Map.of());
        ManifestContent manifestContent = ManifestContent.of(manifest);
        client.putManifest(repository.digest(manifestContent.digest()), manifestContent);
        Descriptor entry = new Descriptor(MediaTypes.OCI_MANIFEST, manifestContent.digest(),
                manifestContent.size(), List.of(), Map.of(),
                Platform.of("linux", "amd64"), MediaTypes.NYDUS_MANIFEST_ARTIFACT,
                Map.of());
        ImageIndex index = new ImageIndex(2, MediaTypes.OCI_INDEX, null, List.of(entry), null,
                Map.of(), Map.of());

        client.putManifest(repository.tag("multi"), ManifestContent.of(index));
        ManifestContent fetched = client.getManifest(repository.tag("multi"));

        assertTrue(fetched.isIndex());
        assertEquals(index, fetched.toIndex());
        assertTrue(fetched.toIndex().manifests().getFirst().isNydusManifest());
    }

    @Test
    void headManifestDescribesIt() throws Exception {
        Repository repository = registry.repository("heads");
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        Digest configDigest = push(repository, config);
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length), List.of(),
                null, Map.of(), Map.of());
        ManifestContent content = ManifestContent.of(manifest);
        client.putManifest(repository.tag("t"), content);

        Optional<Descriptor> head = client.headManifest(repository.tag("t"));

        assertEquals(Optional.of(content.descriptor()), head);
        assertEquals(Optional.empty(), client.headManifest(repository.tag("missing")));
    }

    @Test
    void missingManifestNamesReference() throws Exception {
        Repository repository = registry.repository("small");
        ImageReference reference = repository.tag("no-such-tag");

        RegistryNotFoundException e = assertThrows(RegistryNotFoundException.class,
                () -> client.getManifest(reference));

        assertTrue(e.getMessage().contains("manifest no-such-tag in " + repository),
                e.getMessage());
        assertTrue(e.getMessage().contains("MANIFEST_UNKNOWN"), e.getMessage());
        assertEquals(List.of("MANIFEST_UNKNOWN"), e.errorCodes());
    }

    @Test
    void missingRepositoryIsNotFound() throws Exception {
        ImageReference reference = registry.repository("no/such/repository").tag("latest");

        RegistryNotFoundException e = assertThrows(RegistryNotFoundException.class,
                () -> client.getManifest(reference));

        assertEquals("no/such/repository", e.repository());
        assertEquals(registry.address(), e.registry());
    }

    @Test
    void missingBlobNamesDigest() throws Exception {
        Repository repository = registry.repository("small");
        Digest digest = Digest.of("absent".getBytes(StandardCharsets.UTF_8));

        RegistryNotFoundException e = assertThrows(RegistryNotFoundException.class,
                () -> client.getBlob(repository, digest));

        assertTrue(e.getMessage().contains("blob " + digest + " in " + repository),
                e.getMessage());
        assertEquals(List.of("BLOB_UNKNOWN"), e.errorCodes());
        assertFalse(client.blobExists(repository, digest));
    }

    @Test
    void corruptStoredBlobIsDetected() throws Exception {
        Repository repository = registry.repository("corrupt");
        byte[] data = TestBlobs.random(50_000, 12);
        Digest digest = push(repository, data);
        Path stored = registry.blobFile(digest);
        byte[] damaged = data.clone();
        damaged[25_000] ^= 1;
        Files.write(stored, damaged);

        DigestMismatchException e = assertThrows(DigestMismatchException.class,
                () -> pull(client, repository, digest));

        assertEquals(digest, e.expected());
        assertEquals(Digest.of(damaged), e.actual());
        assertTrue(e.getMessage().contains(registry.address() + "/corrupt"), e.getMessage());
    }

    @Test
    void truncatedStoredBlobIsDetected() throws Exception {
        Repository repository = registry.repository("truncated");
        byte[] data = TestBlobs.random(50_000, 13);
        Digest digest = push(repository, data);
        Files.write(registry.blobFile(digest), Arrays.copyOf(data, 40_000));

        RegistryException e = assertThrows(RegistryException.class, () -> {
            try (InputStream in = client.getBlob(repository, digest, data.length)) {
                in.readAllBytes();
            }
        });

        assertTrue(e.getMessage().contains("ended after 40000 of 50000 bytes"), e.getMessage());
        assertTrue(e.getMessage().contains(digest.toString()), e.getMessage());
    }

    @Test
    void retriesAfterServiceUnavailable() throws Exception {
        Repository direct = registry.repository("flaky");
        byte[] data = TestBlobs.random(777, 14);
        Digest digest = push(direct, data);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            proxy.failNext(3);

            byte[] read = pull(client, new Repository(proxy.address(), "flaky"), digest);

            assertArrayEquals(data, read);
            assertEquals(4, proxy.requests().size());
        }
    }

    @Test
    void retriesAreBounded() throws Exception {
        Digest digest = push(registry.repository("flaky"), TestBlobs.random(10, 15));
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address());
                LogCapture logs = new LogCapture()) {
            proxy.failNext(100);
            Repository repository = new Repository(proxy.address(), "flaky");

            UnexpectedStatusException e = assertThrows(UnexpectedStatusException.class,
                    () -> client.getBlob(repository, digest));

            assertEquals(503, e.statusCode());
            assertEquals(FAST_RETRIES.maxAttempts(), proxy.requests().size());
            assertTrue(e.isTransient());
            String attempts = "HTTP 503 on all " + FAST_RETRIES.maxAttempts() + " attempts";
            assertTrue(logs.messages(Level.WARN).stream().anyMatch(m -> m.contains(attempts)),
                    logs.messages().toString());
        }
    }

    /** Returns a source of {@code data} that runs {@code action} when it is first opened. */
    private static BlobSource onFirstOpen(byte[] data, Runnable action) {
        return new BlobSource() {
            private int opened;

            @Override
            public InputStream open() {
                if (opened++ == 0) {
                    action.run();
                }
                return new ByteArrayInputStream(data);
            }
        };
    }

    @Test
    void uploadRestartsAfterServiceUnavailable() throws Exception {
        byte[] data = TestBlobs.random(CHUNK_SIZE + 100, 16);
        Digest digest = Digest.of(data);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            Repository repository = new Repository(proxy.address(), "restarted");
            // The first PATCH of the first attempt gets a 503.
            BlobSource failingOnce = onFirstOpen(data, () -> proxy.failNext(1));

            client.pushBlob(repository, digest, data.length, failingOnce);

            assertArrayEquals(data, pull(client, repository, digest));
            assertEquals(2, proxy.requests().stream()
                    .filter(r -> r.startsWith("POST ")).count());
        }
    }

    @Test
    void uploadWaitsForRetryAfter() throws Exception {
        byte[] data = TestBlobs.random(CHUNK_SIZE + 100, 17);
        Digest digest = Digest.of(data);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            Repository repository = new Repository(proxy.address(), "throttled-upload");
            // The window outlasts every backoff of FAST_RETRIES.
            BlobSource throttledOnce = onFirstOpen(data,
                    () -> proxy.rejectFor(Duration.ofMillis(1500), 429, "2"));

            client.pushBlob(repository, digest, data.length, throttledOnce);

            assertArrayEquals(data, pull(client, repository, digest));
        }
    }

    /**
     * Registries that respond to an upload request with another 2xx status than the
     * specification names, which containerd's and upstream nydusify's pushers accept. The cases
     * are 200 or 204 to the POST that opens a session, 204 to a PATCH, and 200, 202 or 204 to
     * the PUT that commits.
     */
    @ParameterizedTest
    @CsvSource({"POST, 202, 200", "POST, 202, 204", "PATCH, 202, 204", "PUT, 201, 200",
        "PUT, 201, 202", "PUT, 201, 204"})
    void uploadAcceptsOtherSuccessStatus(String method, int from, int to) throws Exception {
        byte[] small = TestBlobs.random(CHUNK_SIZE / 2, 60 + to);
        byte[] large = TestBlobs.random(2 * CHUNK_SIZE + 7, 70 + to);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            Repository repository = new Repository(proxy.address(),
                    "status-" + method.toLowerCase() + "-" + to);
            proxy.rewriteStatus(method, from, to);

            client.pushBlob(repository, Digest.of(small), small.length, BlobSource.of(small));
            client.pushBlob(repository, Digest.of(large), large.length, BlobSource.of(large));

            assertArrayEquals(small, pull(client, repository, Digest.of(small)));
            assertArrayEquals(large, pull(client, repository, Digest.of(large)));
        }
    }

    @Test
    void uploadFollowsLocationWithoutScheme() throws Exception {
        byte[] small = TestBlobs.random(CHUNK_SIZE / 2, 90);
        byte[] large = TestBlobs.random(2 * CHUNK_SIZE + 9, 91);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            Repository repository = new Repository(proxy.address(), "schemeless");
            proxy.locationsWithoutScheme(true);

            client.pushBlob(repository, Digest.of(small), small.length, BlobSource.of(small));
            client.pushBlob(repository, Digest.of(large), large.length, BlobSource.of(large));

            assertArrayEquals(small, pull(client, repository, Digest.of(small)));
            assertArrayEquals(large, pull(client, repository, Digest.of(large)));
        }
    }

    @Test
    void requestTooLargeNamesTheLimit() throws Exception {
        byte[] data = TestBlobs.random(2 * CHUNK_SIZE + 5, 92);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            Repository repository = new Repository(proxy.address(), "too-large");
            proxy.maxRequestBytes(CHUNK_SIZE / 2);

            UnexpectedStatusException e = assertThrows(UnexpectedStatusException.class,
                    () -> client.pushBlob(repository, Digest.of(data), data.length,
                            BlobSource.of(data)));

            assertEquals(413, e.statusCode());
            assertTrue(e.getMessage().contains(Digest.of(data).toString()), e.getMessage());
            assertTrue(e.getMessage().contains("limits the size of a request"), e.getMessage());
        }
    }

    @Test
    void commitSuccessWithoutBlobIsRejected() throws Exception {
        byte[] data = TestBlobs.random(CHUNK_SIZE / 2, 80);
        Digest digest = Digest.of(data);
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        // A registry that responds to every upload request with success and stores nothing.
        server.createContext("/", exchange -> {
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                switch (exchange.getRequestMethod()) {
                    case "POST" -> {
                        exchange.getResponseHeaders().set("Location", "/v2/lost/blobs/uploads/1");
                        exchange.sendResponseHeaders(202, -1);
                    }
                    case "PUT" -> exchange.sendResponseHeaders(204, -1);
                    default -> exchange.sendResponseHeaders(404, -1);
                }
            }
        });
        server.start();
        try {
            Repository repository = new Repository("127.0.0.1:" + server.getAddress().getPort(),
                    "lost");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.pushBlob(repository, digest, data.length, BlobSource.of(data)));

            assertTrue(e.getMessage().contains("HTTP 204"), e.getMessage());
            assertTrue(e.getMessage().contains(digest.toString()), e.getMessage());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void insecureModeFallsBackToHttp() throws Exception {
        Repository repository = registry.repository("insecure");
        byte[] data = TestBlobs.random(64, 17);
        Digest digest = push(repository, data);

        try (RegistryClient insecure = newClient(TransportMode.INSECURE, FAST_RETRIES)) {
            assertArrayEquals(data, pull(insecure, repository, digest));
        }
    }

    @Test
    void httpsModeRejectsPlainRegistry() throws Exception {
        Repository repository = registry.repository("insecure");
        Digest digest = push(repository, TestBlobs.random(64, 18));

        try (RegistryClient secure = newClient(TransportMode.HTTPS, RetryPolicy.NONE)) {
            RegistryException e = assertThrows(RegistryException.class,
                    () -> secure.getBlob(repository, digest));

            assertTrue(e.getMessage().contains(registry.address()), e.getMessage());
            assertTrue(e.getMessage().contains("the registry answers in plain HTTP"),
                    e.getMessage());
        }
    }

    @Test
    void stoppedRegistryIsNamedAsUnreachable() throws Exception {
        String address = "127.0.0.1:" + RegistryServer.freePort();
        Repository repository = new Repository(address, "gone");

        try (RegistryClient plain = newClient(TransportMode.PLAIN_HTTP, RetryPolicy.NONE)) {
            RegistryException e = assertThrows(RegistryException.class,
                    () -> plain.getBlob(repository, Digest.of(new byte[] {1})));

            assertTrue(e.getMessage().contains("could not connect to " + address + " (is a"
                    + " registry listening there?)"), e.getMessage());
        }
    }

    /**
     * A registry that serves its blobs from a storage service with signed URLs: {@code front}
     * redirects blob reads to {@code storage}, and both forward to the test registry.
     */
    private record Redirecting(ForwardingProxy front, ForwardingProxy storage)
            implements AutoCloseable {

        static Redirecting start() throws IOException {
            ForwardingProxy storage = ForwardingProxy.start("http://" + registry.address());
            ForwardingProxy front = ForwardingProxy.start("http://" + registry.address());
            front.redirectBlobsTo("http://" + storage.address());
            return new Redirecting(front, storage);
        }

        Repository repository(String name) {
            return new Repository(front.address(), name);
        }

        /** Checks how many blob GETs reached the registry and the storage service. */
        void assertBlobGets(long atRegistry, long atStorage) {
            assertEquals(atRegistry, blobGets(front), "blob GETs at the registry");
            assertEquals(atStorage, blobGets(storage), "blob GETs at the storage service");
        }

        @Override
        public void close() {
            front.close();
            storage.close();
        }
    }

    private static long blobGets(ForwardingProxy proxy) {
        return proxy.requests().stream().filter(r -> r.startsWith("GET /v2/")
                && r.contains("/blobs/sha256:")).count();
    }

    @Test
    void expiredStorageUrlAsksRegistryAgain() throws Exception {
        byte[] data = TestBlobs.random(9000, 71);
        Digest digest = push(registry.repository("signed"), data);
        try (Redirecting redirecting = Redirecting.start()) {
            Repository repository = redirecting.repository("signed");

            redirecting.storage().failNext(1, 403);
            byte[] part = client.getBlobRange(repository, digest, 100, 500);
            redirecting.storage().failNext(1, 403);
            byte[] whole = pull(client, repository, digest);

            assertArrayEquals(Arrays.copyOfRange(data, 100, 600), part);
            assertArrayEquals(data, whole);
            redirecting.assertBlobGets(4, 4);
        }
    }

    @Test
    void redirectIsReusedUntilItFails() throws Exception {
        byte[] data = TestBlobs.random(9000, 81);
        Digest digest = push(registry.repository("signed"), data);
        try (Redirecting redirecting = Redirecting.start()) {
            Repository repository = redirecting.repository("signed");

            for (int offset = 0; offset < 3000; offset += 1000) {
                byte[] part = client.getBlobRange(repository, digest, offset, 1000);
                assertArrayEquals(Arrays.copyOfRange(data, offset, offset + 1000), part);
            }
            redirecting.assertBlobGets(1, 3);

            redirecting.storage().failNext(1, 403);
            byte[] afterExpiry = client.getBlobRange(repository, digest, 10, 20);

            assertArrayEquals(Arrays.copyOfRange(data, 10, 30), afterExpiry);
            redirecting.assertBlobGets(2, 5);
        }
    }

    @Test
    void storageRejectionNamesStorageHost() throws Exception {
        byte[] data = TestBlobs.random(900, 73);
        Digest digest = push(registry.repository("signed"), data);
        try (Redirecting redirecting = Redirecting.start()) {
            redirecting.storage().failNext(100, 403);
            Repository repository = redirecting.repository("signed");

            RegistryException e = assertThrows(RegistryException.class,
                    () -> client.getBlobRange(repository, digest, 0, 10));

            assertFalse(e instanceof RegistryUnauthorizedException, e.toString());
            assertTrue(e.getMessage().contains("HTTP 403"), e.getMessage());
            assertTrue(e.getMessage().contains(redirecting.storage().address()),
                    e.getMessage());
            assertTrue(e.getMessage().contains("redirected"), e.getMessage());
            assertEquals(2, blobGets(redirecting.front()));
        }
    }

    /** Returns a Retry-After value of at least two seconds in {@code form}. */
    private static String retryAfterValue(String form) {
        if (form.equals("seconds")) {
            return "2";
        }
        // An HTTP date has whole seconds, so three seconds ahead is at least two.
        return java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(
                java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(3));
    }

    @ParameterizedTest
    @CsvSource({"429, seconds", "503, date"})
    void retryAfterIsWaited(int status, String form) throws Exception {
        byte[] data = TestBlobs.random(700, 74);
        Digest digest = push(registry.repository("throttled"), data);
        try (ForwardingProxy front = ForwardingProxy.start("http://" + registry.address())) {
            // The window outlasts every backoff of FAST_RETRIES, but not the requested wait.
            front.rejectFor(Duration.ofMillis(1500), status, retryAfterValue(form));

            byte[] read = pull(client, new Repository(front.address(), "throttled"), digest);

            assertArrayEquals(data, read);
            assertEquals(2, blobGets(front));
        }
    }

    @Test
    void retryAfterBeyondTimeLimitFailsAtOnce() throws Exception {
        Digest digest = push(registry.repository("throttled"), TestBlobs.random(70, 76));
        try (ForwardingProxy front = ForwardingProxy.start("http://" + registry.address())) {
            front.rejectFor(Duration.ofMinutes(5), 429, "3600");
            Repository repository = new Repository(front.address(), "throttled");

            UnexpectedStatusException e = assertThrows(UnexpectedStatusException.class,
                    () -> client.getBlob(repository, digest));

            assertEquals(429, e.statusCode());
            assertEquals(Optional.of(Duration.ofHours(1)), e.retryAfter());
            assertTrue(e.getMessage().contains("Retry-After"), e.getMessage());
            assertEquals(1, blobGets(front));
        }
    }
}
