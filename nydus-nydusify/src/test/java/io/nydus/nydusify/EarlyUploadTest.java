package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.ImageReference;
import io.nydus.registry.LogCapture;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.RegistryServer.AccessLogEntry;
import io.nydus.registry.Repository;
import io.nydus.registry.TokenService;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Converts into repositories without images, where layer blobs are sent while they are
 * built. The result must equal a convert that pushes each blob after its build, also when a
 * part fails or the target has the blob already, and a failed build must leave nothing.
 */
class EarlyUploadTest {
    /** Random, so that the blob stays this large and is sent in several parts. */
    private static final int DATA_BYTES = 24 << 20;

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;
    private static SeedImage seed;
    private static ImageReference source;
    private static ConvertResult reference;

    @BeforeAll
    static void seedImage() throws Exception {
        temp = TempDirs.create("early-upload-");
        registry = RegistryServer.startWithAccessLog(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
        byte[] data = new byte[DATA_BYTES];
        new Random(42).nextBytes(data);
        seed = SeedImage.oneLayer(temp.resolve("seed"),
                layer -> Files.write(layer.resolve("data.bin"), data));
        source = registry.repository("early/source").tag("v1");
        seed.push(client, source);
        // The source repository has an image, so this convert pushes each blob after its
        // build, as every convert into a repository with images does.
        reference = convert(source, registry.repository("early/source").tag("nydus"));
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    @Test
    void targetWithImageGetsWholeBlob() throws Exception {
        assertTrue(patches("early/source").isEmpty());
        assertEquals(BlobPushResult.UPLOADED, reference.layers().getFirst().push());
    }

    @Test
    void emptyTargetGetsBlobInParts() throws Exception {
        ImageReference target = registry.repository("early/fresh").tag("nydus");

        ConvertResult result = convert(source, target);

        assertEquals(reference.targetManifest(), result.targetManifest());
        LayerResult layer = result.layers().getFirst();
        assertEquals(BlobPushResult.UPLOADED, layer.push());
        assertFalse(patches("early/fresh").isEmpty());
        assertTrue(layer.blobSize() > DATA_BYTES, "blob of " + layer.blobSize() + " bytes");
        assertBlobStored(target.toRepository(), layer);
        assertTrue(registry.openUploads("early/fresh").isEmpty());
    }

    @Test
    void failedPartPushesBlobFromFile() throws Exception {
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address());
                LogCapture log = new LogCapture("io.nydus.nydusify")) {
            proxy.failNext("PATCH", 1);
            ImageReference target = new Repository(proxy.address(), "early/retry").tag("nydus");

            ConvertResult result = convert(source, target);

            assertEquals(reference.targetManifest(), result.targetManifest());
            assertEquals(BlobPushResult.UPLOADED, result.layers().getFirst().push());
            assertTrue(log.messages(Level.WARN).stream().anyMatch(message -> message.contains(
                    "so it is pushed again from its file")), log.messages(Level.WARN).toString());
            assertBlobStored(registry.repository("early/retry"), result.layers().getFirst());
            assertTrue(registry.openUploads("early/retry").isEmpty());
        }
    }

    @Test
    void existingBlobCancelsUpload() throws Exception {
        Repository target = registry.repository("early/has-blob");
        Digest blob = reference.layers().getFirst().blobDigest();
        client.mountBlob(registry.repository("early/source"), target, blob);
        List<Path> storedBefore = registry.storedBlobFiles();

        ConvertResult result = convert(source, target.tag("nydus"));

        assertEquals(reference.targetManifest(), result.targetManifest());
        assertEquals(BlobPushResult.EXISTED, result.layers().getFirst().push());
        assertFalse(patches("early/has-blob").isEmpty());
        assertTrue(requests("DELETE", "early/has-blob").size() >= 1);
        assertTrue(registry.openUploads("early/has-blob").isEmpty());
        assertEquals(storedBefore, registry.storedBlobFiles());
    }

    @Test
    void failedBuildCancelsUpload() throws Exception {
        // The same tar compressed at another level is a layer of its own, whose stored copy
        // can be changed without touching the layer of the other tests.
        byte[] layer = gzipFast(seed.layerTars().getFirst());
        ImageReference broken = registry.repository("early/broken-source").tag("v1");
        Digest layerDigest = pushSingleLayer(broken, layer);
        Path stored = registry.blobFile(layerDigest);
        byte[] changed = Files.readAllBytes(stored);
        changed[changed.length - 1] ^= 0x5a;
        Files.write(stored, changed);
        List<Path> storedBefore = registry.storedBlobFiles();

        IOException e = assertThrows(IOException.class, () -> convert(broken,
                registry.repository("early/broken").tag("nydus")));

        assertTrue(e.getMessage().contains(layerDigest.toString()), e.getMessage());
        // The sender opens its upload once 8 MiB of the 24 MiB blob are written, and the
        // changed byte is found only at the end of the layer. Whether a part is sent by then
        // depends on the machine's load, but the upload is open and must be cancelled.
        assertFalse(requests("DELETE", "early/broken").isEmpty());
        assertTrue(registry.openUploads("early/broken").isEmpty());
        assertFalse(client.hasTags(registry.repository("early/broken")));
        assertEquals(storedBefore, registry.storedBlobFiles());
    }

