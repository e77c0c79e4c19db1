package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.BuildOptions;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.RafsFlags;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.LogCapture;
import io.nydus.registry.Manifest;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryNotFoundException;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Converts small images with a build cache in a local {@code docker-registry} that writes an
 * access log, and checks the cache image, what each conversion pulls and builds, and that
 * the converted image is the one a conversion without the cache writes.
 */
class BuildCacheTest {
    private static final PlatformSpec AMD64 = PlatformSpec.parse("linux/amd64");
    private static final String CHAIN_ID = "containerd.io/snapshot/nydus-source-chainid";

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("build-cache-");
        registry = RegistryServer.startWithAccessLog(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    @Test
    void firstConvertFillsCache() throws Exception {
        try (TempDir dir = TempDirs.create("cache-fill-")) {
            SeedImage seed = seed(dir.resolve("seed"), "fill", 3);
            ImageReference source = push(seed, "fill/app", "v1");
            ImageReference cache = registry.repository("fill/cache").tag("c");

            ConvertResult result = convert(source, "fill/app", "n", dir, spec(cache));

            Manifest target = client.getManifest(result.target().reference()).toManifest();
            Manifest cached = client.getManifest(cache).toManifest();
            List<Digest> chainIds = expectedChainIds(seed);
            assertEquals(MediaTypes.OCI_MANIFEST, cached.mediaType());
            assertEquals(Map.of("containerd.io/snapshot/nydus-cache", "v1",
                    MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "6"), cached.annotations());
            assertEquals(6, cached.layers().size());
            for (int i = 0; i < 3; i++) {
                Descriptor bootstrap = cached.layers().get(2 * i);
                Descriptor blob = cached.layers().get(2 * i + 1);
                Descriptor targetBlob = target.layers().get(i);
                assertEquals(MediaTypes.OCI_LAYER_GZIP, bootstrap.mediaType());
                byte[] bootstrapTar = ConverterTest.gunzip(readBlob(cache, bootstrap));
                Map<String, String> bootstrapAnnotations = new LinkedHashMap<>();
                bootstrapAnnotations.put(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true");
                bootstrapAnnotations.put(MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "6");
                bootstrapAnnotations.put(CHAIN_ID, chainIds.get(i).toString());
                bootstrapAnnotations.put("containerd.io/uncompressed",
                        Digest.of(bootstrapTar).toString());
                assertEquals(bootstrapAnnotations, bootstrap.annotations());
                assertNotNull(ConverterTest.untar(bootstrapTar).get("image/image.boot"));
                assertEquals(MediaTypes.NYDUS_BLOB, blob.mediaType());
                assertEquals(targetBlob.digest(), blob.digest());
                assertEquals(targetBlob.size(), blob.size());
                assertEquals(Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true", CHAIN_ID,
                        chainIds.get(i).toString()), blob.annotations());
                assertTrue(client.blobExists(cache.toRepository(), blob.digest()));
            }
            JsonNode config = new ObjectMapper().readTree(readBlob(cache, cached.config()));
            List<String> diffIds = new ArrayList<>();
            config.path("rootfs").path("diff_ids").forEach(id -> diffIds.add(id.asText()));
            List<String> expectedDiffIds = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                Descriptor layer = cached.layers().get(i);
                expectedDiffIds.add(i % 2 == 0 ? layer.annotations()
                        .get("containerd.io/uncompressed") : layer.digest().toString());
            }
            assertEquals(expectedDiffIds, diffIds);
            assertEquals(MediaTypes.OCI_CONFIG, cached.config().mediaType());
            assertTrue(result.layers().stream().noneMatch(LayerResult::fromBuildCache));
        }
    }

    @Test
    void warmCacheSkipsPullAndBuild() throws Exception {
        try (TempDir dir = TempDirs.create("cache-warm-")) {
            SeedImage seed = seed(dir.resolve("seed"), "warm", 3);
            ImageReference source = push(seed, "warm/app", "v1");
            ImageReference cache = registry.repository("warm/cache").tag("c");
            ConvertResult plain = convert(source, "warm/plain", "n", dir, null);
            convert(source, "warm/cold", "n", dir, spec(cache));
            int logged = registry.accessLog().size();
            Events events = new Events();

            ConvertResult warm = new Converter(client, client).progress(events).convert(
                    options(source, "warm/hot", "n", dir, spec(cache)));

            List<RegistryServer.AccessLogEntry> requests = registry.accessLog();
            List<RegistryServer.AccessLogEntry> sinceCold = requests.subList(logged,
                    requests.size());
            for (Path tar : seed.layerTars()) {
                Digest layer = SeedImage.sha256(Path.of(tar + ".gz"));
                String path = "/v2/warm/app/blobs/" + layer;
                assertTrue(sinceCold.stream().noneMatch(e -> e.path().equals(path)),
                        "source layer pulled: " + path);
            }
            assertEquals(List.of(), events.pulledOrBuilt());
            assertEquals(3, events.finished());
            assertTrue(warm.layers().stream().allMatch(LayerResult::fromBuildCache));
            assertEquals(plain.targetDigest(), warm.targetDigest());
        }
    }

