package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.Unpacker;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Converts a second version of an image with the first version's Nydus image as chunk
 * dictionary, and measures what the registry stores.
 */
class ChunkDictTest {
    private static final PlatformSpec AMD64 = PlatformSpec.parse("linux/amd64");
    private static final int MIB = 1 << 20;

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("dict-");
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
    void dictChunksAreNotStoredAgain() throws Exception {
        try (TempDir dir = TempDirs.create("dict-")) {
            ImageReference dictImage = convertFirstVersion(dir, "reuse/base", 10);
            SeedImage second = secondVersion(dir, 10);
            ImageReference source = registry.repository("reuse/app").tag("v2");
            second.push(client, source);
            ImageReference target = registry.repository("reuse/app").tag("v2-nydus");
            long before = storedBytes();

            ConvertResult result = convert(source, target, dir.resolve("work"),
                    ChunkDictSpec.parse("bootstrap:registry:" + dictImage));

            long growth = storedBytes() - before;
            // The new data is one 1 MiB file of random bytes; the two 2 MiB files are in the
            // dictionary. Manifest, config and bootstrap layer add a few KiB.
            assertTrue(growth < MIB + 256 * 1024, "registry grew by " + growth + " bytes");
            assertTrue(growth > MIB, "registry grew by " + growth + " bytes");
            LayerResult layer = result.layers().getFirst();
            // Two chunks of each 2 MiB file, and the two small files both versions share.
            assertEquals(6, layer.chunksReused());
            assertTrue(layer.blobSize() < MIB + 64 * 1024, "blob: " + layer.blobSize());
            List<BlobResult> dictBlobs = result.manifests().getFirst().dictBlobs();
            assertEquals(1, dictBlobs.size());
            assertEquals(BlobPushResult.MOUNTED, dictBlobs.getFirst().push());
            long withDict = storedBytes();
            convert(source, registry.repository("reuse/nodict").tag("v2-nydus"),
                    dir.resolve("work-nodict"), null);
            long withoutDict = storedBytes() - withDict;
            assertTrue(withoutDict > 5 * MIB, "without dict grew by " + withoutDict);
        }
    }