    @Test
    void repeatedLayerIsSentOnce() throws Exception {
        SeedImage twice = new SeedImage(temp.resolve("twice"));
        twice.addLayer(temp.resolve("seed/layer1"));
        twice.repeatLastLayer();
        ImageReference from = registry.repository("early/twice-source").tag("v1");
        twice.push(client, from);

        ConvertResult result = convert(from, registry.repository("early/twice").tag("nydus"));

        assertEquals(BlobPushResult.UPLOADED, result.layers().get(0).push());
        assertEquals(BlobPushResult.EXISTED, result.layers().get(1).push());
        assertFalse(patches("early/twice").isEmpty());
        assertTrue(requests("DELETE", "early/twice").isEmpty());
    }

    @Test
    void partsFollowTheWrittenFile() throws Exception {
        byte[] blob = randomBytes((int) (2 * EarlyUpload.MIN_PART_BYTES) + 5, 1);
        BlockingQueue<Long> pushed = new LinkedBlockingQueue<>();
        Path file = temp.resolve("parts.blob");

        BlobPushResult result = sendGrowing("early/parts", file, blob, pushed, upload -> {
            int part = (int) EarlyUpload.MIN_PART_BYTES;
            append(upload, file, blob, 0, part);
            assertEquals(part, pushed.poll(60, TimeUnit.SECONDS));
            append(upload, file, blob, part, part);
            assertEquals(2L * part, pushed.poll(60, TimeUnit.SECONDS));
            append(upload, file, blob, 2 * part, blob.length - 2 * part);
        });

        assertEquals(BlobPushResult.UPLOADED, result);
        assertEquals(3, patches("early/parts").size());
        assertArrayEquals(blob, pull("early/parts", blob));
    }

    @Test
    void partAfterTokenExpiry() throws Exception {
        byte[] blob = randomBytes((int) (2 * EarlyUpload.MIN_PART_BYTES) + 5, 2);
        BlockingQueue<Long> pushed = new LinkedBlockingQueue<>();
        Path file = temp.resolve("token.blob");
        try (TempDir dir = TempDirs.create("early-token-");
                TokenService tokens = TokenService.start(dir.path(), "carol", "Early-Pass-7");
                RegistryServer tokenRegistry = RegistryServer.start(dir, "",
                        tokens.authSection());
                RegistryClient authorized = RegistryClient.builder()
                        .transportMode(TransportMode.PLAIN_HTTP)
                        .credentials(CredentialProvider.of(Map.of(tokenRegistry.address(),
                                new Credentials("carol", "Early-Pass-7"))))
                        .build();
                LogCapture log = new LogCapture("io.nydus")) {
            // The registry accepts each token for 2 to 3 s, though the token service reports 300 s.
            tokens.realLifetime(3);
            ImageStore target = new RegistryStore(ImageLocation.parse(tokenRegistry.address()
                    + "/early/token:nydus"), authorized);

            BlobPushResult result = sendGrowing(target, file, blob, pushed, upload -> {
                int part = (int) EarlyUpload.MIN_PART_BYTES;
                append(upload, file, blob, 0, part);
                assertEquals(part, pushed.poll(60, TimeUnit.SECONDS));
                awaitRejection(tokens);
                append(upload, file, blob, part, blob.length - part);
            });

            assertEquals(BlobPushResult.UPLOADED, result);
            try (InputStream in = authorized.getBlob(new Repository(tokenRegistry.address(),
                    "early/token"), Digest.of(blob), blob.length)) {
                assertArrayEquals(blob, in.readAllBytes());
            }
            assertTrue(log.messages(Level.INFO).stream().anyMatch(message -> message.contains(
                    "PATCH new blob in " + tokenRegistry.address() + "/early/token")
                    && message.contains("rejected the bearer token")), log.messages().toString());
            assertFalse(log.messages(Level.WARN).stream().anyMatch(message -> message.contains(
                    "so it is pushed again from its file")), log.messages(Level.WARN).toString());
            assertTrue(tokenRegistry.openUploads("early/token").isEmpty());
        }
    }

    /**
     * Returns blob sizes and the PATCH requests that a blob of that size, written at once,
     * takes: none below the minimum part size, and a second part beyond the maximum size.
     */
    static Stream<Arguments> blobSizes() {
        long min = EarlyUpload.MIN_PART_BYTES;
        long max = EarlyUpload.MAX_PART_BYTES;
        return Stream.of(Arguments.of(min - 1, 0), Arguments.of(min, 1),
                Arguments.of(max + (3 << 20), 2));
    }