    @Test
    void layerNotMatchingDiffIdIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("cache-diffid-")) {
            SeedImage good = seed(dir.resolve("good"), "good", 1);
            SeedImage evil = seed(dir.resolve("evil"), "evil", 1);
            ImageReference genuine = push(good, "diffid/good", "v1");
            String goodDiffId = SeedImage.sha256(good.layerTars().getFirst()).toString();
            String evilDiffId = SeedImage.sha256(evil.layerTars().getFirst()).toString();
            byte[] lie = new String(evil.config(), StandardCharsets.UTF_8)
                    .replace(evilDiffId, goodDiffId).getBytes(StandardCharsets.UTF_8);
            ImageReference forged = registry.repository("diffid/evil").tag("v1");
            evil.push(client, forged, lie);
            ImageReference cache = registry.repository("diffid/cache").tag("c");

            IOException e = assertThrows(IOException.class,
                    () -> convert(forged, "diffid/evil", "n", dir, spec(cache)));
            ConvertResult result = convert(genuine, "diffid/good", "n", dir, spec(cache));

            assertTrue(e.getMessage().contains("diff ID " + goodDiffId), e.getMessage());
            assertTrue(e.getMessage().contains("digest " + evilDiffId), e.getMessage());
            assertFalse(result.layers().getFirst().fromBuildCache(),
                    "the forged layer was recorded in the build cache");
        }
    }

    @Test
    void cachedLayerReportsReusedChunks() throws Exception {
        try (TempDir dir = TempDirs.create("cache-reused-")) {
            SeedImage seed = new SeedImage(dir.resolve("seed"));
            Path layer = seed.newLayerDirectory();
            SeedImage.write(layer.resolve("a"), "same bytes\n");
            SeedImage.write(layer.resolve("b"), "same bytes\n");
            SeedImage.write(layer.resolve("c"), "other bytes\n");
            Files.createLink(layer.resolve("d"), layer.resolve("c"));
            seed.addLayer(layer);
            ImageReference source = push(seed, "reused/app", "v1");
            ImageReference cache = registry.repository("reused/cache").tag("c");
            ConvertResult cold = convert(source, "reused/cold", "n", dir, spec(cache));

            ConvertResult warm = convert(source, "reused/warm", "n", dir, spec(cache));

            assertEquals(1, cold.layers().getFirst().chunksReused());
            assertTrue(warm.layers().getFirst().fromBuildCache());
            assertEquals(1, warm.layers().getFirst().chunksReused());
        }
    }

    @Test
    void newVersionBuildsOnlyNewLayer() throws Exception {
        try (TempDir dir = TempDirs.create("cache-version-")) {
            SeedImage seed = seed(dir.resolve("seed"), "next", 3);
            ImageReference first = push(seed, "next/app", "v1");
            ImageReference cache = registry.repository("next/cache").tag("c");
            convert(first, "next/app", "v1-n", dir, spec(cache));
            seed.addLayer(layerDirectory(seed, "next", 4));
            ImageReference second = push(seed, "next/app", "v2");
            ConvertResult plain = convert(second, "next/plain", "v2-n", dir, null);
            int logged = registry.accessLog().size();

            ConvertResult result = convert(second, "next/app", "v2-n", dir, spec(cache));

            List<Boolean> fromCache = result.layers().stream()
                    .map(LayerResult::fromBuildCache).toList();
            assertEquals(List.of(true, true, true, false), fromCache);
            List<RegistryServer.AccessLogEntry> requests = registry.accessLog();
            List<String> pulled = new ArrayList<>();
            for (RegistryServer.AccessLogEntry entry : requests.subList(logged,
                    requests.size())) {
                if (entry.method().equals("GET") && entry.path().startsWith(
                        "/v2/next/app/blobs/")) {
                    pulled.add(entry.path().substring("/v2/next/app/blobs/".length()));
                }
            }
            Digest newLayer = SeedImage.sha256(Path.of(seed.layerTars().getLast() + ".gz"));
            Digest config = client.getManifest(second).toManifest().config().digest();
            assertEquals(List.of(config.toString(), newLayer.toString()), pulled);
            assertEquals(plain.targetDigest(), result.targetDigest());
            assertEquals(expectedChainIds(seed), cachedChainIds(cache));
        }
    }

    @Test
    void maxRecordsEvictsLeastRecent() throws Exception {
        try (TempDir dir = TempDirs.create("cache-evict-")) {
            SeedImage older = seed(dir.resolve("a"), "evict-a", 3);
            SeedImage newer = seed(dir.resolve("b"), "evict-b", 2);
            ImageReference olderSource = push(older, "evict/a", "v1");
            ImageReference newerSource = push(newer, "evict/b", "v1");
            ImageReference cache = registry.repository("evict/cache").tag("c");
            BuildCacheSpec spec = new BuildCacheSpec(cache, "v1", 3);
            convert(olderSource, "evict/a", "n", dir, spec);
            assertEquals(expectedChainIds(older), cachedChainIds(cache));

            convert(newerSource, "evict/b", "n", dir, spec);

            List<Digest> expected = new ArrayList<>(expectedChainIds(newer));
            expected.add(expectedChainIds(older).getFirst());
            assertEquals(expected, cachedChainIds(cache));
            ConvertResult again = convert(olderSource, "evict/a", "n2", dir, spec);
            List<Boolean> fromCache = again.layers().stream()
                    .map(LayerResult::fromBuildCache).toList();
            assertEquals(List.of(true, false, false), fromCache);
            assertEquals(expectedChainIds(older), cachedChainIds(cache));
        }
    }

    @Test
    void otherVersionIsIgnoredWithWarning() throws Exception {
        try (TempDir dir = TempDirs.create("cache-other-")) {
            SeedImage seed = seed(dir.resolve("seed"), "other", 2);
            ImageReference source = push(seed, "other/app", "v1");
            ImageReference cache = registry.repository("other/cache").tag("c");
            convert(source, "other/app", "n1", dir, spec(cache));

            Logged run = convertLogged(source, "other/app", "n2", dir,
                    new BuildCacheSpec(cache, "v2", BuildCacheSpec.MAX_RECORDS));

            List<String> warnings = run.warnings();
            assertTrue(run.result().layers().stream().noneMatch(LayerResult::fromBuildCache));
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.getFirst().contains(cache.toString()), warnings.toString());
            assertTrue(warnings.getFirst().contains("version v1"), warnings.toString());
            Manifest cached = client.getManifest(cache).toManifest();
            assertEquals("v2", cached.annotations().get("containerd.io/snapshot/nydus-cache"));
            assertEquals(expectedChainIds(seed), cachedChainIds(cache));
        }
    }

    @Test
    void missingCacheIsCreated() throws Exception {
        try (TempDir dir = TempDirs.create("cache-missing-")) {
            SeedImage seed = seed(dir.resolve("seed"), "missing", 2);
            ImageReference source = push(seed, "missing/app", "v1");
            ImageReference cache = registry.repository("missing/cache").tag("c");

            Logged run = convertLogged(source, "missing/app", "n", dir, spec(cache));

            // The first conversion with a cache tag is no fault, so it warns of nothing.
            assertEquals(List.of(), run.warnings());
            assertEquals(2, run.result().layers().size());
            assertEquals(expectedChainIds(seed), cachedChainIds(cache));
        }
    }

    @Test
    void unreachableCacheDoesNotFail() throws Exception {
        try (TempDir dir = TempDirs.create("cache-unreachable-")) {
            SeedImage seed = seed(dir.resolve("seed"), "unreachable", 2);
            ImageReference source = push(seed, "unreachable/app", "v1");
            ImageReference cache = ImageReference.parse("127.0.0.1:" + RegistryServer.freePort()
                    + "/nowhere/cache:c");
            ConvertResult plain = convert(source, "unreachable/plain", "n", dir, null);

            Logged run = convertLogged(source, "unreachable/app", "n", dir, spec(cache));

            List<String> warnings = run.warnings();
            assertEquals(plain.targetDigest(), run.result().targetDigest());
            assertEquals(2, warnings.size(), warnings.toString());
            assertTrue(warnings.stream().allMatch(w -> w.contains(cache.toString())),
                    warnings.toString());
            assertTrue(warnings.getLast().contains("update failed"), warnings.toString());
        }
    }

    @Test
    void goneCachedBlobIsRebuilt() throws Exception {
        try (TempDir dir = TempDirs.create("cache-gone-")) {
            SeedImage seed = seed(dir.resolve("seed"), "gone", 3);
            ImageReference source = push(seed, "gone/app", "v1");
            ImageReference cache = registry.repository("gone/cache").tag("c");
            ConvertResult first = convert(source, "gone/first", "n", dir, spec(cache));
            Digest goneBlob = first.layers().get(1).blobDigest();
            deleteBlob("gone/cache", goneBlob);
            deleteBlob("gone/first", goneBlob);

            ConvertResult result = convert(source, "gone/second", "n", dir, spec(cache));

            List<Boolean> fromCache = result.layers().stream()
                    .map(LayerResult::fromBuildCache).toList();
            assertEquals(List.of(true, false, true), fromCache);
            assertEquals(first.targetDigest(), result.targetDigest());
            assertTrue(client.blobExists(cache.toRepository(), goneBlob));
        }
    }

    @Test
    void cachedImagePassesCheck() throws Exception {
        try (TempDir dir = TempDirs.create("cache-check-")) {
            SeedImage seed = seed(dir.resolve("seed"), "check", 3);
            ImageReference source = push(seed, "check/app", "v1");
            ImageReference cache = registry.repository("check/cache").tag("c");
            convert(source, "check/app", "n1", dir, spec(cache));
            ConvertResult warm = convert(source, "check/other", "n", dir, spec(cache));
            assertTrue(warm.layers().stream().allMatch(LayerResult::fromBuildCache));

            CheckResult check = new ImageCheck(client, client).check(CheckOptions
                    .defaults(source, warm.target().reference()).withPlatform(AMD64)
                    .withWorkDir(dir.resolve("check")));

            assertEquals(List.of(), check.differences());
        }
    }

    @Test
    void dockerFormatCacheIsReadBack() throws Exception {
        try (TempDir dir = TempDirs.create("cache-docker-")) {
            SeedImage seed = seed(dir.resolve("seed"), "docker", 2);
            ImageReference source = registry.repository("docker/app").tag("v1");
            seed.pushDocker(client, source);
            ImageReference cache = registry.repository("docker/cache").tag("c");
            ConvertOptions options = options(source, "docker/app", "n1", dir, spec(cache))
                    .withDockerV2Format(true);
            new Converter(client, client).convert(options);

            ConvertResult warm = new Converter(client, client).convert(options(source,
                    "docker/app", "n2", dir, spec(cache)).withDockerV2Format(true));

            Manifest cached = client.getManifest(cache).toManifest();
            assertEquals(MediaTypes.DOCKER_MANIFEST, cached.mediaType());
            assertEquals(MediaTypes.DOCKER_CONFIG, cached.config().mediaType());
            assertEquals(MediaTypes.DOCKER_LAYER_GZIP, cached.layers().getFirst().mediaType());
            assertEquals(MediaTypes.NYDUS_BLOB, cached.layers().get(1).mediaType());
            assertTrue(warm.layers().stream().allMatch(LayerResult::fromBuildCache));
        }
    }

    @Test
    void layoutTargetUsesCache() throws Exception {
        try (TempDir dir = TempDirs.create("cache-layout-")) {
            SeedImage seed = seed(dir.resolve("seed"), "layout", 2);
            ImageReference source = push(seed, "layout/app", "v1");
            ImageReference cache = registry.repository("layout/cache").tag("c");
            ConvertResult cold = convertToLayout(source, dir.resolve("cold"), dir, cache);

            ConvertResult warm = convertToLayout(source, dir.resolve("warm"), dir, cache);

            assertTrue(cold.layers().stream().noneMatch(LayerResult::fromBuildCache));
            assertTrue(warm.layers().stream().allMatch(LayerResult::fromBuildCache));
            assertEquals(cold.targetDigest(), warm.targetDigest());
            for (LayerResult layer : cold.layers()) {
                assertTrue(client.blobExists(cache.toRepository(), layer.blobDigest()));
            }
            CheckResult check = new ImageCheck(client, client).check(CheckOptions
                    .defaults(ImageLocation.registry(source), warm.target())
                    .withPlatform(AMD64).withWorkDir(dir.resolve("check")));
            assertEquals(List.of(), check.differences());
        }
    }

    @Test
    void cacheAtTargetTagIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("cache-at-target-")) {
            SeedImage seed = seed(dir.resolve("seed"), "at-target", 1);
            ImageReference source = push(seed, "at-target/app", "v1");
            ImageReference target = registry.repository("at-target/app").tag("same");
            ConvertOptions options = options(source, "at-target/app", "same", dir,
                    spec(target));

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Converter(client, client).convert(options));

            assertTrue(e.getMessage().contains("build cache " + target + " is the target image "
                    + target), e.getMessage());
            assertFalse(tagExists(target));
        }
    }

    @Test
    void cacheAtSourceTagIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("cache-at-source-")) {
            SeedImage seed = seed(dir.resolve("seed"), "at-source", 1);
            ImageReference source = push(seed, "at-source/app", "v1");
            Digest before = client.getManifest(source).digest();
            ConvertOptions options = options(source, "at-source/app", "n", dir, spec(source));

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Converter(client, client).convert(options));

            assertTrue(e.getMessage().contains("build cache " + source + " is the source image "
                    + source), e.getMessage());
            assertEquals(before, client.getManifest(source).digest());
        }
    }

    @Test
    void ordinaryImageAtCacheIsKept() throws Exception {
        try (TempDir dir = TempDirs.create("cache-victim-")) {
            SeedImage seed = seed(dir.resolve("seed"), "victim", 2);
            ImageReference source = push(seed, "victim/app", "v1");
            ImageReference victim = push(seed(dir.resolve("other"), "victim-other", 1),
                    "victim/app", "victim");
            Digest before = client.getManifest(victim).digest();
            ConvertResult plain = convert(source, "victim/plain", "n", dir, null);

            Logged first = convertLogged(source, "victim/app", "n1", dir, spec(victim));
            Logged second = convertLogged(source, "victim/app", "n2", dir, spec(victim));

            assertEquals(before, client.getManifest(victim).digest());
            for (Logged run : List.of(first, second)) {
                List<String> warnings = run.warnings();
                assertEquals(1, warnings.size(), warnings.toString());
                assertTrue(warnings.getFirst().contains("build cache " + victim + " is an image"
                        + " manifest without the annotation"), warnings.toString());
                assertTrue(warnings.getFirst().contains("neither read nor written"),
                        warnings.toString());
                assertTrue(run.result().layers().stream()
                        .noneMatch(LayerResult::fromBuildCache));
                assertEquals(plain.targetDigest(), run.result().targetDigest());
            }
        }
    }

    @Test
    void otherChunkSizeRecordIsRebuilt() throws Exception {
        try (TempDir dir = TempDirs.create("cache-chunk-size-")) {
            SeedImage seed = seed(dir.resolve("seed"), "chunk-size", 3);
            ImageReference source = push(seed, "chunk-size/app", "v1");
            ImageReference cache = registry.repository("chunk-size/cache").tag("c");
            new Converter(client, client).convert(options(source, "chunk-size/small", "n",
                    dir, spec(cache)).withChunkSize(0x10000));

            assertRecordsRebuilt(source, "chunk-size", dir, cache, options -> options,
                    "chunk size 0x10000, this conversion uses 0x100000");
        }
    }

    @Test
    void otherCompressorRecordIsRebuilt() throws Exception {
        try (TempDir dir = TempDirs.create("cache-compressor-")) {
            SeedImage seed = seed(dir.resolve("seed"), "compressor", 2);
            ImageReference source = push(seed, "compressor/app", "v1");
            ImageReference cache = registry.repository("compressor/cache").tag("c");
            new Converter(client, client).convert(options(source, "compressor/lz4", "n", dir,
                    spec(cache)).withCompressor(Compressor.LZ4_BLOCK));

            assertRecordsRebuilt(source, "compressor", dir, cache, options -> options,
                    "compressed with lz4_block, this conversion uses zstd");
        }
    }

    @Test
    void dictRecordWithoutDictIsRebuilt() throws Exception {
        try (TempDir dir = TempDirs.create("cache-dict-gone-")) {
            SeedImage seed = seed(dir.resolve("seed"), "dict-gone", 3);
            ImageReference source = push(seed, "dict-gone/app", "v1");
            ImageReference cache = registry.repository("dict-gone/cache").tag("c");
            fillCacheWithDict(source, "dict-gone", dir, cache);

            assertRecordsRebuilt(source, "dict-gone", dir, cache, options -> options,
                    "of a chunk dictionary, but this conversion uses none");
        }
    }

    @Test
    void otherDictRecordIsRebuilt() throws Exception {
        try (TempDir dir = TempDirs.create("cache-dict-other-")) {
            SeedImage seed = seed(dir.resolve("seed"), "dict-other", 3);
            ImageReference source = push(seed, "dict-other/app", "v1");
            ImageReference cache = registry.repository("dict-other/cache").tag("c");
            fillCacheWithDict(source, "dict-other", dir, cache);
            ImageReference otherSource = push(seed(dir.resolve("other"), "dict-unrelated", 1),
                    "dict-other/unrelated", "v1");
            ImageReference otherDict = convert(otherSource, "dict-other/unrelated", "n", dir,
                    null).target().reference();
            ChunkDictSpec other = ChunkDictSpec.parse("bootstrap:registry:" + otherDict);

            assertRecordsRebuilt(source, "dict-other", dir, cache,
                    options -> options.withChunkDict(other),
                    "which is not in this conversion's chunk dictionary");
        }
    }

    @Test
    void digesterAndUidGidMismatchesAreNamed() throws Exception {
        try (TempDir dir = TempDirs.create("cache-check-unit-")) {
            SeedImage seed = seed(dir.resolve("seed"), "check-unit", 1);
            ImageReference source = push(seed, "check-unit/app", "v1");
            ImageReference cache = registry.repository("check-unit/cache").tag("c");
            convert(source, "check-unit/app", "n", dir, spec(cache));
            BuildCache opened = BuildCache.open(spec(cache), client, false);
            CacheRecord record = opened.find(expectedChainIds(seed).getFirst()).orElseThrow();
            Path file = dir.resolve("record.boot");
            opened.fetchBootstrap(record, file);
            Bootstrap cached = BootstrapReader.read(file);
            BuildOptions options = ConvertOptions.defaults(source, cache).buildOptions();
            assertEquals(Optional.empty(), CacheRecordCheck.mismatch(cached,
                    record.blobDigest(), options, null));
            List<BlobInfo> sha256Blobs = cached.blobs().stream().map(b -> new BlobInfo(
                    b.blobId(), b.chunkSize(), b.chunkCount(), b.compressor(),
                    DigestAlgorithm.SHA256, b.features(), b.compressedSize(),
                    b.uncompressedSize(), b.tocSize(), b.ciCompressor(), b.ciOffset(),
                    b.ciCompressedSize(), b.ciUncompressedSize(), b.tocDigest(),
                    b.metaDigest(), b.metaSize(), b.mappedBlockAddress())).toList();
            Bootstrap otherDigester = new Bootstrap(cached.root(), sha256Blobs,
                    cached.chunkSize(), cached.flags(), cached.prefetch());
            Bootstrap noUidGid = new Bootstrap(cached.root(), cached.blobs(),
                    cached.chunkSize(), cached.flags() & ~RafsFlags.EXPLICIT_UID_GID,
                    cached.prefetch());

            Optional<String> digester = CacheRecordCheck.mismatch(otherDigester,
                    record.blobDigest(), options, null);
            Optional<String> uidGid = CacheRecordCheck.mismatch(noUidGid, record.blobDigest(),
                    options, null);

            assertTrue(digester.orElse("").contains(" digested with sha256, this conversion"
                    + " uses blake3"), digester.toString());
            assertEquals(Optional.of("explicit uid/gid mode off, this conversion uses on"),
                    uidGid);
        }
    }

    /**
     * Fills {@code cache} with records built against a chunk dictionary that has every chunk
     * of {@code source}, so that each record's bootstrap names dictionary blobs.
     */
    private static void fillCacheWithDict(ImageReference source, String repository,
            TempDir dir, ImageReference cache) throws IOException {
        ImageReference dictImage = convert(source, repository + "/dict", "n", dir, null)
                .target().reference();
        new Converter(client, client).convert(options(source, repository + "/with-dict", "n",
                dir, spec(cache)).withChunkDict(ChunkDictSpec.parse("bootstrap:registry:"
                        + dictImage)));
    }

    /**
     * Converts {@code source} with the build cache filled by another conversion whose options
     * differ, and checks that every layer is built, with one warning each that names the
     * layer, the cache and {@code difference}, into the image a conversion without the cache
     * writes.
     */
    private static void assertRecordsRebuilt(ImageReference source, String repository,
            TempDir dir, ImageReference cache, UnaryOperator<ConvertOptions> adjust,
            String difference) throws IOException {
        ConvertResult plain = new Converter(client, client).convert(adjust.apply(options(
                source, repository + "/plain", "n", dir, null)));
        try (LogCapture log = new LogCapture("io.nydus.nydusify")) {
            ConvertResult result = new Converter(client, client).convert(adjust.apply(options(
                    source, repository + "/rebuilt", "n", dir, spec(cache))));

            List<String> warnings = log.messages(Level.WARN);
            assertEquals(plain.targetDigest(), result.targetDigest());
            assertTrue(result.layers().stream().noneMatch(LayerResult::fromBuildCache));
            assertEquals(result.layers().size(), warnings.size(), warnings.toString());
            for (int i = 0; i < warnings.size(); i++) {
                String warning = warnings.get(i);
                String layer = (i + 1) + "/" + result.layers().size() + " "
                        + result.layers().get(i).sourceDigest();
                assertTrue(warning.contains("layer " + layer), warning);
                assertTrue(warning.contains("build cache " + cache), warning);
                assertTrue(warning.contains(difference), warning);
            }
        }
    }

    private static boolean tagExists(ImageReference reference) throws IOException {
        try {
            client.getManifest(reference);
            return true;
        } catch (RegistryNotFoundException e) {
            return false;
        }
    }

    @Test
    void chainIdsFollowOciDefinition() {
        Digest first = new Digest("a".repeat(64));
        Digest second = new Digest("b".repeat(64));

        List<Digest> chainIds = BuildCache.chainIds(List.of(first, second));

        assertEquals(List.of(first, new Digest(
                "ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c")), chainIds);
    }

    @Test
    void upstreamBackendRecordIsRead() throws Exception {
        Digest chainId = new Digest("1".repeat(64));
        Digest blob = new Digest("2".repeat(64));
        Map<String, String> bootstrapAnnotations = new LinkedHashMap<>();
        bootstrapAnnotations.put(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true");
        bootstrapAnnotations.put(CHAIN_ID, chainId.toString());
        bootstrapAnnotations.put("containerd.io/uncompressed", "sha256:" + "3".repeat(64));
        bootstrapAnnotations.put("containerd.io/snapshot/nydus-blob-digest", blob.toString());
        bootstrapAnnotations.put("containerd.io/snapshot/nydus-blob-size", "123");
        Descriptor bootstrap = Descriptor.of(MediaTypes.OCI_LAYER_GZIP,
                new Digest("4".repeat(64)), 45).withAnnotations(bootstrapAnnotations);
        Descriptor noChainId = Descriptor.of(MediaTypes.OCI_LAYER_GZIP,
                new Digest("5".repeat(64)), 6).withAnnotations(Map.of(
                        MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true"));
        Descriptor badChainId = Descriptor.of(MediaTypes.NYDUS_BLOB,
                new Digest("6".repeat(64)), 7).withAnnotations(Map.of(
                        MediaTypes.ANNOTATION_NYDUS_BLOB, "true", CHAIN_ID, "sha256:zz"));
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, new Digest("7".repeat(64)), 2),
                List.of(noChainId, badChainId, bootstrap), null, Map.of(
                        "containerd.io/snapshot/nydus-cache", "v1",
                        MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "6"), Map.of());

        List<CacheRecord> records = BuildCacheManifest.decode(manifest, "v1", "test cache");

        assertEquals(List.of(new CacheRecord(chainId, bootstrap.digest(), 45,
                new Digest("3".repeat(64)), blob, 123)), records);
    }

    @Test
    void mergePutsRecentRecordsFirst() {
        CacheRecord a = record('a');
        CacheRecord b = record('b');
        CacheRecord c = record('c');
        CacheRecord d = record('d');

        assertEquals(List.of(c, a, b), BuildCache.merge(List.of(c, a), List.of(a, b, d), 3));
        assertEquals(List.of(d), BuildCache.merge(List.of(d, c), List.of(a), 1));
    }

    private static CacheRecord record(char hex) {
        Digest digest = new Digest(String.valueOf(hex).repeat(64));
        return new CacheRecord(digest, digest, 1, digest, digest, 2);
    }

    /** Progress events that show a layer being pulled or built. */
    private static final class Events implements ConvertProgress {
        private final List<String> pulledOrBuilt = Collections.synchronizedList(
                new ArrayList<>());
        private int finished;

        @Override
        public void pulled(String layer, long bytes) {
            pulledOrBuilt.add("pulled " + layer);
        }

        @Override
        public void built(String layer, long bytes) {
            pulledOrBuilt.add("built " + layer);
        }

        @Override
        public synchronized void finished(String layer, LayerResult result) {
            finished++;
        }

        List<String> pulledOrBuilt() {
            return List.copyOf(pulledOrBuilt);
        }

        synchronized int finished() {
            return finished;
        }
    }

    private static BuildCacheSpec spec(ImageReference cache) {
        return BuildCacheSpec.of(cache);
    }

    /** Returns an image of {@code layers} small layers whose files name {@code name}. */
    private static SeedImage seed(Path dir, String name, int layers) throws IOException {
        SeedImage seed = new SeedImage(dir);
        for (int i = 1; i <= layers; i++) {
            seed.addLayer(layerDirectory(seed, name, i));
        }
        return seed;
    }

    private static Path layerDirectory(SeedImage seed, String name, int index)
            throws IOException {
        Path layer = seed.newLayerDirectory();
        SeedImage.write(layer.resolve("data/" + name + "-" + index), name + " layer " + index
                + "\n");
        SeedImage.write(layer.resolve("etc/version"), index + "\n");
        return layer;
    }

    private static ImageReference push(SeedImage seed, String repository, String tag)
            throws IOException {
        ImageReference reference = registry.repository(repository).tag(tag);
        seed.push(client, reference);
        return reference;
    }

    private static ConvertOptions options(ImageReference source, String repository,
            String tag, TempDir dir, BuildCacheSpec cache) {
        return ConvertOptions.defaults(source, registry.repository(repository).tag(tag))
                .withPlatform(AMD64).withWorkDir(dir.resolve("work")).withBuildCache(cache);
    }

    private static ConvertResult convert(ImageReference source, String repository, String tag,
            TempDir dir, BuildCacheSpec cache) throws IOException {
        return new Converter(client, client).convert(options(source, repository, tag, dir,
                cache));
    }

    private static ConvertResult convertToLayout(ImageReference source, Path layout,
            TempDir dir, ImageReference cache) throws IOException {
        ConvertOptions options = ConvertOptions.defaults(ImageLocation.registry(source),
                ImageLocation.parse("oci:" + layout + ":v1")).withPlatform(AMD64)
                .withWorkDir(dir.resolve("work")).withBuildCache(spec(cache));
        return new Converter(client, client).convert(options);
    }

    /** A conversion and the warnings that the converter logged during it. */
    private record Logged(ConvertResult result, List<String> warnings) {
    }

    private static Logged convertLogged(ImageReference source, String repository, String tag,
            TempDir dir, BuildCacheSpec cache) throws IOException {
        try (LogCapture log = new LogCapture("io.nydus.nydusify")) {
            ConvertResult result = convert(source, repository, tag, dir, cache);
            return new Logged(result, log.messages(Level.WARN));
        }
    }

    /** Returns the chain IDs of the seed's layers, computed as the OCI image spec defines them. */
    private static List<Digest> expectedChainIds(SeedImage seed) throws IOException {
        List<Digest> chainIds = new ArrayList<>();
        for (Path tar : seed.layerTars()) {
            Digest diffId = SeedImage.sha256(tar);
            chainIds.add(chainIds.isEmpty() ? diffId : Digest.of((chainIds.getLast() + " "
                    + diffId).getBytes(StandardCharsets.UTF_8)));
        }
        return chainIds;
    }

    /** Returns the chain ID of each record of the cache image, in order. */
    private static List<Digest> cachedChainIds(ImageReference cache) throws IOException {
        Manifest manifest = client.getManifest(cache).toManifest();
        List<Digest> chainIds = new ArrayList<>();
        for (int i = 0; i < manifest.layers().size(); i += 2) {
            Digest bootstrap = Digest.parse(manifest.layers().get(i).annotations().get(CHAIN_ID));
            Digest blob = Digest.parse(manifest.layers().get(i + 1).annotations().get(CHAIN_ID));
            assertEquals(bootstrap, blob, "record " + i / 2 + " of " + cache);
            chainIds.add(bootstrap);
        }
        return chainIds;
    }

    private static byte[] readBlob(ImageReference image, Descriptor blob) throws IOException {
        try (InputStream in = client.getBlob(image.toRepository(), blob.digest(), blob.size())) {
            return in.readAllBytes();
        }
    }

    /** Deletes a blob from one repository through the registry API. */
    private static void deleteBlob(String repository, Digest digest) throws IOException {
        URI uri = URI.create("http://" + registry.address() + "/v2/" + repository + "/blobs/"
                + digest);
        HttpURLConnection connection = (HttpURLConnection) uri.toURL().openConnection();
        connection.setRequestMethod("DELETE");
        int status = connection.getResponseCode();
        connection.disconnect();
        assertEquals(202, status, "DELETE " + uri);
        assertFalse(client.blobExists(registry.repository(repository), digest));
    }
}
