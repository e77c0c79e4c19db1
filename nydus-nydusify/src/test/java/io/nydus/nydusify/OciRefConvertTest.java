package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.BlobSource;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.Repository;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * nydusify convert --oci-ref: the gzip source layers stay in the repository as the data blobs,
 * the manifest lists one ref blob per layer and the bootstrap layer, and nydusify check
 * passes on the result.
 */
class OciRefConvertTest {
    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;
    private static ImageReference source;
    private static ImageReference target;
    private static Manifest sourceManifest;
    private static Manifest targetManifest;

    @BeforeAll
    static void convert() throws Exception {
        temp = TempDirs.create("nydusify-oci-ref-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
        source = registry.repository("ociref/app").tag("v1");
        target = registry.repository("ociref/app").tag("v1-nydus");
        SeedImage.threeLayers(temp.resolve("seed")).push(client, source);
        ConvertOptions options = ConvertOptions.defaults(source, target)
                .withWorkDir(temp.resolve("convert-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64")).withOciRef(true);
        new Converter(client, client).convert(options);
        sourceManifest = Manifest.parse(client.getManifest(source).bytes(), "source");
        targetManifest = Manifest.parse(client.getManifest(target).bytes(), "target");
    }

    @AfterAll
    static void stop() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    @Test
    void manifestListsRefBlobsWithSourceLayers() {
        List<Descriptor> sourceLayers = sourceManifest.layers();
        List<Descriptor> layers = targetManifest.layers();

        assertEquals(sourceLayers.size() + 1, layers.size());
        for (int i = 0; i < sourceLayers.size(); i++) {
            Descriptor blob = layers.get(i);
            assertEquals(MediaTypes.NYDUS_BLOB, blob.mediaType());
            assertEquals("true", blob.annotations().get(MediaTypes.ANNOTATION_NYDUS_BLOB));
            assertEquals(sourceLayers.get(i).digest().toString(),
                    blob.annotations().get(MediaTypes.ANNOTATION_NYDUS_REF));
        }
        assertEquals("true", layers.getLast().annotations()
                .get(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP));
    }

    @Test
    void bootstrapNamesSourceLayersAndRefBlobs() throws IOException {
        MountSource fetched = MountSource.fetch(ImageLocation.registry(target), client,
                TransportMode.PLAIN_HTTP, CredentialProvider.anonymous(),
                PlatformSpec.parse("linux/amd64"), temp.resolve("fetched"));
        List<BlobInfo> blobs = BootstrapReader.read(fetched.bootstrap()).blobs();

        // A layer without file data has no chunks, so the merge leaves its blob out.
        assertTrue(blobs.size() >= 2, "blobs " + blobs);
        List<String> sourceDigests = sourceManifest.layers().stream()
                .map(layer -> layer.digest().hex()).toList();
        for (BlobInfo blob : blobs) {
            int layer = sourceDigests.indexOf(blob.blobId());
            assertTrue(layer >= 0, "blob " + blob.blobId() + " is no source layer");
            assertTrue(blob.has(BlobFeatures.ZRAN), blob.blobId());
            assertEquals(targetManifest.layers().get(layer).digest().hex(), blob.metaDigest());
            assertEquals(targetManifest.layers().get(layer).size(), blob.metaSize());
        }
    }

    @Test
    void uncompressedLayerIsRejected() throws Exception {
        assertPlainLayerRejected(registry.repository("ociref/plain").tag("v1"),
                MediaTypes.OCI_LAYER_TAR,
                "has media type " + MediaTypes.OCI_LAYER_TAR + ", which is not gzip");
    }

    @Test
    void plainLayerTypedGzipIsRejected() throws Exception {
        assertPlainLayerRejected(registry.repository("ociref/mislabeled").tag("v1"),
                MediaTypes.OCI_LAYER_GZIP, "is not gzip data");
    }

    /**
     * Converts an image whose layer is an uncompressed tar of type layerType and checks that
     * the error names the layer, the reason and the way out.
     */
    private static void assertPlainLayerRejected(ImageReference plain, String layerType,
            String reason) throws IOException {
        Digest layerDigest = pushPlainLayerImage(plain, layerType);

        IOException e = assertThrows(IOException.class, () -> convertOciRef(plain));
        assertTrue(e.getMessage().contains("layer " + layerDigest), e.getMessage());
        assertTrue(e.getMessage().contains(reason), e.getMessage());
        assertTrue(e.getMessage().contains("convert without --oci-ref"), e.getMessage());
    }

    /** Pushes a one-layer image whose layer is an uncompressed tar of type layerType. */
    private static Digest pushPlainLayerImage(ImageReference reference, String layerType)
            throws IOException {
        SeedImage seed = SeedImage.oneLayer(temp.resolve("seed-" + reference.repository()
                .replace('/', '-')), layer -> { });
        byte[] tar = Files.readAllBytes(seed.layerTars().getFirst());
        Repository repository = reference.toRepository();
        Digest layerDigest = Digest.of(tar);
        client.pushBlob(repository, layerDigest, tar.length, BlobSource.of(tar));
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{"
                + "\"type\":\"layers\",\"diff_ids\":[\"" + layerDigest + "\"]}}")
                .getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
        client.putManifest(reference, ManifestContent.of(new Manifest(2,
                MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length),
                List.of(Descriptor.of(layerType, layerDigest, tar.length)), null, Map.of(),
                Map.of())));
        return layerDigest;
    }