    @ParameterizedTest
    @MethodSource("blobSizes")
    void blobSizeSetsPatchCount(long size, int expectedPatches) throws Exception {
        byte[] blob = randomBytes((int) size, size);
        String repository = "early/size-" + size;
        Path file = temp.resolve("size-" + size + ".blob");

        BlobPushResult result = sendGrowing(repository, file, blob, new LinkedBlockingQueue<>(),
                upload -> append(upload, file, blob, 0, blob.length));

        assertEquals(BlobPushResult.UPLOADED, result);
        assertEquals(expectedPatches, patches(repository).size());
        assertArrayEquals(blob, pull(repository, blob));
    }

    /** Writes the file as a build would, with {@code writes}, and ends the upload. */
    private static BlobPushResult sendGrowing(String repository, Path file, byte[] blob,
            BlockingQueue<Long> pushed, Writes writes) throws Exception {
        ImageStore target = new RegistryStore(ImageLocation.parse(registry.address() + "/"
                + repository + ":nydus"), client);
        return sendGrowing(target, file, blob, pushed, writes);
    }

    /** Writes the file as a build would, with {@code writes}, and ends its upload to target. */
    private static BlobPushResult sendGrowing(ImageStore target, Path file, byte[] blob,
            BlockingQueue<Long> pushed, Writes writes) throws Exception {
        Files.write(file, new byte[0]);
        EarlyUpload upload = new EarlyUpload(target, target.describe(), pushed::add);
        upload.opened(file);
        writes.run(upload);
        upload.complete();
        return upload.finish(Digest.of(blob), blob.length, BlobSource.of(file));
    }

    /** The writes of a test, which append to the blob file and report its length. */
    @FunctionalInterface
    private interface Writes {
        void run(EarlyUpload upload) throws Exception;
    }

    /** Appends bytes {@code offset} to {@code offset + length} of the blob to the file. */
    private static void append(EarlyUpload upload, Path file, byte[] blob, int offset,
            int length) throws IOException {
        try (OutputStream out = Files.newOutputStream(file, StandardOpenOption.APPEND)) {
            out.write(blob, offset, length);
        }
        upload.written(offset + length);
    }

    /** Sleeps until the registry rejects the token that {@code tokens} issued last. */
    private static void awaitRejection(TokenService tokens) throws InterruptedException {
        Duration left = Duration.between(Instant.now(),
                tokens.lastTokenRejectedFrom().plusMillis(100));
        if (left.isPositive()) {
            Thread.sleep(left);
        }
    }

    private static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static byte[] pull(String repository, byte[] blob) throws IOException {
        try (InputStream in = client.getBlob(registry.repository(repository), Digest.of(blob),
                blob.length)) {
            return in.readAllBytes();
        }
    }

    private static ConvertResult convert(ImageReference from, ImageReference to)
            throws IOException {
        Path work = Files.createTempDirectory(temp.path(), "work-");
        ConvertOptions options = ConvertOptions.defaults(from, to).withWorkDir(work)
                .withPlatform(PlatformSpec.parse("linux/amd64"));
        try (RegistryClient target = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).build()) {
            return new Converter(client, target).convert(options);
        }
    }

    private static void assertBlobStored(Repository repository, LayerResult layer)
            throws IOException {
        try (InputStream in = client.getBlob(repository, layer.blobDigest(), layer.blobSize())) {
            assertEquals(layer.blobSize(), in.transferTo(OutputStream.nullOutputStream()));
        }
    }

    private static List<AccessLogEntry> patches(String repository) throws Exception {
        return requests("PATCH", repository);
    }

    private static List<AccessLogEntry> requests(String method, String repository)
            throws Exception {
        String prefix = "/v2/" + repository + "/blobs/uploads/";
        return registry.accessLog().stream().filter(entry -> entry.method().equals(method)
                && entry.path().startsWith(prefix)).toList();
    }

    private static byte[] gzipFast(Path tar) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(bytes) {
            {
                def.setLevel(Deflater.BEST_SPEED);
            }
        }) {
            Files.copy(tar, gzip);
        }
        return bytes.toByteArray();
    }

    /** Pushes an image of one gzip layer, whose diff id in the config is its digest. */
    private static Digest pushSingleLayer(ImageReference reference, byte[] layer)
            throws IOException {
        Digest layerDigest = Digest.of(layer);
        Repository repository = reference.toRepository();
        client.pushBlob(repository, layerDigest, layer.length, BlobSource.of(layer));
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                + "\"layers\",\"diff_ids\":[\"" + layerDigest + "\"]}}")
                .getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length),
                List.of(Descriptor.of(MediaTypes.OCI_LAYER_GZIP, layerDigest, layer.length)),
                null, Map.of(), Map.of());
        client.putManifest(reference, ManifestContent.of(manifest));
        return layerDigest;
    }
}