    @Test
    void damagedDictBootstrapNamesDigest() throws Exception {
        try (TempDir dir = TempDirs.create("dict-")) {
            ImageReference dictImage = convertFirstVersion(dir, "damaged/base", 70);
            Descriptor bootstrapLayer = client.getManifest(dictImage).toManifest().layers()
                    .getLast();
            java.nio.file.Path stored = registry.blobFile(bootstrapLayer.digest());
            byte[] bytes = java.nio.file.Files.readAllBytes(stored);
            bytes[bytes.length / 2] ^= 0x55;
            java.nio.file.Files.write(stored, bytes);
            SeedImage second = secondVersion(dir, 70);
            ImageReference source = registry.repository("damaged/app").tag("v2");
            second.push(client, source);
            ImageReference target = registry.repository("damaged/app").tag("v2-nydus");

            IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                    () -> convert(source, target, dir.resolve("work"),
                            ChunkDictSpec.parse("bootstrap:registry:" + dictImage)));

            assertTrue(e.getMessage().contains(bootstrapLayer.digest().toString()),
                    e.getMessage());
            assertTrue(e.getMessage().contains("digest mismatch"), e.getMessage());
        }
    }

    @Test
    void dictBlobsAreListedBeforeBootstrap() throws Exception {
        try (TempDir dir = TempDirs.create("dict-")) {
            ImageReference dictImage = convertFirstVersion(dir, "listed/base", 20);
            Manifest dictManifest = client.getManifest(dictImage).toManifest();
            SeedImage second = secondVersion(dir, 20);
            ImageReference source = registry.repository("listed/app").tag("v2");
            second.push(client, source);
            ImageReference target = registry.repository("listed/app").tag("v2-nydus");

            convert(source, target, dir.resolve("work"),
                    ChunkDictSpec.parse("bootstrap:registry:" + dictImage));

            Manifest manifest = client.getManifest(target).toManifest();
            assertEquals(3, manifest.layers().size());
            Descriptor dictBlob = manifest.layers().get(1);
            assertEquals(dictManifest.layers().getFirst().digest(), dictBlob.digest());
            assertEquals(dictManifest.layers().getFirst().size(), dictBlob.size());
            assertEquals(MediaTypes.NYDUS_BLOB, dictBlob.mediaType());
            assertEquals("true", dictBlob.annotations().get(MediaTypes.ANNOTATION_NYDUS_BLOB));
            assertTrue(manifest.isNydus());
            assertTrue(client.blobExists(target.toRepository(), dictBlob.digest()));
            String metaName = "image/" + dictBlob.digest().hex() + ".blob.meta";
            byte[] dictMeta = ConverterTest.untar(ConverterTest.gunzip(readBlob(dictImage,
                    dictManifest.layers().getLast()))).get(metaName);
            byte[] meta = ConverterTest.untar(ConverterTest.gunzip(readBlob(target,
                    manifest.layers().getLast()))).get(metaName);
            assertNotNull(dictMeta, metaName);
            assertTrue(dictMeta.length > 0, metaName);
            assertArrayEquals(dictMeta, meta);
        }
    }

    @Test
    void dictImageReadsFromTarget() throws Exception {
        try (TempDir dir = TempDirs.create("dict-")) {
            ImageReference dictImage = convertFirstVersion(dir, "read/base", 30);
            SeedImage second = secondVersion(dir, 30);
            ImageReference source = registry.repository("read/app").tag("v2");
            second.push(client, source);
            ImageReference target = registry.repository("read/app").tag("v2-nydus");
            convert(source, target, dir.resolve("work"),
                    ChunkDictSpec.parse("bootstrap:registry:" + dictImage));

            Manifest manifest = client.getManifest(target).toManifest();
            Path blobs = Files.createDirectories(dir.resolve("blobs"));
            for (Descriptor layer : manifest.layers().subList(0, 2)) {
                download(target, layer, blobs.resolve(layer.digest().hex()));
            }
            Path bootstrap = dir.resolve("image.boot");
            Files.write(bootstrap, ConverterTest.untar(ConverterTest.gunzip(
                    readBlob(target, manifest.layers().getLast()))).get("image/image.boot"));
            Path unpacked = dir.resolve("unpacked");
            Unpacker.unpackToDirectory(bootstrap, blobs, unpacked);

            TreeComparator.assertSameTree(TreeSnapshot.capture(second.expected()),
                    TreeSnapshot.capture(unpacked), TreeComparator.Options.defaults());
            CheckResult check = new ImageCheck(client, client).check(CheckOptions
                    .defaults(source, target).withPlatform(AMD64)
                    .withWorkDir(dir.resolve("check")));
            assertEquals(List.of(), check.differences());
        }
    }

    @Test
    void localDictUsesBlobsInTarget() throws Exception {
        try (TempDir dir = TempDirs.create("dict-")) {
            ImageReference dictImage = convertFirstVersion(dir, "local/app", 40);
            Manifest dictManifest = client.getManifest(dictImage).toManifest();
            Path dictBootstrap = dir.resolve("dict.boot");
            Files.write(dictBootstrap, ConverterTest.untar(ConverterTest.gunzip(readBlob(
                    dictImage, dictManifest.layers().getLast()))).get("image/image.boot"));
            SeedImage second = secondVersion(dir, 40);
            ImageReference source = registry.repository("local/app").tag("v2");
            second.push(client, source);

            ConvertResult result = convert(source,
                    registry.repository("local/app").tag("v2-nydus"), dir.resolve("work"),
                    ChunkDictSpec.parse("bootstrap:local:" + dictBootstrap));

            BlobResult dictBlob = result.manifests().getFirst().dictBlobs().getFirst();
            assertEquals(dictManifest.layers().getFirst().digest(), dictBlob.digest());
            assertEquals(BlobPushResult.EXISTED, dictBlob.push());
            assertEquals(6, result.layers().getFirst().chunksReused());
        }
    }

    @Test
    void localDictBlobMissingFromTargetIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("dict-")) {
            ImageReference dictImage = convertFirstVersion(dir, "absent/base", 50);
            Manifest dictManifest = client.getManifest(dictImage).toManifest();
            Path dictBootstrap = dir.resolve("dict.boot");
            Files.write(dictBootstrap, ConverterTest.untar(ConverterTest.gunzip(readBlob(
                    dictImage, dictManifest.layers().getLast()))).get("image/image.boot"));
            SeedImage second = secondVersion(dir, 50);
            ImageReference source = registry.repository("absent/app").tag("v2");
            second.push(client, source);
            ImageReference target = registry.repository("absent/app").tag("v2-nydus");

            IOException e = assertThrows(IOException.class, () -> convert(source, target,
                    dir.resolve("work"), ChunkDictSpec.parse("bootstrap:local:"
                            + dictBootstrap)));

            assertTrue(e.getMessage().contains(dictManifest.layers().getFirst().digest()
                    .toString()), e.getMessage());
            assertTrue(client.headManifest(target).isEmpty());
        }
    }

    @Test
    void ociDictIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("dict-")) {
            ImageReference plain = registry.repository("plain/base").tag("v1");
            firstVersion(dir, 60).push(client, plain);
            SeedImage second = secondVersion(dir, 60);
            ImageReference source = registry.repository("plain/app").tag("v2");
            second.push(client, source);

            IOException e = assertThrows(IOException.class, () -> convert(source,
                    registry.repository("plain/app").tag("n"), dir.resolve("work"),
                    ChunkDictSpec.parse("bootstrap:registry:" + plain)));

            assertTrue(e.getMessage().contains("not a Nydus image"), e.getMessage());
        }
    }

    @Test
    void specParsesBothSources() {
        ChunkDictSpec registrySpec = ChunkDictSpec.parse("bootstrap:registry:host:5000/a:v1");
        assertEquals("host:5000/a:v1", registrySpec.image().toString());
        ChunkDictSpec local = ChunkDictSpec.parse("bootstrap:local:/tmp/dict.boot");
        assertEquals(Path.of("/tmp/dict.boot"), local.bootstrap());
        assertThrows(IllegalArgumentException.class, () -> ChunkDictSpec.parse("blob:local:x"));
        assertThrows(IllegalArgumentException.class,
                () -> ChunkDictSpec.parse("bootstrap:cloud:x"));
        assertThrows(IllegalArgumentException.class,
                () -> ChunkDictSpec.parse("bootstrap:local:"));
    }

    /**
     * Returns the first version: two 2 MiB files of random bytes. The registry stores a blob
     * once for all repositories, so each test draws other bytes ({@code seed}) to measure
     * what its own conversion stores.
     */
    private static SeedImage firstVersion(TempDir dir, long seed) throws IOException {
        return SeedImage.oneLayer(dir.resolve("v1"), layer -> {
            writeRandom(layer.resolve("lib/a.so"), 2 * MIB, seed);
            writeRandom(layer.resolve("lib/b.so"), 2 * MIB, seed + 1);
        });
    }

    /** Returns the second version: the files of the first and a new 1 MiB file. */
    private static SeedImage secondVersion(TempDir dir, long seed) throws IOException {
        return SeedImage.oneLayer(dir.resolve("v2"), layer -> {
            writeRandom(layer.resolve("lib/a.so"), 2 * MIB, seed);
            writeRandom(layer.resolve("lib/b.so"), 2 * MIB, seed + 1);
            writeRandom(layer.resolve("lib/c.so"), MIB, seed + 2);
        });
    }

    private static ImageReference convertFirstVersion(TempDir dir, String repository,
            long seed) throws IOException {
        ImageReference source = registry.repository(repository).tag("v1");
        firstVersion(dir, seed).push(client, source);
        ImageReference target = registry.repository(repository).tag("v1-nydus");
        convert(source, target, dir.resolve("work-v1"), null);
        return target;
    }

    private static void writeRandom(Path file, int size, long seed) throws IOException {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        Files.createDirectories(file.getParent());
        Files.write(file, data);
    }

    private static ConvertResult convert(ImageReference source, ImageReference target,
            Path workDir, ChunkDictSpec dict) throws IOException {
        ConvertOptions options = ConvertOptions.defaults(source, target).withWorkDir(workDir)
                .withPlatform(AMD64).withChunkDict(dict);
        return new Converter(client, client).convert(options);
    }

    private static long storedBytes() throws IOException {
        long total = 0;
        for (Path file : registry.storedBlobFiles()) {
            total += Files.size(file);
        }
        return total;
    }

    private static byte[] readBlob(ImageReference image, Descriptor blob) throws IOException {
        try (InputStream in = client.getBlob(image.toRepository(), blob.digest(), blob.size())) {
            return in.readAllBytes();
        }
    }

    private static void download(ImageReference image, Descriptor blob, Path file)
            throws IOException {
        try (InputStream in = client.getBlob(image.toRepository(), blob.digest(), blob.size())) {
            Files.copy(in, file);
        }
    }
}