    private static void convertOciRef(ImageReference image) throws IOException {
        ConvertOptions options = ConvertOptions.defaults(image, image.withTag("v1-nydus"))
                .withWorkDir(temp.resolve("work-" + image.repository().replace('/', '-')))
                .withPlatform(PlatformSpec.parse("linux/amd64")).withOciRef(true);
        new Converter(client, client).convert(options);
    }

    @Test
    void dockerFormatIsRejected() {
        ConvertOptions docker = ConvertOptions.defaults(source, target).withDockerV2Format(true);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> docker.withOciRef(true));
        assertTrue(e.getMessage().contains("--oci-ref"), e.getMessage());
    }

    @Test
    void checkNamesMissingRefBlob() throws Exception {
        ImageReference image = registry.repository("ociref/no-ref").tag("v1");
        SeedImage.oneLayer(temp.resolve("seed-no-ref"), layer -> { }).push(client, image);
        ImageReference converted = image.withTag("v1-nydus");
        convertOciRef(image);
        Descriptor refBlob = Manifest.parse(client.getManifest(converted).bytes(), "converted")
                .layers().getFirst();
        deleteBlob("ociref/no-ref", refBlob.digest());

        IOException e = assertThrows(IOException.class, () -> new ImageCheck(client, client)
                .check(CheckOptions.defaults(image, converted)
                        .withWorkDir(temp.resolve("check-no-ref"))
                        .withPlatform(PlatformSpec.parse("linux/amd64"))));
        assertTrue(e.getMessage().startsWith("blob layer 1/1, the ref blob of gzip layer "
                + refBlob.annotations().get(MediaTypes.ANNOTATION_NYDUS_REF) + ": "),
                e.getMessage());
        assertTrue(e.getMessage().contains(refBlob.digest().toString()), e.getMessage());
    }

    private static void deleteBlob(String repository, Digest digest) throws Exception {
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<Void> response = http.send(HttpRequest.newBuilder(URI.create("http://"
                    + registry.address() + "/v2/" + repository + "/blobs/" + digest))
                    .DELETE().build(), HttpResponse.BodyHandlers.discarding());
            assertEquals(202, response.statusCode(), "DELETE blob " + digest);
        }
    }

    @Test
    void checkPasses() throws IOException {
        CheckResult result = new ImageCheck(client, client).check(CheckOptions.defaults(
                source, target).withWorkDir(temp.resolve("check-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64")));

        assertEquals(List.of(), result.differences());
        assertTrue(result.passed());
        assertTrue(result.chunksVerified() >= 4, "chunks " + result.chunksVerified());
    }
}
