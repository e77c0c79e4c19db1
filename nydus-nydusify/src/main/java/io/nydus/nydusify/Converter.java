package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.deleteTree;
import static io.nydus.nydusify.SourceManifests.elapsedMillis;
import static io.nydus.nydusify.SourceManifests.fetch;
import static io.nydus.nydusify.SourceManifests.parseIndex;
import static io.nydus.nydusify.SourceManifests.parseManifest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageMerger;
import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.Repository;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Converts an OCI image in a registry to a Nydus image (RAFS v6) in a registry.
 *
 * <p>Each source layer is pulled as a verified stream and built on its own into a data blob
 * that carries the layer's bootstrap. Each blob is pushed unless the target repository has it.
 * The layer bootstraps are then merged into the image bootstrap, which goes into a gzipped tar
 * layer pushed after the blobs. The config gains the new diff ids and a history entry, and the
 * manifest is pushed last, so a failed run never moves the target tag. The same source and
 * options give the same manifest digest.
 */
public final class Converter {
    /** The largest config accepted, far above the size of real image configs. */
    static final long MAX_CONFIG_BYTES = 16 << 20;
    private static final Logger LOG = LoggerFactory.getLogger(Converter.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> LAYER_TYPES = Set.of(MediaTypes.OCI_LAYER_TAR,
            MediaTypes.OCI_LAYER_GZIP, MediaTypes.OCI_LAYER_ZSTD, MediaTypes.DOCKER_LAYER_GZIP,
            "application/vnd.docker.image.rootfs.diff.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");

    private final RegistryClient sourceClient;
    private final RegistryClient targetClient;

    /**
     * Creates a converter that pulls through {@code sourceClient} and pushes through
     * {@code targetClient}, which may be the same client.
     */
    public Converter(RegistryClient sourceClient, RegistryClient targetClient) {
        this.sourceClient = sourceClient;
        this.targetClient = targetClient;
    }

    /**
     * The source image manifest after resolving an index, with its digest.
     *
     * @param fromIndex whether an index entry chose the manifest by its platform
     */
    private record SourceImage(Manifest manifest, Digest digest, boolean fromIndex) {
    }

    /**
     * Converts {@code options.source()} and pushes the result to {@code options.target()}.
     *
     * @throws IOException if the source cannot be read or is not a convertible image, a layer
     *     fails to build, or the target rejects a push. The message names the image, layer or
     *     field at fault
     */
    public ConvertResult convert(ConvertOptions options) throws IOException {
        long started = System.nanoTime();
        SourceImage source = resolveSource(options);
        Manifest manifest = source.manifest();
        checkLayers(options.source(), manifest);
        byte[] config = fetchConfig(options.source(), manifest.config(),
                manifest.layers().size());
        if (!source.fromIndex()) {
            checkConfigPlatform(options.source(), config, options.platform());
        }
        Files.createDirectories(options.workDir());
        Path runDir = Files.createTempDirectory(options.workDir().toAbsolutePath(),
                "convert-");
        try {
            return convertIn(runDir, options, source, config, started);
        } finally {
            deleteTree(runDir);
        }
    }

    private ConvertResult convertIn(Path runDir, ConvertOptions options, SourceImage source,
            byte[] config, long started) throws IOException {
        Manifest manifest = source.manifest();
        Repository sourceRepo = options.source().toRepository();
        Repository targetRepo = options.target().toRepository();
        List<Descriptor> sourceLayers = manifest.layers();
        List<LayerResult> layerResults = new ArrayList<>();
        List<Path> bootstraps = new ArrayList<>();
        Map<Digest, byte[]> blobMetas = new LinkedHashMap<>();
        for (int i = 0; i < sourceLayers.size(); i++) {
            Path bootstrap = runDir.resolve("layer-" + i + ".boot");
            LayerResult result = convertLayer(options, sourceRepo, targetRepo,
                    sourceLayers.get(i), i, sourceLayers.size(), runDir, bootstrap, blobMetas);
            layerResults.add(result);
            bootstraps.add(bootstrap);
        }
        Path merged = runDir.resolve("image.boot");
        new ImageMerger().blobDigests(layerResults.stream()
                .map(layer -> layer.blobDigest().hex()).toList()).merge(bootstraps, merged);
        BootstrapLayer.Written bootstrapLayer = BootstrapLayer.write(merged, blobMetas,
                runDir.resolve("bootstrap.tar.gz"));
        BlobPushResult bootstrapPush = targetClient.pushBlob(targetRepo,
                bootstrapLayer.digest(), bootstrapLayer.size(),
                BlobSource.of(bootstrapLayer.file()));
        LOG.info("bootstrap layer {} ({} bytes) {}", bootstrapLayer.digest(),
                bootstrapLayer.size(), describe(bootstrapPush));

        List<Digest> diffIds = new ArrayList<>();
        layerResults.forEach(layer -> diffIds.add(layer.blobDigest()));
        diffIds.add(bootstrapLayer.diffId());
        byte[] newConfig = ConfigRewriter.rewrite(config, manifest.config().digest().toString(),
                sourceLayers.size(), diffIds);
        Digest configDigest = Digest.of(newConfig);
        BlobPushResult configPush = targetClient.pushBlob(targetRepo, configDigest,
                newConfig.length, BlobSource.of(newConfig));

        Manifest target = targetManifest(manifest, configDigest, newConfig.length, layerResults,
                bootstrapLayer);
        ManifestContent content = ManifestContent.of(target);
        Digest pushed = targetClient.putManifest(options.target(), content);
        long millis = elapsedMillis(started);
        LOG.info("pushed {} as {} ({} layers, {} ms)", options.target(), pushed,
                target.layers().size(), millis);
        return new ConvertResult(options.source(), source.digest(), options.target(), pushed,
                content.size(), configDigest, configPush, layerResults, bootstrapLayer.digest(),
                bootstrapLayer.size(), bootstrapLayer.diffId(), bootstrapPush, millis);
    }

    /** Returns the source manifest, taking the requested platform's entry from an index. */
    private SourceImage resolveSource(ConvertOptions options) throws IOException {
        ImageReference reference = options.source();
        ManifestContent content = fetch(sourceClient, reference, "source image " + reference);
        if (!content.isIndex()) {
            return new SourceImage(parseManifest(content, reference), content.digest(), false);
        }
        ImageIndex index = parseIndex(content, reference);
        Descriptor chosen = null;
        List<String> available = new ArrayList<>();
        for (Descriptor entry : index.manifests()) {
            available.add(entry.platform() == null ? "(no platform)"
                    : entry.platform().toString());
            if (chosen == null && !entry.isNydusManifest()
                    && options.platform().matches(entry.platform())) {
                chosen = entry;
            }
        }
        if (chosen == null) {
            throw new IOException("source image " + reference + " is an index without a"
                    + " manifest for platform " + options.platform() + " (it lists "
                    + (available.isEmpty() ? "no manifests" : String.join(", ", available))
                    + "); choose one with --platform");
        }
        ImageReference platformRef = reference.withDigest(chosen.digest());
        ManifestContent platformContent = fetch(sourceClient, platformRef, "manifest "
                + chosen.digest() + " for platform " + options.platform() + " of " + reference);
        LOG.info("source {} is an index; converting {} manifest {}", reference,
                options.platform(), chosen.digest());
        return new SourceImage(parseManifest(platformContent, platformRef),
                platformContent.digest(), true);
    }

    private static void checkLayers(ImageReference reference, Manifest manifest)
            throws IOException {
        if (manifest.isNydus()) {
            throw new IOException("source image " + reference + " is already a Nydus image"
                    + " (its last layer is a Nydus bootstrap)");
        }
        if (manifest.layers().isEmpty()) {
            throw new IOException("source image " + reference + " has no layers");
        }
        for (Descriptor layer : manifest.layers()) {
            if (!LAYER_TYPES.contains(layer.mediaType())) {
                throw new IOException("source image " + reference + ": layer "
                        + layer.digest() + " has media type " + layer.mediaType()
                        + ", which is not a tar layer");
            }
        }
    }

    /** Fetches the config and checks that it can be rewritten for {@code layerCount} layers. */
    private byte[] fetchConfig(ImageReference reference, Descriptor config, int layerCount)
            throws IOException {
        if (config.size() > MAX_CONFIG_BYTES) {
            throw new IOException("source image " + reference + ": config " + config.digest()
                    + " has " + config.size() + " bytes, more than the " + MAX_CONFIG_BYTES
                    + " accepted");
        }
        byte[] bytes;
        try (InputStream in = sourceClient.getBlob(reference.toRepository(), config.digest(),
                config.size())) {
            bytes = in.readAllBytes();
        }
        try {
            ConfigRewriter.check(bytes, config.digest().toString(), layerCount);
        } catch (IllegalArgumentException e) {
            throw new IOException("source image " + reference + ": " + e.getMessage(), e);
        }
        return bytes;
    }

    /**
     * Checks that a single-platform image is for {@code platform}, as the os and architecture
     * of its config state. A config without them is accepted.
     */
    private static void checkConfigPlatform(ImageReference reference, byte[] config,
            PlatformSpec platform) throws IOException {
        JsonNode json = JSON.readTree(config);
        String os = json.path("os").asText("");
        String architecture = json.path("architecture").asText("");
        String variant = json.path("variant").asText("");
        if (os.isEmpty() || architecture.isEmpty()) {
            return;
        }
        boolean variantMatches = platform.variant() == null || variant.isEmpty()
                || platform.variant().equals(variant);
        if (!os.equals(platform.os()) || !architecture.equals(platform.architecture())
                || !variantMatches) {
            String found = os + "/" + architecture + (variant.isEmpty() ? "" : "/" + variant);
            throw new IOException("source image " + reference + " is for platform " + found
                    + ", not " + platform + "; choose it with --platform " + found);
        }
    }

    private LayerResult convertLayer(ConvertOptions options, Repository sourceRepo,
            Repository targetRepo, Descriptor layer, int index, int count, Path runDir,
            Path bootstrap, Map<Digest, byte[]> blobMetas) throws IOException {
        long started = System.nanoTime();
        Path blobTemp = runDir.resolve("layer-" + index + ".blob");
        String name = "layer " + layer.digest() + " of " + sourceRepo;
        BuildResult built;
        try (InputStream in = sourceClient.getBlob(sourceRepo, layer.digest(), layer.size())) {
            built = new ImageBuilder(options.buildOptions()).buildTar(new UnclosedStream(in),
                    name, bootstrap, ImageBuilder.BlobTarget.toFile(blobTemp));
            // Reading to the end checks the layer's digest and size. The tar reader reads its
            // input to the end today, but a layer must not be pushed unverified if it stops.
            in.transferTo(OutputStream.nullOutputStream());
        }
        if (built.blobFile() == null) {
            throw new IOException(name + ": the build wrote no blob");
        }
        Digest blobDigest = sha256(blobTemp);
        Path blobFile = runDir.resolve(blobDigest.hex());
        Files.move(blobTemp, blobFile, StandardCopyOption.REPLACE_EXISTING);
        long blobSize = Files.size(blobFile);
        if (!blobMetas.containsKey(blobDigest)) {
            BootstrapLayer.blobMeta(blobFile).ifPresent(meta -> blobMetas.put(blobDigest, meta));
        }
        BlobPushResult push = targetClient.pushBlob(targetRepo, blobDigest, blobSize,
                BlobSource.of(blobFile));
        // The bootstrap layer needs only the blob's CI, so one blob at a time takes disk space.
        Files.delete(blobFile);
        long millis = elapsedMillis(started);
        LOG.info("layer {}/{} {} ({} bytes) -> blob {} ({} bytes, {}) in {} ms", index + 1,
                count, layer.digest(), layer.size(), blobDigest, blobSize, describe(push),
                millis);
        return new LayerResult(layer.digest(), layer.size(), blobDigest, blobSize, push, millis);
    }

    private static Manifest targetManifest(Manifest source, Digest configDigest,
            long configSize, List<LayerResult> layers, BootstrapLayer.Written bootstrap) {
        // The output is an OCI image whatever the source's type, because tools such as skopeo
        // reject Nydus layer types inside a Docker schema 2 manifest. A Docker config has the
        // same JSON as an OCI config, so only its media type changes.
        Descriptor config = Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, configSize)
                .withAnnotations(source.config().annotations());
        List<Descriptor> descriptors = new ArrayList<>();
        for (LayerResult layer : layers) {
            descriptors.add(Descriptor.of(MediaTypes.NYDUS_BLOB, layer.blobDigest(),
                    layer.blobSize()).withAnnotations(Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB,
                    "true")));
        }
        String bootstrapType = MediaTypes.OCI_LAYER_GZIP;
        Map<String, String> bootstrapAnnotations = new LinkedHashMap<>();
        bootstrapAnnotations.put(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true");
        bootstrapAnnotations.put(MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "6");
        descriptors.add(Descriptor.of(bootstrapType, bootstrap.digest(), bootstrap.size())
                .withAnnotations(bootstrapAnnotations));
        return new Manifest(2, MediaTypes.OCI_MANIFEST, null, config, descriptors, null,
                source.annotations(), Map.of());
    }

    private static Digest sha256(Path file) throws IOException {
        MessageDigest hash = BootstrapLayer.sha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), hash)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return Digest.fromHash(hash.digest());
    }

    private static String describe(BlobPushResult push) {
        return switch (push) {
            case UPLOADED -> "uploaded";
            case EXISTED -> "already in target";
            case MOUNTED -> "mounted";
        };
    }
}
