package io.nydus.nydusify;

import static io.nydus.nydusify.SeedImage.run;
import static io.nydus.nydusify.SeedImage.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.BlockExporter;
import io.nydus.builder.Unpacker;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.blob.CiHeader;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.Platform;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Converts OCI images seeded into a local {@code docker-registry} and checks the pushed Nydus
 * image field by field, and its file tree (unpacked, and mounted by the kernel) against the
 * layers unpacked by GNU tar and umoci.
 */
class ConverterTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("nydusify-");
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
    void convertedManifestHasNydusLayout() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("layout/app", "v1");
            seed.push(client, source);
            ImageReference target = reference("layout/app", "v1-nydus");

            ConvertResult result = convert(source, target, dir.resolve("work"));

            Manifest manifest = client.getManifest(target).toManifest();
            assertEquals(result.targetManifest(), client.getManifest(target).digest());
            assertEquals(MediaTypes.OCI_MANIFEST, manifest.mediaType());
            assertEquals(MediaTypes.OCI_CONFIG, manifest.config().mediaType());
            assertEquals(Map.of("org.example.source", "seed"), manifest.annotations());
            assertEquals(4, manifest.layers().size());
            for (Descriptor layer : manifest.layers().subList(0, 3)) {
                assertEquals(MediaTypes.NYDUS_BLOB, layer.mediaType());
                assertEquals(Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true"),
                        layer.annotations());
            }
            Descriptor bootstrap = manifest.layers().getLast();
            assertEquals(MediaTypes.OCI_LAYER_GZIP, bootstrap.mediaType());
            assertEquals("true", bootstrap.annotations().get(
                    MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP));
            assertEquals("6", bootstrap.annotations().get(
                    MediaTypes.ANNOTATION_NYDUS_FS_VERSION));
            assertTrue(manifest.isNydus());
            assertEquals(bootstrap.digest(), result.bootstrapDigest());
            assertEquals(List.of(BlobPushResult.UPLOADED, BlobPushResult.UPLOADED,
                    BlobPushResult.UPLOADED), result.layers().stream()
                    .map(LayerResult::push).toList());
        }
    }

    @Test
    void configGainsDiffIdsAndHistory() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("config/app", "v1");
            seed.push(client, source);
            ImageReference target = reference("config/app", "nydus");

            convert(source, target, dir.resolve("work"));

            Manifest manifest = client.getManifest(target).toManifest();
            byte[] config = blob(target, manifest.config());
            String text = new String(config, StandardCharsets.UTF_8);
            JsonNode json = JSON.readTree(config);
            JsonNode diffIds = json.get("rootfs").get("diff_ids");
            assertEquals(4, diffIds.size());
            for (int i = 0; i < 3; i++) {
                assertEquals(manifest.layers().get(i).digest().toString(),
                        diffIds.get(i).asText());
            }
            byte[] tar = gunzip(blob(target, manifest.layers().getLast()));
            assertEquals(Digest.of(tar).toString(), diffIds.get(3).asText());
            JsonNode history = json.get("history");
            assertEquals(4, history.size());
            assertEquals("Nydus Converter", history.get(3).get("created_by").asText());
            assertEquals("Nydus Bootstrap Layer", history.get(3).get("comment").asText());
            assertEquals("layers", json.get("rootfs").get("type").asText());
            assertTrue(text.contains(SeedImage.CONFIG_TAIL), text);
            assertTrue(text.contains("make layer 3 \\u0026\\u0026 true\"}"), text);
            JsonNode sourceJson = JSON.readTree(seed.config());
            assertEquals(sourceJson.get("config"), json.get("config"));
            assertEquals(sourceJson.get("architecture"), json.get("architecture"));
        }
    }

    @Test
    void convertedTreeMatchesUnpackedLayers() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("tree/app", "v1");
            seed.push(client, source);
            ImageReference target = reference("tree/app", "nydus");
            convert(source, target, dir.resolve("work"));
            Manifest manifest = client.getManifest(target).toManifest();
            Path blobs = Files.createDirectories(dir.resolve("blobs"));
            for (Descriptor layer : manifest.layers().subList(0, 3)) {
                Files.write(blobs.resolve(layer.digest().hex()), blob(target, layer));
            }
            Map<String, byte[]> files = untar(gunzip(blob(target,
                    manifest.layers().getLast())));
            Path bootstrap = dir.resolve("image.boot");
            Files.write(bootstrap, files.get("image/image.boot"));

            Path unpacked = dir.resolve("unpacked");
            Unpacker.unpackToDirectory(bootstrap, blobs, unpacked);

            TreeSnapshot actual = TreeSnapshot.capture(unpacked);
            TreeComparator.assertSameTree(TreeSnapshot.capture(seed.expected()), actual,
                    TreeComparator.Options.defaults());
            TreeComparator.assertSameTree(TreeSnapshot.capture(umociUnpack(seed, dir.path())),
                    actual, TreeComparator.Options.defaults());
            assertFalse(Files.exists(unpacked.resolve("etc/gone")));
            assertEquals("layer2", xattr(unpacked.resolve("etc/config"), "user.origin"));
            Path image = dir.resolve("image.erofs");
            BlockExporter.export(bootstrap, blobs, image);
            try (KernelErofs mount = KernelErofs.mount(image,
                    Files.createDirectories(dir.resolve("mnt")))) {
                TreeComparator.assertSameTree(TreeSnapshot.capture(seed.expected()),
                        TreeSnapshot.capture(mount.mountPoint()),
                        TreeComparator.Options.defaults());
            }
        }
    }

    @Test
    void bootstrapLayerHoldsBlobMeta() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("meta/app", "v1");
            seed.push(client, source);
            ImageReference target = reference("meta/app", "nydus");
            convert(source, target, dir.resolve("work"));
            Manifest manifest = client.getManifest(target).toManifest();

            byte[] tar = gunzip(blob(target, manifest.layers().getLast()));
            List<TarArchiveEntry> entries = tarEntries(tar);
            Map<String, byte[]> files = untar(tar);

            Digest first = manifest.layers().get(0).digest();
            Digest second = manifest.layers().get(1).digest();
            Digest metadataOnly = manifest.layers().get(2).digest();
            assertEquals(List.of("image/", "image/image.boot",
                    "image/" + first.hex() + ".blob.meta",
                    "image/" + second.hex() + ".blob.meta"),
                    entries.stream().map(TarArchiveEntry::getName).toList());
            assertEquals(040755, entries.get(0).getMode());
            assertEquals(0100444, entries.get(1).getMode());
            for (TarArchiveEntry entry : entries) {
                assertEquals(0, entry.getModTime().getTime(), entry.getName());
                assertEquals(0, entry.getLongUserId(), entry.getName());
            }
            assertFalse(files.containsKey("image/" + metadataOnly.hex() + ".blob.meta"));
            for (Digest digest : List.of(first, second)) {
                checkBlobMeta(dir.path(), digest, files.get("image/" + digest.hex()
                        + ".blob.meta"));
            }
        }
    }

    @Test
    void secondConversionUploadsNothing() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("again/app", "v1");
            seed.push(client, source);
            ImageReference target = reference("again/app", "nydus");
            ConvertResult first = convert(source, target, dir.resolve("work1"));
            List<Path> storedBefore = registry.storedBlobFiles();

            ConvertResult second = convert(source, target, dir.resolve("work2"));

            assertEquals(first.targetManifest(), second.targetManifest());
            assertEquals(0, second.uploads());
            assertEquals(storedBefore, registry.storedBlobFiles());
            assertEquals(5, first.uploads());
        }
    }

    @Test
    void indexResolvesToPlatform() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference single = reference("index/app", "single");
            ManifestContent manifest = seed.push(client, single);
            ImageReference indexRef = reference("index/app", "multi");
            pushIndex(indexRef, manifest, Platform.of("linux", "arm64"),
                    Platform.of("linux", "amd64"));

            ConvertResult fromIndex = convert(indexRef, reference("index/app", "nydus"),
                    dir.resolve("work"));

            assertEquals(manifest.digest(), fromIndex.sourceManifest());
            ConvertResult fromManifest = convert(single, reference("index/app", "nydus2"),
                    dir.resolve("work"));
            assertEquals(fromManifest.targetManifest(), fromIndex.targetManifest());
        }
    }

    @Test
    void indexWithoutPlatformNamesIt() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ManifestContent manifest = seed.push(client, reference("noplat/app", "single"));
            ImageReference indexRef = reference("noplat/app", "arm-only");
            pushIndex(indexRef, manifest, Platform.of("linux", "arm64"));
            ConvertOptions options = ConvertOptions.defaults(indexRef,
                    reference("noplat/app", "nydus")).withWorkDir(dir.resolve("work"))
                    .withPlatform(PlatformSpec.parse("linux/amd64"));

            IOException e = assertThrows(IOException.class,
                    () -> new Converter(client, client).convert(options));

            assertTrue(e.getMessage().contains(indexRef.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("linux/amd64"), e.getMessage());
            assertTrue(e.getMessage().contains("linux/arm64"), e.getMessage());
        }
    }

    @Test
    void singleManifestOfOtherPlatformFails() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("otherplat/app", "v1");
            seed.push(client, source);
            ConvertOptions options = ConvertOptions.defaults(source,
                    reference("otherplat/app", "nydus")).withWorkDir(dir.resolve("work"))
                    .withPlatform(PlatformSpec.parse("linux/arm64"));

            IOException e = assertThrows(IOException.class,
                    () -> new Converter(client, client).convert(options));

            assertTrue(e.getMessage().contains("is for platform linux/amd64, not linux/arm64"),
                    e.getMessage());
            assertFalse(client.headManifest(reference("otherplat/app", "nydus")).isPresent());
        }
    }

    @Test
    void missingSourceTagNamesReference() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            ImageReference source = reference("missing/app", "no-such-tag");

            IOException e = assertThrows(IOException.class,
                    () -> convert(source, reference("missing/app", "nydus"), dir.path()));

            assertTrue(e.getMessage().contains("registry " + registry.address()),
                    e.getMessage());
            assertTrue(e.getMessage().contains("repository missing/app"), e.getMessage());
            assertTrue(e.getMessage().contains("tag no-such-tag"), e.getMessage());
        }
    }

    @Test
    void failedConversionKeepsTargetTag() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference good = reference("keep/app", "good");
            seed.push(client, good);
            ImageReference target = reference("keep/app", "nydus");
            ConvertResult before = convert(good, target, dir.resolve("work"));
            ImageReference broken = reference("keep/app", "broken");
            pushBrokenImage(broken);

            IOException e = assertThrows(IOException.class,
                    () -> convert(broken, target, dir.resolve("work")));

            assertTrue(e.getMessage().contains("keep/app"), e.getMessage());
            assertEquals(before.targetManifest(), client.getManifest(target).digest());
            // The run created the work directory, so it removed it with its files.
            assertFalse(Files.exists(dir.resolve("work")));
        }
    }

    @Test
    void compressorAndChunkSizeReachBlobs() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("opts/app", "v1");
            seed.push(client, source);
            ImageReference target = reference("opts/app", "lz4");
            ConvertOptions options = ConvertOptions.defaults(source, target)
                    .withWorkDir(dir.resolve("work"))
                    .withCompressor(Compressor.LZ4_BLOCK)
                    .withChunkSize(0x10000);

            new Converter(client, client).convert(options);

            Manifest manifest = client.getManifest(target).toManifest();
            byte[] tar = gunzip(blob(target, manifest.layers().getLast()));
            Path bootstrap = dir.resolve("image.boot");
            Files.write(bootstrap, untar(tar).get("image/image.boot"));
            Bootstrap image = BootstrapReader.read(bootstrap);
            assertEquals(0x10000, image.chunkSize());
            for (BlobInfo info : image.blobs()) {
                assertEquals(Compressor.LZ4_BLOCK, info.compressor(), info.blobId());
                assertEquals(0x10000, info.chunkSize(), info.blobId());
            }
            assertEquals(manifest.layers().getFirst().digest().hex(),
                    image.blobs().getFirst().blobId());
            assertTrue(image.blobs().getFirst().chunkCount() >= (3 << 20) / 0x10000,
                    "chunks: " + image.blobs().getFirst().chunkCount());
        }
    }

    @Test
    void dockerSourceBecomesOciImage() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("docker/app", "v1");
            seed.pushDocker(client, source);
            ImageReference target = reference("docker/app", "nydus");

            convert(source, target, dir.resolve("work"));

            Manifest manifest = client.getManifest(target).toManifest();
            assertEquals(MediaTypes.OCI_MANIFEST, manifest.mediaType());
            assertEquals(MediaTypes.OCI_CONFIG, manifest.config().mediaType());
            assertEquals(MediaTypes.NYDUS_BLOB, manifest.layers().getFirst().mediaType());
            assertEquals(MediaTypes.OCI_LAYER_GZIP, manifest.layers().getLast().mediaType());
            assertTrue(manifest.isNydus());
        }
    }

    @Test
    void nydusSourceIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = SeedImage.threeLayers(dir.path());
            ImageReference source = reference("twice/app", "v1");
            seed.push(client, source);
            ImageReference nydus = reference("twice/app", "nydus");
            convert(source, nydus, dir.resolve("work"));

            IOException e = assertThrows(IOException.class,
                    () -> convert(nydus, reference("twice/app", "nydus2"), dir.resolve("work")));

            assertTrue(e.getMessage().contains("already a Nydus image"), e.getMessage());
            assertTrue(e.getMessage().contains(nydus.toString()), e.getMessage());
        }
    }

    @Test
    void corruptLayerPaddingIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            Path layer = Files.createDirectories(dir.resolve("layer"));
            write(layer.resolve("file"), "data");
            Path tar = dir.resolve("layer.tar");
            run("tar", "--format=gnu", "-C", layer.toString(), "-cf", tar.toString(), ".");
            ImageReference source = reference("corrupt/app", "v1");
            Digest digest = pushSingleLayer(source, Files.readAllBytes(tar),
                    MediaTypes.OCI_LAYER_TAR);
            // GNU tar pads the archive to 10 KiB after its end-of-archive blocks. A tar
            // reader may stop before that padding, so only the digest check must notice this
            // change.
            Path stored = registry.blobFile(digest);
            byte[] data = Files.readAllBytes(stored);
            data[data.length - 1] ^= 0x5a;
            Files.write(stored, data);

            IOException e = assertThrows(IOException.class,
                    () -> convert(source, reference("corrupt/app", "nydus"),
                            dir.resolve("work")));

            assertTrue(e.getMessage().contains(digest.toString()), e.getMessage());
            assertFalse(client.headManifest(reference("corrupt/app", "nydus")).isPresent());
        }
    }

    @Test
    void repeatedLayerSharesBlob() throws Exception {
        try (TempDir dir = TempDirs.create("convert-")) {
            SeedImage seed = new SeedImage(dir.path());
            Path layer = seed.newLayerDirectory();
            write(layer.resolve("same/file"), "same content\n");
            seed.addLayer(layer);
            seed.repeatLastLayer();
            ImageReference source = reference("repeat/app", "v1");
            seed.push(client, source);
            ImageReference target = reference("repeat/app", "nydus");

            ConvertResult result = convert(source, target, dir.resolve("work"));

            Manifest manifest = client.getManifest(target).toManifest();
            assertEquals(3, manifest.layers().size());
            assertEquals(manifest.layers().get(0).digest(), manifest.layers().get(1).digest());
            assertEquals(BlobPushResult.EXISTED, result.layers().get(1).push());
            Path blobs = Files.createDirectories(dir.resolve("blobs"));
            Digest blob = manifest.layers().getFirst().digest();
            Files.write(blobs.resolve(blob.hex()), blob(target, manifest.layers().getFirst()));
            Map<String, byte[]> files = untar(gunzip(blob(target,
                    manifest.layers().getLast())));
            assertEquals(List.of("image/image.boot", "image/" + blob.hex() + ".blob.meta"),
                    List.copyOf(files.keySet()));
            Path bootstrap = dir.resolve("image.boot");
            Files.write(bootstrap, files.get("image/image.boot"));
            Path unpacked = dir.resolve("unpacked");
            Unpacker.unpackToDirectory(bootstrap, blobs, unpacked);
            TreeComparator.assertSameTree(TreeSnapshot.capture(seed.expected()),
                    TreeSnapshot.capture(unpacked), TreeComparator.Options.defaults());
        }
    }

    private static void checkBlobMeta(Path dir, Digest digest, byte[] meta) throws IOException {
        Path blob = dir.resolve(digest.hex());
        try (InputStream in = client.getBlob(registry.repository("meta/app"), digest)) {
            Files.write(blob, in.readAllBytes());
        }
        try (BlobReader reader = BlobReader.open(blob, null)) {
            CiHeader header = reader.meta().ciHeader().orElseThrow();
            long padded = (header.ciUncompressedSize() + 4095) / 4096 * 4096;
            assertEquals(padded + 4096, meta.length);
            ByteBuffer trailer = ByteBuffer.wrap(meta).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(CiHeader.MAGIC, trailer.getInt(meta.length - 4));
            assertEquals(CiHeader.MAGIC, trailer.getInt((int) padded));
            assertArrayEquals(header.encode(), java.util.Arrays.copyOfRange(meta, (int) padded,
                    meta.length));
            assertEquals(header.entries(), trailer.getInt((int) padded + 12));
        }
    }

    private static ConvertResult convert(ImageReference source, ImageReference target,
            Path workDir) throws IOException {
        ConvertOptions options = ConvertOptions.defaults(source, target).withWorkDir(workDir)
                .withPlatform(PlatformSpec.parse("linux/amd64"));
        return new Converter(client, client).convert(options);
    }

    private static ImageReference reference(String repository, String tag) {
        return registry.repository(repository).tag(tag);
    }

    private static byte[] blob(ImageReference image, Descriptor descriptor)
            throws IOException {
        try (InputStream in = client.getBlob(image.toRepository(), descriptor.digest(),
                descriptor.size())) {
            return in.readAllBytes();
        }
    }

    private static void pushIndex(ImageReference reference, ManifestContent manifest,
            Platform... platforms) throws IOException {
        List<Descriptor> entries = new java.util.ArrayList<>();
        for (Platform platform : platforms) {
            entries.add(new Descriptor(manifest.mediaType(), manifest.digest(), manifest.size(),
                    List.of(), Map.of(), platform, null, Map.of()));
        }
        ImageIndex index = new ImageIndex(2, MediaTypes.OCI_INDEX, null, entries, null,
                Map.of(), Map.of());
        client.putManifest(reference, ManifestContent.of(index));
    }

    /** Pushes an image whose only layer is gzip data that is not a tar archive. */
    private static void pushBrokenImage(ImageReference reference) throws IOException {
        java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
        try (var out = new java.util.zip.GZIPOutputStream(gz)) {
            out.write("this is not a tar archive".repeat(100).getBytes(StandardCharsets.UTF_8));
        }
        pushSingleLayer(reference, gz.toByteArray(), MediaTypes.OCI_LAYER_GZIP);
    }

    /** Pushes an image of one layer, whose diff id in the config is its digest. */
    private static Digest pushSingleLayer(ImageReference reference, byte[] layer,
            String mediaType) throws IOException {
        Digest layerDigest = Digest.of(layer);
        var repository = reference.toRepository();
        client.pushBlob(repository, layerDigest, layer.length,
                io.nydus.registry.BlobSource.of(layer));
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                + "\"layers\",\"diff_ids\":[\"" + layerDigest + "\"]}}")
                .getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        client.pushBlob(repository, configDigest, config.length,
                io.nydus.registry.BlobSource.of(config));
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length),
                List.of(Descriptor.of(mediaType, layerDigest, layer.length)),
                null, Map.of(), Map.of());
        client.putManifest(reference, ManifestContent.of(manifest));
        return layerDigest;
    }

    private static Path umociUnpack(SeedImage seed, Path dir) throws IOException {
        Path layout = dir.resolve("oci");
        String image = layout + ":seed";
        run("umoci", "init", "--layout", layout.toString());
        run("umoci", "new", "--image", image);
        for (Path tar : seed.layerTars()) {
            run("umoci", "raw", "add-layer", "--image", image, tar.toString());
        }
        Path bundle = dir.resolve("bundle");
        run("umoci", "unpack", "--image", image, bundle.toString());
        return bundle.resolve("rootfs");
    }

    private static String xattr(Path file, String name) throws IOException {
        return io.nydus.testkit.Commands.run(List.of("getfattr", "--only-values", "-n", name,
                file.toString()), SeedImage.TIMEOUT).stdoutText();
    }

    static byte[] gunzip(byte[] data) throws IOException {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(data))) {
            return in.readAllBytes();
        }
    }

    static List<TarArchiveEntry> tarEntries(byte[] tar) throws IOException {
        List<TarArchiveEntry> entries = new java.util.ArrayList<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(
                new ByteArrayInputStream(tar))) {
            TarArchiveEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                entries.add(entry);
            }
        }
        return entries;
    }

    static Map<String, byte[]> untar(byte[] tar) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(
                new ByteArrayInputStream(tar))) {
            TarArchiveEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                if (entry.isFile()) {
                    files.put(entry.getName(), in.readAllBytes());
                }
            }
        }
        return files;
    }
}
