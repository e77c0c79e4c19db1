package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ImageReference;
import io.nydus.registry.LogCapture;
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
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Converts two-platform indexes (two single-platform images pushed and an index put over
 * them) with {@code allPlatforms}, {@code mergePlatform} and {@code dockerV2Format}, and
 * checks the prefetch table that {@code prefetchPatterns} sets.
 */
class PlatformsTest {
    private static final PlatformSpec AMD64 = PlatformSpec.parse("linux/amd64");
    private static final Platform LINUX_AMD64 = Platform.of("linux", "amd64");
    private static final Platform LINUX_ARM64 = Platform.of("linux", "arm64");

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("platforms-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    /** A pushed two-platform index and its two manifests. */
    private record TwoPlatforms(ImageReference index, ManifestContent amd64,
            ManifestContent arm64) {
    }

    @Test
    void allPlatformsWritesNydusIndex() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "all/app", false);
            ImageReference target = registry.repository("all/app").tag("nydus");

            ConvertResult result = convert(ConvertOptions.defaults(source.index(), target)
                    .withAllPlatforms(true), dir);

            ManifestContent content = client.getManifest(target);
            assertEquals(MediaTypes.OCI_INDEX, content.mediaType());
            assertEquals(result.targetManifest(), content.digest());
            ImageIndex index = content.toIndex();
            assertEquals(2, index.manifests().size());
            assertEquals(LINUX_AMD64, index.manifests().get(0).platform());
            assertEquals(LINUX_ARM64, index.manifests().get(1).platform());
            assertEquals(2, result.manifests().size());
            assertEquals(source.amd64().digest(), result.manifests().get(0).sourceManifest());
            assertEquals(source.arm64().digest(), result.manifests().get(1).sourceManifest());
            for (int i = 0; i < 2; i++) {
                Descriptor entry = index.manifests().get(i);
                assertNull(entry.artifactType());
                Manifest manifest = client.getManifest(target.withDigest(entry.digest()))
                        .toManifest();
                assertTrue(manifest.isNydus(), entry.digest().toString());
                assertEquals(MediaTypes.OCI_CONFIG, manifest.config().mediaType());
                String config = new String(blob(target, manifest.config()),
                        StandardCharsets.UTF_8);
                String arch = entry.platform().architecture();
                assertTrue(config.contains("\"architecture\":\"" + arch + "\""), config);
            }
        }
    }

    @Test
    void platformListWritesIndex() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "list/app", false);
            ImageReference target = registry.repository("list/app").tag("nydus");

            ConvertResult result = convert(ConvertOptions.defaults(source.index(), target)
                    .withPlatforms(PlatformSpec.parseList("linux/arm64,linux/amd64")), dir);

            ImageIndex index = client.getManifest(target).toIndex();
            assertEquals(List.of(LINUX_AMD64, LINUX_ARM64), index.manifests().stream()
                    .map(Descriptor::platform).toList());
            assertEquals(2, result.manifests().size());
        }
    }

    @Test
    void missingListedPlatformIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "missing/app", false);
            ImageReference target = registry.repository("missing/app").tag("nydus");
            ConvertOptions options = ConvertOptions.defaults(source.index(), target)
                    .withPlatforms(PlatformSpec.parseList("linux/amd64,linux/s390x"));

            IOException e = assertThrows(IOException.class, () -> convert(options, dir));

            assertTrue(e.getMessage().contains("without a manifest for platform linux/s390x"),
                    e.getMessage());
            assertTrue(client.headManifest(target).isEmpty());
        }
    }

    @Test
    void secondIndexConversionReusesAll() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "again/app", false);
            ImageReference target = registry.repository("again/app").tag("nydus");
            ConvertOptions options = ConvertOptions.defaults(source.index(), target)
                    .withAllPlatforms(true).withMergePlatform(true);
            ConvertResult first = convert(options, dir);
            List<Path> storedBefore = registry.storedBlobFiles();

            ConvertResult second = convert(options, dir);

            assertEquals(first.targetManifest(), second.targetManifest());
            assertEquals(storedBefore, registry.storedBlobFiles());
            assertEquals(0, second.uploads());
            assertEquals(0, second.bytesUploaded());
            assertEquals(first.bytesUploaded() + first.bytesReused(), second.bytesReused());
            for (int i = 0; i < 2; i++) {
                assertEquals(first.manifests().get(i).targetManifest(),
                        second.manifests().get(i).targetManifest());
            }
        }
    }

    @Test
    void mergePlatformKeepsSourceManifests() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "merge/app", false);
            ImageReference target = registry.repository("merge/other").tag("merged");

            convert(ConvertOptions.defaults(source.index(), target).withAllPlatforms(true)
                    .withMergePlatform(true), dir);

            ImageIndex index = client.getManifest(target).toIndex();
            List<Descriptor> entries = index.manifests();
            assertEquals(4, entries.size());
            assertEquals(source.amd64().digest(), entries.get(0).digest());
            assertEquals(source.arm64().digest(), entries.get(1).digest());
            assertEquals(LINUX_AMD64, entries.get(2).platform());
            assertEquals(LINUX_ARM64, entries.get(3).platform());
            for (Descriptor entry : entries.subList(0, 2)) {
                assertNull(entry.artifactType());
                assertTrue(client.headManifest(target.withDigest(entry.digest())).isPresent());
            }
            for (Descriptor entry : entries.subList(2, 4)) {
                assertEquals(MediaTypes.NYDUS_MANIFEST_ARTIFACT, entry.artifactType());
                assertTrue(entry.isNydusManifest());
                Manifest manifest = client.getManifest(target.withDigest(entry.digest()))
                        .toManifest();
                assertEquals(MediaTypes.NYDUS_CONFIG, manifest.config().mediaType());
                assertTrue(manifest.isNydus());
            }
        }
    }

    @Test
    void withReferrerNamesEachSourceManifest() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "referrer/app", false);
            ImageReference target = registry.repository("referrer/app").tag("nydus");

            convert(ConvertOptions.defaults(source.index(), target).withAllPlatforms(true)
                    .withReferrer(true), dir);

            ImageIndex index = client.getManifest(target).toIndex();
            List<ManifestContent> sources = List.of(source.amd64(), source.arm64());
            for (int i = 0; i < 2; i++) {
                Manifest manifest = client.getManifest(target.withDigest(
                        index.manifests().get(i).digest())).toManifest();
                Descriptor subject = manifest.subject();
                assertEquals(sources.get(i).digest(), subject.digest());
                assertEquals(sources.get(i).size(), subject.size());
                assertEquals(MediaTypes.OCI_MANIFEST, subject.mediaType());
                assertNull(subject.platform());
            }
        }
    }

    @Test
    void withReferrerRejectsKeptDockerFormat() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "referrer/docker", true);
            ImageReference target = registry.repository("referrer/docker").tag("nydus");

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> convert(ConvertOptions.defaults(source.index(), target)
                            .withDockerV2Format(true).withReferrer(true), dir));

            assertTrue(e.getMessage().contains("--with-referrer needs an OCI manifest"),
                    e.getMessage());
            assertThrows(RegistryNotFoundException.class, () -> client.getManifest(target));
        }
    }

    @Test
    void mergedIndexPullsOriginalWithSkopeo() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "pull/app", false);
            ImageReference target = registry.repository("pull/app").tag("merged");
            convert(ConvertOptions.defaults(source.index(), target).withAllPlatforms(true)
                    .withMergePlatform(true), dir);
            Path layout = dir.resolve("pulled");

            SeedImage.run("skopeo", "copy", "--src-tls-verify=false", "--override-os",
                    "linux", "--override-arch", "amd64", "docker://" + target,
                    "oci:" + layout + ":pulled");

            String raw = Commands.run(List.of("skopeo", "inspect", "--raw",
                    "oci:" + layout + ":pulled"), SeedImage.TIMEOUT).stdoutText();
            assertEquals(source.amd64().digest(),
                    Digest.of(raw.getBytes(StandardCharsets.UTF_8)));
        }
    }

    @Test
    void mergeSinglePlatformListsBoth() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "single/app", false);
            ImageReference target = registry.repository("single/app").tag("merged");

            convert(ConvertOptions.defaults(source.index(), target).withPlatform(
                    PlatformSpec.parse("linux/arm64")).withMergePlatform(true), dir);

            List<Descriptor> entries = client.getManifest(target).toIndex().manifests();
            assertEquals(2, entries.size());
            assertEquals(source.arm64().digest(), entries.get(0).digest());
            assertEquals(LINUX_ARM64, entries.get(1).platform());
            assertEquals(MediaTypes.NYDUS_MANIFEST_ARTIFACT, entries.get(1).artifactType());
            CheckResult check = new ImageCheck(client, client).check(CheckOptions.defaults(
                    source.index(), target).withPlatform(PlatformSpec.parse("linux/arm64"))
                    .withWorkDir(dir.resolve("check")));
            assertEquals(List.of(), check.differences());
        }
    }

    @Test
    void mergeSinglePlatformLogsUnchosenEntry() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "unchosen/app", false);
            ImageReference target = registry.repository("unchosen/app").tag("merged");

            List<String> logged;
            try (LogCapture log = new LogCapture("io.nydus.nydusify")) {
                convert(ConvertOptions.defaults(source.index(), target).withPlatform(
                        PlatformSpec.parse("linux/arm64")).withMergePlatform(true), dir);
                logged = log.messages();
            }

            List<String> skipped = logged.stream().filter(line -> line.contains(
                    "index entry " + source.amd64().digest())).toList();
            assertEquals(1, skipped.size(), logged.toString());
            String line = skipped.getFirst();
            assertTrue(line.contains("left out"), line);
            assertTrue(line.contains("linux/arm64"), line);
            assertFalse(line.contains("not an image manifest"), line);
        }
    }

    @Test
    void multiPlatformCheckNeedsMergedIndex() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "multi/app", false);
            PlatformSpec arm = PlatformSpec.parse("linux/arm64");
            ImageReference merged = registry.repository("multi/app").tag("merged");
            ImageReference plain = registry.repository("multi/app").tag("plain");
            convert(ConvertOptions.defaults(source.index(), merged).withPlatform(arm)
                    .withMergePlatform(true), dir);
            convert(ConvertOptions.defaults(source.index(), plain).withPlatform(arm), dir);

            CheckResult mergedCheck = new ImageCheck(client, client).check(CheckOptions
                    .defaults(source.index(), merged).withPlatform(arm)
                    .withWorkDir(dir.resolve("check")).withMultiPlatform(true));
            CheckResult plainCheck = new ImageCheck(client, client).check(CheckOptions
                    .defaults(source.index(), plain).withPlatform(arm)
                    .withWorkDir(dir.resolve("check")).withMultiPlatform(true));
            ImageReference otherSource = registry.repository("multi/app").tag("amd64");
            CheckResult otherCheck = new ImageCheck(client, client).check(CheckOptions
                    .defaults(otherSource, merged).withPlatform(arm)
                    .withWorkDir(dir.resolve("check")).withMultiPlatform(true));

            assertEquals(List.of(), mergedCheck.differences());
            assertEquals(1, plainCheck.differences().size(), plainCheck.differences()
                    .toString());
            assertTrue(plainCheck.differences().getFirst().startsWith(
                    "target: is a single manifest"), plainCheck.differences().getFirst());
            assertTrue(otherCheck.differences().contains("target index: OCI manifest for"
                    + " platform linux/arm64 is " + source.arm64().digest() + ", expected the"
                    + " source's " + source.amd64().digest()), otherCheck.differences()
                    .toString());
        }
    }

    @Test
    void singleForeignManifestConvertsByDefault() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "foreign/app", false);
            String foreign = foreignArchitecture();
            ImageReference single = registry.repository("foreign/app").tag(foreign);
            ImageReference target = registry.repository("foreign/app").tag("nydus");

            ConvertResult result = convert(ConvertOptions.defaults(single, target), dir);

            assertEquals(foreignManifest(source).digest(), result.sourceManifest());
            assertEquals(PlatformSpec.parse("linux/" + foreign),
                    result.manifests().getFirst().platform());
            Manifest manifest = client.getManifest(target).toManifest();
            assertTrue(manifest.isNydus());
            String config = new String(blob(target, manifest.config()), StandardCharsets.UTF_8);
            assertTrue(config.contains("\"architecture\":\"" + foreign + "\""), config);
        }
    }

    @Test
    void singleForeignManifestCopiesByDefault() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "foreigncopy/app", false);
            ManifestContent foreign = foreignManifest(source);
            ImageReference single = registry.repository("foreigncopy/app").tag(foreignArchitecture());
            ImageReference target = registry.repository("foreigncopy/mirror").tag("v1");

            new ImageCopier(client, client).copy(CopyOptions.defaults(single, target)
                    .withWorkDir(dir.resolve("copy-work")));

            assertEquals(foreign.digest(), client.getManifest(target).digest());
        }
    }

    @Test
    void singleForeignNydusReversesByDefault() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            pushTwoPlatforms(dir, "foreignrev/app", false);
            ImageReference single = registry.repository("foreignrev/app").tag(foreignArchitecture());
            ImageReference nydus = registry.repository("foreignrev/app").tag("nydus");
            ImageReference oci = registry.repository("foreignrev/app").tag("oci");
            convert(ConvertOptions.defaults(single, nydus), dir);

            new ReverseConverter(client, client).reverse(ReverseOptions.defaults(
                    ImageLocation.registry(nydus), ImageLocation.registry(oci))
                    .withWorkDir(dir.resolve("reverse-work")));

            Manifest manifest = client.getManifest(oci).toManifest();
            assertFalse(manifest.isNydus());
            String config = new String(blob(oci, manifest.config()), StandardCharsets.UTF_8);
            assertTrue(config.contains("\"architecture\":\"" + foreignArchitecture() + "\""),
                    config);
        }
    }

    @Test
    void defaultPlatformIsHost() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "host/app", false);
            ImageReference target = registry.repository("host/app").tag("nydus");
            PlatformSpec host = PlatformSpec.host();

            ConvertResult result = convert(ConvertOptions.defaults(source.index(), target),
                    dir);

            assertEquals(host, result.manifests().getFirst().platform());
            ManifestContent expected = host.architecture().equals("arm64") ? source.arm64()
                    : source.amd64();
            assertEquals(expected.digest(), result.sourceManifest());
            assertTrue(client.getManifest(target).toManifest().isNydus());
        }
    }

    @Test
    void dockerV2FormatKeepsDockerTypes() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "docker/app", true);
            ImageReference target = registry.repository("docker/app").tag("nydus");

            convert(ConvertOptions.defaults(source.index(), target).withAllPlatforms(true)
                    .withDockerV2Format(true), dir);

            ManifestContent content = client.getManifest(target);
            assertEquals(MediaTypes.DOCKER_MANIFEST_LIST, content.mediaType());
            for (Descriptor entry : content.toIndex().manifests()) {
                assertEquals(MediaTypes.DOCKER_MANIFEST, entry.mediaType());
                Manifest manifest = client.getManifest(target.withDigest(entry.digest()))
                        .toManifest();
                assertEquals(MediaTypes.DOCKER_MANIFEST, manifest.mediaType());
                assertEquals(MediaTypes.DOCKER_CONFIG, manifest.config().mediaType());
                assertEquals(MediaTypes.DOCKER_LAYER_GZIP,
                        manifest.layers().getLast().mediaType());
                assertEquals(MediaTypes.NYDUS_BLOB, manifest.layers().getFirst().mediaType());
                assertTrue(manifest.isNydus());
            }
        }
    }

    @Test
    void dockerSourceBecomesOciByDefault() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "dockeroci/app", true);
            ImageReference target = registry.repository("dockeroci/app").tag("nydus");

            convert(ConvertOptions.defaults(source.index(), target).withAllPlatforms(true),
                    dir);

            ManifestContent content = client.getManifest(target);
            assertEquals(MediaTypes.OCI_INDEX, content.mediaType());
            for (Descriptor entry : content.toIndex().manifests()) {
                assertEquals(MediaTypes.OCI_MANIFEST, entry.mediaType());
            }
        }
    }

    @Test
    void allPlatformsSkipsAttestations() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            TwoPlatforms source = pushTwoPlatforms(dir, "attest/app", false);
            ImageReference withUnknown = registry.repository("attest/app").tag("attested");
            pushIndex(withUnknown, MediaTypes.OCI_INDEX, List.of(
                    entry(source.amd64(), LINUX_AMD64),
                    entry(source.arm64(), Platform.of("unknown", "unknown"))));
            ImageReference target = registry.repository("attest/app").tag("nydus");

            ConvertResult result;
            List<String> logged;
            try (LogCapture log = new LogCapture("io.nydus.nydusify")) {
                result = convert(ConvertOptions.defaults(withUnknown, target)
                        .withAllPlatforms(true), dir);
                logged = log.messages();
            }

            assertEquals(1, result.manifests().size());
            assertEquals(1, client.getManifest(target).toIndex().manifests().size());
            assertTrue(logged.stream().anyMatch(line -> line.contains("index entry "
                    + source.arm64().digest()) && line.contains("left out")), logged.toString());
        }
    }

    @Test
    void prefetchPatternsFillTable() throws Exception {
        List<String> paths = prefetchTable("prefetch/app",
                "/usr/share/doc\n/bin/tool\n/no/such/path\n");

        assertEquals(List.of("/usr/share/doc", "/bin/tool"), paths);
    }

    @Test
    void defaultPrefetchIsRoot() throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            ImageReference source = registry.repository("prefetchall/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference target = registry.repository("prefetchall/app").tag("nydus");

            convert(ConvertOptions.defaults(source, target).withPlatform(AMD64), dir);

            Bootstrap bootstrap = bootstrapOf(target, dir);
            assertEquals(1, bootstrap.prefetch().size());
            assertEquals(bootstrap.root(), bootstrap.prefetch().getFirst());
        }
    }

    @Test
    void relativePrefetchPatternIsSkipped() throws Exception {
        List<String> paths = prefetchTable("relative/app", "usr/bin\n/bin/tool\n");

        assertEquals(List.of("/bin/tool"), paths);
    }

    @Test
    void skippedPrefetchPatternWarnsOnce() throws Exception {
        List<String> warnings;
        try (LogCapture log = new LogCapture("io.nydus.builder")) {
            prefetchTable("warn-once/app", "usr/bin\n/bin/tool\n");
            warnings = log.messages(Level.WARN);
        }

        List<String> skipped = warnings.stream()
                .filter(line -> line.contains("'usr/bin' skipped")).toList();
        assertEquals(1, skipped.size(), warnings.toString());
    }

    /**
     * Converts the three-layer seed image in {@code repository} with {@code patterns} and
     * returns the paths of the result's prefetch table.
     */
    private static List<String> prefetchTable(String repository, String patterns)
            throws Exception {
        try (TempDir dir = TempDirs.create("platforms-")) {
            ImageReference source = registry.repository(repository).tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference target = registry.repository(repository).tag("nydus");

            convert(ConvertOptions.defaults(source, target).withPlatform(AMD64)
                    .withPrefetchPatterns(patterns), dir);

            Bootstrap bootstrap = bootstrapOf(target, dir);
            return bootstrap.prefetch().stream().map(Node::path).toList();
        }
    }

    /**
     * Pushes the three-layer seed image for amd64 and a copy of it whose config names arm64,
     * and an index over both.
     */
    private static TwoPlatforms pushTwoPlatforms(TempDir dir, String repository,
            boolean docker) throws IOException {
        ImageReference amd64Ref = registry.repository(repository).tag("amd64");
        SeedImage seed = SeedImage.threeLayers(dir.resolve("seed"));
        ManifestContent amd64 = docker ? seed.pushDocker(client, amd64Ref)
                : seed.push(client, amd64Ref);
        ManifestContent arm64 = pushArm64Copy(registry.repository(repository).tag("arm64"),
                amd64, seed.config());
        ImageReference index = registry.repository(repository).tag("multi");
        String indexType = docker ? MediaTypes.DOCKER_MANIFEST_LIST : MediaTypes.OCI_INDEX;
        pushIndex(index, indexType, List.of(entry(amd64, LINUX_AMD64),
                entry(arm64, LINUX_ARM64)));
        return new TwoPlatforms(index, amd64, arm64);
    }

    private static ManifestContent pushArm64Copy(ImageReference reference,
            ManifestContent amd64, byte[] amd64Config) throws IOException {
        byte[] config = new String(amd64Config, StandardCharsets.UTF_8)
                .replace("\"architecture\":\"amd64\"", "\"architecture\":\"arm64\"")
                .getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        client.pushBlob(reference.toRepository(), configDigest, config.length,
                BlobSource.of(config));
        Manifest source = amd64.toManifest();
        Descriptor configDescriptor = Descriptor.of(source.config().mediaType(), configDigest,
                config.length);
        Manifest manifest = new Manifest(2, source.mediaType(), null, configDescriptor,
                source.layers(), null, source.annotations(), Map.of());
        ManifestContent content = ManifestContent.of(manifest);
        client.putManifest(reference, content);
        return content;
    }

    private static Descriptor entry(ManifestContent manifest, Platform platform) {
        return new Descriptor(manifest.mediaType(), manifest.digest(), manifest.size(),
                List.of(), Map.of(), platform, null, Map.of());
    }

    private static void pushIndex(ImageReference reference, String mediaType,
            List<Descriptor> entries) throws IOException {
        ImageIndex index = new ImageIndex(2, mediaType, null, entries, null, Map.of(),
                Map.of());
        client.putManifest(reference, ManifestContent.of(index));
    }

    /** Returns the architecture, and tag, of the pushed platform that is not this machine's. */
    private static String foreignArchitecture() {
        return PlatformSpec.host().architecture().equals("arm64") ? "amd64" : "arm64";
    }

    private static ManifestContent foreignManifest(TwoPlatforms pushed) {
        return foreignArchitecture().equals("amd64") ? pushed.amd64() : pushed.arm64();
    }

    private static ConvertResult convert(ConvertOptions options, TempDir dir)
            throws IOException {
        return new Converter(client, client).convert(options.withWorkDir(dir.resolve("work")));
    }

    private static Bootstrap bootstrapOf(ImageReference image, TempDir dir) throws IOException {
        Manifest manifest = client.getManifest(image).toManifest();
        Path file = dir.resolve("image.boot");
        Files.write(file, ConverterTest.untar(ConverterTest.gunzip(blob(image,
                manifest.layers().getLast()))).get("image/image.boot"));
        return BootstrapReader.read(file);
    }

    private static byte[] blob(ImageReference image, Descriptor blob) throws IOException {
        try (InputStream in = client.getBlob(image.toRepository(), blob.digest(), blob.size())) {
            return in.readAllBytes();
        }
    }
}
