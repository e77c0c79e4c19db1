package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.Platform;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link ImageCopier} against local {@code docker-registry} servers. */
class ImageCopierTest {
    private static final PlatformSpec AMD64 = PlatformSpec.parse("linux/amd64");

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("copy-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    @Test
    void copyKeepsNydusManifestDigest() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ImageReference source = convertedImage(dir, "keep/app");
            ImageReference target = reference("keep/mirror", "v1");

            CopyResult result = copy(source, target);

            ManifestContent sourceManifest = client.getManifest(source);
            ManifestContent targetManifest = client.getManifest(target);
            assertEquals(sourceManifest.digest(), result.digest());
            assertEquals(sourceManifest.digest(), targetManifest.digest());
            assertEquals(sourceManifest.mediaType(), targetManifest.mediaType());
            assertTrue(targetManifest.toManifest().isNydus());
            assertEquals(5, result.blobsMounted());
            assertEquals(0, result.blobsUploaded());
            assertEquals(0, result.blobsExisting());
            assertEquals(1, result.manifests());
            Manifest manifest = targetManifest.toManifest();
            for (Descriptor layer : manifest.layers()) {
                assertTrue(client.blobExists(target.toRepository(), layer.digest()),
                        layer.digest().toString());
            }
        }
    }

    @Test
    void secondCopyUploadsNothing() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ImageReference source = convertedImage(dir, "again/app");
            ImageReference target = reference("again/mirror", "v1");
            copy(source, target);
            List<Path> storedBefore = registry.storedBlobFiles();

            CopyResult second = copy(source, target);

            assertEquals(0, second.transfers());
            assertEquals(5, second.blobsExisting());
            assertEquals(0, second.bytesUploaded());
            assertEquals(storedBefore, registry.storedBlobFiles());
        }
    }

    @Test
    void copyToOtherRegistryUploadsBlobs() throws Exception {
        try (TempDir dir = TempDirs.create("copy-");
                RegistryServer other = RegistryServer.start(dir)) {
            ImageReference source = convertedImage(dir, "cross/app");
            ImageReference target = other.repository("cross/mirror").tag("v1");

            CopyResult result = copy(source, target);

            ManifestContent sourceManifest = client.getManifest(source);
            Manifest manifest = sourceManifest.toManifest();
            long expectedBytes = manifest.config().size();
            for (Descriptor layer : manifest.layers()) {
                expectedBytes += layer.size();
                assertTrue(Arrays.equals(blob(source, layer), blob(target, layer)),
                        layer.digest().toString());
            }
            assertEquals(sourceManifest.digest(), client.getManifest(target).digest());
            assertEquals(5, result.blobsUploaded());
            assertEquals(0, result.blobsMounted());
            assertEquals(expectedBytes, result.bytesUploaded());
            assertEquals(0, copy(source, target).transfers());
        }
    }

    @Test
    void allPlatformsCopiesIndex() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ImageReference index = pushTwoPlatformIndex(dir, "multi/app");
            ImageReference target = reference("multi/mirror", "all");

            CopyResult result = copy(index, target, CopyOptions.defaults(index, target)
                    .withAllPlatforms(true));

            ManifestContent sourceIndex = client.getManifest(index);
            assertEquals(sourceIndex.digest(), client.getManifest(target).digest());
            assertEquals(3, result.manifests());
            for (Descriptor entry : sourceIndex.toIndex().manifests()) {
                ManifestContent copied = client.getManifest(target.toRepository()
                        .digest(entry.digest()));
                assertEquals(entry.digest(), copied.digest());
            }
        }
    }

    @Test
    void indexNestedBeyondLimitIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ManifestContent nested = client.getManifest(pushTwoPlatformIndex(dir, "deep/app"));
            for (int level = 1; level <= ImageCopier.MAX_INDEX_DEPTH; level++) {
                ImageIndex outer = new ImageIndex(2, MediaTypes.OCI_INDEX, null,
                        List.of(entry(nested, Platform.of("linux", "amd64"))), null, Map.of(),
                        Map.of());
                nested = ManifestContent.of(outer);
                client.putManifest(reference("deep/app", "level-" + level), nested);
            }
            ImageReference top = reference("deep/app", "level-" + ImageCopier.MAX_INDEX_DEPTH);
            ImageReference target = reference("deep/mirror", "all");

            IOException e = assertThrows(IOException.class, () -> copy(top, target,
                    CopyOptions.defaults(top, target).withAllPlatforms(true)));

            assertTrue(e.getMessage().contains("deep/app"), e.getMessage());
            assertTrue(e.getMessage().endsWith(" is an index nested 17 levels deep, more than"
                    + " the 16 levels copied"), e.getMessage());
        }
    }

    @Test
    void platformCopiesOneManifest() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ImageReference index = pushTwoPlatformIndex(dir, "one/app");
            ImageReference target = reference("one/mirror", "arm64");
            Descriptor arm64 = client.getManifest(index).toIndex().manifests().stream()
                    .filter(entry -> entry.platform().architecture().equals("arm64"))
                    .findFirst().orElseThrow();

            CopyResult result = copy(index, target, CopyOptions.defaults(index, target)
                    .withPlatform(PlatformSpec.parse("linux/arm64")));

            ManifestContent copied = client.getManifest(target);
            assertEquals(arm64.digest(), copied.digest());
            assertEquals(arm64.digest(), result.digest());
            assertEquals(1, result.manifests());
            assertEquals(2, result.transfers());
        }
    }

    @Test
    void platformListCopiesIndexOfThoseEntries() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ImageReference index = pushTwoPlatformIndex(dir, "some/app");
            ManifestContent ppc64le = SeedImage.oneLayer(dir.resolve("ppc64le"),
                    layer -> SeedImage.write(layer.resolve("arch"), "ppc64le\n"))
                    .push(client, reference("some/app", "ppc64le"));
            List<Descriptor> three = new ArrayList<>(client.getManifest(index).toIndex()
                    .manifests());
            three.add(entry(ppc64le, Platform.of("linux", "ppc64le")));
            ImageReference source = reference("some/app", "three");
            client.putManifest(source, ManifestContent.of(new ImageIndex(2,
                    MediaTypes.OCI_INDEX, null, three, null, Map.of(), Map.of())));
            ImageReference target = reference("some/mirror", "two");

            CopyResult result = copy(source, target, CopyOptions.defaults(source, target)
                    .withPlatforms(PlatformSpec.parseList("linux/ppc64le,linux/amd64")));

            List<Descriptor> copied = client.getManifest(target).toIndex().manifests();
            assertEquals(List.of(three.get(0).digest(), three.get(2).digest()),
                    copied.stream().map(Descriptor::digest).toList());
            assertEquals(3, result.manifests());
            for (Descriptor entry : copied) {
                assertEquals(entry.digest(), client.getManifest(target.toRepository()
                        .digest(entry.digest())).digest());
            }
        }
    }

    @Test
    void indexWithoutPlatformIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ImageReference index = pushTwoPlatformIndex(dir, "noplat/app");
            ImageReference target = reference("noplat/mirror", "v1");
            CopyOptions options = CopyOptions.defaults(index, target)
                    .withPlatform(PlatformSpec.parse("linux/s390x"));

            IOException e = assertThrows(IOException.class,
                    () -> new ImageCopier(client, client).copy(options));

            assertTrue(e.getMessage().contains("platform linux/s390x"), e.getMessage());
            assertTrue(e.getMessage().contains("linux/arm64"), e.getMessage());
        }
    }

    @Test
    void singleManifestOfOtherPlatformFails() throws Exception {
        try (TempDir dir = TempDirs.create("copy-")) {
            ImageReference source = reference("otherplat/app", "v1");
            SeedImage.oneLayer(dir.resolve("seed"), layer -> { }).push(client, source);
            ImageReference target = reference("otherplat/mirror", "v1");
            CopyOptions options = CopyOptions.defaults(source, target)
                    .withPlatform(PlatformSpec.parse("linux/arm64"));

            IOException e = assertThrows(IOException.class,
                    () -> new ImageCopier(client, client).copy(options));

            assertTrue(e.getMessage().contains("is for platform linux/amd64"), e.getMessage());
        }
    }

    @Test
    void missingTagNamesReference() {
        ImageReference source = reference("missing/app", "nope");
        ImageReference target = reference("missing/mirror", "v1");

        IOException e = assertThrows(IOException.class, () -> copy(source, target));

        assertTrue(e.getMessage().contains("registry " + registry.address()), e.getMessage());
        assertTrue(e.getMessage().contains("repository missing/app"), e.getMessage());
        assertTrue(e.getMessage().contains("tag nope"), e.getMessage());
    }

    @Test
    void digestTargetIsRejected() {
        ImageReference source = reference("digest/app", "v1");
        ImageReference target = registry.repository("digest/mirror")
                .digest(io.nydus.registry.Digest.of(new byte[0]));

        assertThrows(IllegalArgumentException.class, () -> CopyOptions.defaults(source,
                target));
    }

    /** Pushes a three-layer OCI image to REPOSITORY:v1 and converts it to REPOSITORY:nydus. */
    private static ImageReference convertedImage(TempDir dir, String repository)
            throws IOException {
        ImageReference source = reference(repository, "v1");
        SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
        ImageReference nydus = reference(repository, "nydus");
        ConvertOptions options = ConvertOptions.defaults(source, nydus)
                .withWorkDir(dir.resolve("work")).withPlatform(AMD64);
        new Converter(client, client).convert(options);
        return nydus;
    }

    /**
     * Pushes two one-layer images and an index listing them as linux/amd64 and linux/arm64,
     * and returns the index reference.
     */
    private static ImageReference pushTwoPlatformIndex(TempDir dir, String repository)
            throws IOException {
        ManifestContent amd64 = SeedImage.oneLayer(dir.resolve("amd64"), layer -> { })
                .push(client, reference(repository, "amd64"));
        ManifestContent arm64 = SeedImage.oneLayer(dir.resolve("arm64"), layer -> SeedImage
                .write(layer.resolve("arch"), "arm64\n")).push(client,
                        reference(repository, "arm64"));
        List<Descriptor> entries = new ArrayList<>();
        entries.add(entry(amd64, Platform.of("linux", "amd64")));
        entries.add(entry(arm64, Platform.of("linux", "arm64")));
        ImageIndex index = new ImageIndex(2, MediaTypes.OCI_INDEX, null, entries, null,
                Map.of(), Map.of());
        ImageReference indexRef = reference(repository, "multi");
        client.putManifest(indexRef, ManifestContent.of(index));
        return indexRef;
    }

    private static Descriptor entry(ManifestContent manifest, Platform platform) {
        return new Descriptor(manifest.mediaType(), manifest.digest(), manifest.size(),
                List.of(), Map.of(), platform, null, Map.of());
    }

    private static CopyResult copy(ImageReference source, ImageReference target)
            throws IOException {
        return copy(source, target, CopyOptions.defaults(source, target).withPlatform(AMD64));
    }

    private static CopyResult copy(ImageReference source, ImageReference target,
            CopyOptions options) throws IOException {
        return new ImageCopier(client, client).copy(options);
    }

    private static byte[] blob(ImageReference image, Descriptor descriptor)
            throws IOException {
        try (InputStream in = client.getBlob(image.toRepository(), descriptor.digest(),
                descriptor.size())) {
            return in.readAllBytes();
        }
    }

    private static ImageReference reference(String repository, String tag) {
        return registry.repository(repository).tag(tag);
    }
}
