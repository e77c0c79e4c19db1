package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.rafs.Compressor;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.Platform;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryNotFoundException;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Converts OCI images seeded into a local {@code docker-registry} to Nydus and back with
 * {@link ReverseConverter}, and checks the OCI image that comes back: its tree as umoci
 * unpacks it, its manifest, config and digests, and the errors for sources it rejects.
 */
class ReverseConverterTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final PlatformSpec AMD64 = PlatformSpec.parse("linux/amd64");

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("reverse-");
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
    void roundTripMatchesUmociUnpack() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("round/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            ImageReference oci = registry.repository("round/app").tag("oci");

            reverse(ReverseOptions.defaults(location(nydus), location(oci)), dir);

            Path original = umociUnpack(source, dir.resolve("original"));
            Path reversed = umociUnpack(oci, dir.resolve("reversed"));
            TreeComparator.assertSameTree(TreeSnapshot.capture(original),
                    TreeSnapshot.capture(reversed), TreeComparator.Options.defaults());
            assertTrue(Files.exists(reversed.resolve("etc/cache/c")));
            assertTrue(Files.notExists(reversed.resolve("etc/cache/a")));
            assertTrue(Files.notExists(reversed.resolve("etc/gone")));
        }
    }

    @Test
    void reversedManifestHasGzipLayers() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("layers/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            ImageReference oci = registry.repository("layers/app").tag("oci");

            ReverseResult result = reverse(ReverseOptions.defaults(location(nydus),
                    location(oci)), dir);

            ManifestContent content = client.getManifest(oci);
            assertEquals(result.targetDigest(), content.digest());
            Manifest manifest = content.toManifest();
            assertEquals(MediaTypes.OCI_MANIFEST, manifest.mediaType());
            assertEquals(MediaTypes.OCI_CONFIG, manifest.config().mediaType());
            assertEquals(Map.of("org.example.source", "seed"), manifest.annotations());
            assertEquals(3, manifest.layers().size());
            Manifest nydusManifest = client.getManifest(nydus).toManifest();
            for (int i = 0; i < 3; i++) {
                Descriptor layer = manifest.layers().get(i);
                assertEquals(MediaTypes.OCI_LAYER_GZIP, layer.mediaType());
                assertEquals(Map.of(), layer.annotations());
                ReverseResult.Layer reported = result.manifests().getFirst().layers().get(i);
                assertEquals(nydusManifest.layers().get(i).digest(), reported.blobDigest());
                assertEquals(layer.digest(), reported.layerDigest());
            }
        }
    }

    @Test
    void configDropsBootstrapEntries() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("config/app").tag("v1");
            SeedImage seed = SeedImage.threeLayers(dir.resolve("seed"));
            seed.push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            ImageReference oci = registry.repository("config/app").tag("oci");

            reverse(ReverseOptions.defaults(location(nydus), location(oci)), dir);

            Manifest manifest = client.getManifest(oci).toManifest();
            byte[] config = blob(oci, manifest.config());
            JsonNode json = JSON.readTree(config);
            JsonNode original = JSON.readTree(seed.config());
            JsonNode diffIds = json.get("rootfs").get("diff_ids");
            assertEquals(3, diffIds.size());
            for (int i = 0; i < 3; i++) {
                byte[] tar = ConverterTest.gunzip(blob(oci, manifest.layers().get(i)));
                assertEquals(Digest.of(tar).toString(), diffIds.get(i).asText());
            }
            assertEquals(original.get("history"), json.get("history"));
            assertEquals(original.get("config"), json.get("config"));
            String text = new String(config, StandardCharsets.UTF_8);
            assertTrue(text.contains(SeedImage.CONFIG_TAIL), text);
        }
    }

    @Test
    void reverseTwiceGivesSameDigest() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("twice/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            ImageReference first = registry.repository("twice/first").tag("oci");
            ImageReference second = registry.repository("twice/second").tag("oci");

            ReverseResult one = reverse(ReverseOptions.defaults(location(nydus),
                    location(first)), dir);
            ReverseResult two = reverse(ReverseOptions.defaults(location(nydus),
                    location(second)), dir);

            assertEquals(one.targetDigest(), two.targetDigest());
            assertEquals(client.getManifest(first).digest(),
                    client.getManifest(second).digest());
        }
    }

    @Test
    void skopeoInspectAcceptsReversed() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("skopeo/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            ImageReference oci = registry.repository("skopeo/app").tag("oci");
            ReverseResult result = reverse(ReverseOptions.defaults(location(nydus),
                    location(oci)), dir);

            String raw = Commands.run(List.of("skopeo", "inspect", "--raw", "--tls-verify=false",
                    "docker://" + oci), SeedImage.TIMEOUT).stdoutText();
            JsonNode inspected = JSON.readTree(Commands.run(List.of("skopeo", "inspect",
                    "--tls-verify=false", "docker://" + oci), SeedImage.TIMEOUT).stdoutText());

            assertEquals(result.targetDigest(), Digest.of(raw.getBytes(StandardCharsets.UTF_8)));
            assertEquals(result.targetDigest().toString(), inspected.get("Digest").asText());
            assertEquals(3, inspected.get("Layers").size());
            assertEquals("amd64", inspected.get("Architecture").asText());
        }
    }

    @Test
    void ociSourceIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("plain/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference oci = registry.repository("plain/app").tag("oci");

            IOException e = assertThrows(IOException.class, () -> reverse(
                    ReverseOptions.defaults(location(source), location(oci)), dir));

            assertTrue(e.getMessage().contains(source.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("is not a Nydus image"), e.getMessage());
            assertThrows(RegistryNotFoundException.class, () -> client.getManifest(oci));
        }
    }

    @Test
    void ociIndexIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference index = pushTwoPlatforms(dir, "plain-index/app");
            ImageReference oci = registry.repository("plain-index/app").tag("oci");

            IOException e = assertThrows(IOException.class, () -> reverse(
                    ReverseOptions.defaults(location(index), location(oci))
                            .withAllPlatforms(true), dir));

            assertTrue(e.getMessage().contains(index.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("is not a Nydus image"), e.getMessage());
        }
    }

    @Test
    void twoPlatformIndexIsReversed() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference index = pushTwoPlatforms(dir, "index/app");
            ImageReference nydus = registry.repository("index/app").tag("nydus");
            new Converter(client, client).convert(ConvertOptions.defaults(index, nydus)
                    .withAllPlatforms(true).withWorkDir(dir.resolve("work")));
            ImageReference oci = registry.repository("index/app").tag("oci");

            ReverseResult result = reverse(ReverseOptions.defaults(location(nydus),
                    location(oci)).withAllPlatforms(true), dir);

            ManifestContent content = client.getManifest(oci);
            assertEquals(MediaTypes.OCI_INDEX, content.mediaType());
            assertEquals(result.targetDigest(), content.digest());
            ImageIndex reversed = content.toIndex();
            assertEquals(2, reversed.manifests().size());
            List<String> architectures = List.of("amd64", "arm64");
            for (int i = 0; i < 2; i++) {
                Descriptor entry = reversed.manifests().get(i);
                assertEquals(Platform.of("linux", architectures.get(i)), entry.platform());
                assertNull(entry.artifactType());
                Manifest manifest = client.getManifest(oci.withDigest(entry.digest()))
                        .toManifest();
                assertEquals(3, manifest.layers().size());
                JsonNode config = JSON.readTree(blob(oci, manifest.config()));
                assertEquals(architectures.get(i), config.get("architecture").asText());
            }
            Path original = umociUnpack(index, dir.resolve("original"));
            Path unpacked = umociUnpack(oci, dir.resolve("reversed"));
            TreeComparator.assertSameTree(TreeSnapshot.capture(original),
                    TreeSnapshot.capture(unpacked), TreeComparator.Options.defaults());
        }
    }

    @Test
    void platformChoosesOneIndexEntry() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference index = pushTwoPlatforms(dir, "choose/app");
            ImageReference nydus = registry.repository("choose/app").tag("nydus");
            new Converter(client, client).convert(ConvertOptions.defaults(index, nydus)
                    .withAllPlatforms(true).withWorkDir(dir.resolve("work")));
            ImageReference oci = registry.repository("choose/app").tag("oci");

            ReverseResult result = reverse(ReverseOptions.defaults(location(nydus),
                    location(oci)).withPlatforms(List.of(PlatformSpec.parse("linux/arm64"))),
                    dir);

            ImageIndex reversed = client.getManifest(oci).toIndex();
            assertEquals(1, reversed.manifests().size());
            assertEquals(Platform.of("linux", "arm64"), reversed.manifests().getFirst()
                    .platform());
            assertEquals(1, result.manifests().size());
        }
    }

    @Test
    void missingPlatformIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference index = pushTwoPlatforms(dir, "missing/app");
            ImageReference nydus = registry.repository("missing/app").tag("nydus");
            new Converter(client, client).convert(ConvertOptions.defaults(index, nydus)
                    .withAllPlatforms(true).withWorkDir(dir.resolve("work")));
            ImageReference oci = registry.repository("missing/app").tag("oci");

            IOException e = assertThrows(IOException.class, () -> reverse(
                    ReverseOptions.defaults(location(nydus), location(oci))
                            .withPlatforms(List.of(PlatformSpec.parse("linux/s390x"))), dir));

            assertTrue(e.getMessage().contains("linux/s390x"), e.getMessage());
            assertTrue(e.getMessage().contains(nydus.toString()), e.getMessage());
        }
    }

    @Test
    void mergedIndexSkipsSourceManifests() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("merged/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = registry.repository("merged/app").tag("nydus");
            new Converter(client, client).convert(ConvertOptions.defaults(source, nydus)
                    .withPlatform(AMD64).withMergePlatform(true)
                    .withWorkDir(dir.resolve("work")));
            ImageReference oci = registry.repository("merged/app").tag("oci");

            reverse(ReverseOptions.defaults(location(nydus), location(oci))
                    .withPlatforms(List.of(AMD64)), dir);

            ImageIndex reversed = client.getManifest(oci).toIndex();
            assertEquals(1, reversed.manifests().size());
            Descriptor entry = reversed.manifests().getFirst();
            assertNull(entry.artifactType());
            Manifest manifest = client.getManifest(oci.withDigest(entry.digest())).toManifest();
            assertEquals(MediaTypes.OCI_CONFIG, manifest.config().mediaType());
            assertEquals(3, manifest.layers().size());
            Path original = umociUnpack(source, dir.resolve("original"));
            Path unpacked = umociUnpack(oci, dir.resolve("reversed"));
            TreeComparator.assertSameTree(TreeSnapshot.capture(original),
                    TreeSnapshot.capture(unpacked), TreeComparator.Options.defaults());
        }
    }

    @Test
    void dockerManifestStaysDocker() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("docker/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).pushDocker(client, source);
            ImageReference nydus = registry.repository("docker/app").tag("nydus");
            new Converter(client, client).convert(ConvertOptions.defaults(source, nydus)
                    .withPlatform(AMD64).withDockerV2Format(true)
                    .withWorkDir(dir.resolve("work")));
            ImageReference oci = registry.repository("docker/app").tag("oci");

            reverse(ReverseOptions.defaults(location(nydus), location(oci)), dir);

            Manifest manifest = client.getManifest(oci).toManifest();
            assertEquals(MediaTypes.DOCKER_MANIFEST, manifest.mediaType());
            assertEquals(MediaTypes.DOCKER_CONFIG, manifest.config().mediaType());
            for (Descriptor layer : manifest.layers()) {
                assertEquals(MediaTypes.DOCKER_LAYER_GZIP, layer.mediaType());
            }
        }
    }

    @Test
    void tamperedChunkNamesBlob() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("tamper/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = registry.repository("tamper/app").tag("nydus");
            // Chunks stored raw, so that a flipped byte fails the digest check and not the
            // decompression.
            new Converter(client, client).convert(ConvertOptions.defaults(source, nydus)
                    .withPlatform(AMD64).withCompressor(Compressor.NONE)
                    .withWorkDir(dir.resolve("work")));
            Digest tampered = tamperFirstChunk(nydus);
            ImageReference oci = registry.repository("tamper/app").tag("oci");

            IOException e = assertThrows(IOException.class, () -> reverse(
                    ReverseOptions.defaults(location(nydus), location(oci)), dir));

            assertTrue(e.getMessage().contains(tampered.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("blob " + tampered.hex()), e.getMessage());
            assertTrue(e.getMessage().contains("chunk 0"), e.getMessage());
            assertTrue(e.getMessage().contains("does not match"), e.getMessage());
            assertThrows(RegistryNotFoundException.class, () -> client.getManifest(oci));
        }
    }

    @Test
    void unreadableBlobNamesLayer() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("garbage/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            Digest garbage = replaceFirstLayer(nydus, "not a Nydus blob".repeat(64)
                    .getBytes(StandardCharsets.UTF_8));
            ImageReference oci = registry.repository("garbage/app").tag("oci");

            IOException e = assertThrows(IOException.class, () -> reverse(
                    ReverseOptions.defaults(location(nydus), location(oci)), dir));

            assertTrue(e.getMessage().contains("Nydus blob layer " + garbage), e.getMessage());
            assertTrue(e.getMessage().contains("cannot be read"), e.getMessage());
            assertThrows(RegistryNotFoundException.class, () -> client.getManifest(oci));
        }
    }

    @Test
    void layoutTargetUnpacksWithUmoci() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("layout/app").tag("v1");
            SeedImage seed = SeedImage.threeLayers(dir.resolve("seed"));
            seed.push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            Path layout = dir.resolve("oci-layout");

            reverse(ReverseOptions.defaults(location(nydus),
                    ImageLocation.parse("oci:" + layout + ":reversed")), dir);

            Path bundle = dir.resolve("bundle");
            SeedImage.run("umoci", "unpack", "--image", layout + ":reversed",
                    bundle.toString());
            TreeComparator.assertSameTree(TreeSnapshot.capture(seed.expected()),
                    TreeSnapshot.capture(bundle.resolve("rootfs")),
                    TreeComparator.Options.defaults());
        }
    }

    @Test
    void layerTarKeepsWhiteoutFiles() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            ImageReference source = registry.repository("whiteout/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference nydus = toNydus(source, "nydus", dir);
            ImageReference oci = registry.repository("whiteout/app").tag("oci");

            reverse(ReverseOptions.defaults(location(nydus), location(oci)), dir);

            Manifest manifest = client.getManifest(oci).toManifest();
            List<String> names = new ArrayList<>();
            for (TarArchiveEntry entry : ConverterTest.tarEntries(ConverterTest.gunzip(
                    blob(oci, manifest.layers().get(1))))) {
                names.add(entry.getName());
            }
            assertTrue(names.contains("./etc/.wh.gone"), names.toString());
            assertTrue(names.contains("./etc/cache/.wh..wh..opq"), names.toString());
            assertTrue(names.contains("./etc/cache/c"), names.toString());
        }
    }

    @Test
    void upstreamBlobBecomesTarLayer() throws Exception {
        try (TempDir dir = TempDirs.create("reverse-")) {
            // An upstream nydus-image blob with an inlined bootstrap that names another blob
            // id than the blob's digest, as older upstream builders wrote it.
            byte[] blob = Files.readAllBytes(upstreamFixture("nydus/toc/"
                    + "2fa78cad554b75ac91a4a125ed148d0ddeb25efa4aaa8bd80e5dc292690a4dca"));
            ImageReference nydus = registry.repository("upstream/app").tag("nydus");
            pushNydusImage(nydus, blob, dir);
            ImageReference oci = registry.repository("upstream/app").tag("oci");

            reverse(ReverseOptions.defaults(location(nydus), location(oci)), dir);

            Manifest manifest = client.getManifest(oci).toManifest();
            assertEquals(1, manifest.layers().size());
            Map<String, Long> sizes = new java.util.LinkedHashMap<>();
            for (TarArchiveEntry entry : ConverterTest.tarEntries(ConverterTest.gunzip(
                    blob(oci, manifest.layers().getFirst())))) {
                sizes.put(entry.getName(), entry.getSize());
            }
            assertEquals(Map.of("./", 0L, "./error.rs", 2816L, "./lib.rs", 678L,
                    "./logger.rs", 3115L), sizes);
        }
    }

    /**
     * Pushes a Nydus image of one blob layer and a bootstrap layer that contains the blob's
     * inlined bootstrap, with a config whose diff IDs list both.
     */
    private static void pushNydusImage(ImageReference reference, byte[] blob, TempDir dir)
            throws IOException {
        Path blobFile = Files.write(dir.resolve("blob"), blob);
        Path bootstrap = dir.resolve("image.boot");
        try (io.nydus.rafs.blob.BlobReader reader = io.nydus.rafs.blob.BlobReader.open(
                blobFile, null)) {
            Files.write(bootstrap, reader.readBootstrap().orElseThrow());
        }
        BootstrapLayer.Written layer = BootstrapLayer.write(bootstrap, Map.of(),
                dir.resolve("bootstrap.tar.gz"));
        Digest blobDigest = Digest.of(blob);
        client.pushBlob(reference.toRepository(), blobDigest, blob.length,
                BlobSource.of(blob));
        client.pushBlob(reference.toRepository(), layer.digest(), layer.size(),
                BlobSource.of(layer.file()));
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                + "\"layers\",\"diff_ids\":[\"" + blobDigest + "\",\"" + layer.diffId()
                + "\"]}}").getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        client.pushBlob(reference.toRepository(), configDigest, config.length,
                BlobSource.of(config));
        Descriptor blobLayer = Descriptor.of(MediaTypes.NYDUS_BLOB, blobDigest, blob.length)
                .withAnnotations(Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true"));
        Descriptor bootstrapLayer = Descriptor.of(MediaTypes.OCI_LAYER_GZIP, layer.digest(),
                layer.size()).withAnnotations(Map.of(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP,
                "true"));
        client.putManifest(reference, ManifestContent.of(new Manifest(2,
                MediaTypes.OCI_MANIFEST, null, Descriptor.of(MediaTypes.OCI_CONFIG,
                        configDigest, config.length), List.of(blobLayer, bootstrapLayer), null,
                Map.of(), Map.of())));
    }

    /** Returns a read-only upstream fixture, found in shared/fixtures/upstream above here. */
    private static Path upstreamFixture(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared/fixtures/upstream").resolve(relative);
            if (Files.exists(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("fixture shared/fixtures/upstream/" + relative
                + " not found above " + Path.of("").toAbsolutePath());
    }

    /** Converts {@code source} to a Nydus image under {@code tag} of the same repository. */
    private static ImageReference toNydus(ImageReference source, String tag, TempDir dir)
            throws IOException {
        ImageReference nydus = source.withTag(tag);
        new Converter(client, client).convert(ConvertOptions.defaults(source, nydus)
                .withPlatform(AMD64).withWorkDir(dir.resolve("work")));
        return nydus;
    }

    private static ReverseResult reverse(ReverseOptions options, TempDir dir)
            throws IOException {
        return new ReverseConverter(client, client).reverse(options.withWorkDir(
                dir.resolve("reverse-work")));
    }

    private static ImageLocation location(ImageReference reference) {
        return ImageLocation.registry(reference);
    }

    /**
     * Flips a byte of the first chunk of the first blob layer, pushes the changed blob and a
     * manifest that lists it in place of the original, and returns the changed blob's digest.
     */
    private static Digest tamperFirstChunk(ImageReference nydus) throws IOException {
        Manifest manifest = client.getManifest(nydus).toManifest();
        byte[] bytes = blob(nydus, manifest.layers().getFirst());
        bytes[0] ^= 0x01;
        return replaceFirstLayer(nydus, bytes);
    }

    /**
     * Pushes {@code bytes} and a manifest that lists them in place of the first blob layer,
     * and returns their digest.
     */
    private static Digest replaceFirstLayer(ImageReference nydus, byte[] bytes)
            throws IOException {
        Manifest manifest = client.getManifest(nydus).toManifest();
        Descriptor first = manifest.layers().getFirst();
        Digest digest = Digest.of(bytes);
        client.pushBlob(nydus.toRepository(), digest, bytes.length, BlobSource.of(bytes));
        List<Descriptor> layers = new ArrayList<>(manifest.layers());
        layers.set(0, Descriptor.of(first.mediaType(), digest, bytes.length)
                .withAnnotations(first.annotations()));
        Manifest changed = new Manifest(2, manifest.mediaType(), null, manifest.config(),
                layers, null, manifest.annotations(), Map.of());
        client.putManifest(nydus, ManifestContent.of(changed));
        return digest;
    }

    /**
     * Pushes the three-layer seed image for amd64 and a copy whose config names arm64, and an
     * OCI index over both.
     */
    private static ImageReference pushTwoPlatforms(TempDir dir, String repository)
            throws IOException {
        SeedImage seed = SeedImage.threeLayers(dir.resolve("seed"));
        ManifestContent amd64 = seed.push(client, registry.repository(repository).tag("amd64"));
        byte[] config = new String(seed.config(), StandardCharsets.UTF_8)
                .replace("\"architecture\":\"amd64\"", "\"architecture\":\"arm64\"")
                .getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        ImageReference arm64Ref = registry.repository(repository).tag("arm64");
        client.pushBlob(arm64Ref.toRepository(), configDigest, config.length,
                BlobSource.of(config));
        Manifest source = amd64.toManifest();
        ManifestContent arm64 = ManifestContent.of(new Manifest(2, source.mediaType(), null,
                Descriptor.of(source.config().mediaType(), configDigest, config.length),
                source.layers(), null, source.annotations(), Map.of()));
        client.putManifest(arm64Ref, arm64);
        ImageReference index = registry.repository(repository).tag("multi");
        List<Descriptor> entries = List.of(entry(amd64, Platform.of("linux", "amd64")),
                entry(arm64, Platform.of("linux", "arm64")));
        client.putManifest(index, ManifestContent.of(new ImageIndex(2, MediaTypes.OCI_INDEX,
                null, entries, null, Map.of(), Map.of())));
        return index;
    }

    private static Descriptor entry(ManifestContent manifest, Platform platform) {
        return new Descriptor(manifest.mediaType(), manifest.digest(), manifest.size(),
                List.of(), Map.of(), platform, null, Map.of());
    }

    /**
     * Copies an image of the registry into an OCI layout with skopeo and unpacks it with
     * umoci; returns the root filesystem. An index is unpacked for linux/amd64.
     */
    private static Path umociUnpack(ImageReference image, Path dir) throws IOException {
        Path layout = Files.createDirectories(dir).resolve("layout");
        SeedImage.run("skopeo", "copy", "--src-tls-verify=false", "--override-os", "linux",
                "--override-arch", "amd64", "docker://" + image, "oci:" + layout + ":image");
        Path bundle = dir.resolve("bundle");
        SeedImage.run("umoci", "unpack", "--image", layout + ":image", bundle.toString());
        return bundle.resolve("rootfs");
    }

    private static byte[] blob(ImageReference image, Descriptor blob) throws IOException {
        try (InputStream in = client.getBlob(image.toRepository(), blob.digest(), blob.size())) {
            return in.readAllBytes();
        }
    }
}
