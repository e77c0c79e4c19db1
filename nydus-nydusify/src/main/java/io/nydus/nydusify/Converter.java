package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.deleteTree;
import static io.nydus.nydusify.SourceManifests.checkPlatform;
import static io.nydus.nydusify.SourceManifests.configPlatform;
import static io.nydus.nydusify.SourceManifests.elapsedMillis;
import static io.nydus.nydusify.SourceManifests.listedPlatforms;
import static io.nydus.nydusify.SourceManifests.parseIndex;
import static io.nydus.nydusify.SourceManifests.parseManifest;
import static io.nydus.nydusify.SourceManifests.specOf;

import io.nydus.nydusify.ManifestConverter.Converted;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.Platform;
import io.nydus.registry.RegistryClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Converts an OCI image to a Nydus image (RAFS v6). Source and target are registry
 * references, OCI image layouts or layout archives ({@link ImageLocation}).
 *
 * <p>Each source layer is read as a verified stream and built on its own into a data blob
 * that carries the layer's bootstrap. Each blob is stored unless the target has it. The layer
 * bootstraps are then merged into the image bootstrap, which goes into a gzipped tar layer
 * stored after the blobs. The config gains the new diff ids and a history entry. With
 * {@code allPlatforms} every platform of a source index is converted and a new index lists
 * them; with {@code mergePlatform} the index lists the source manifests too. The manifest or
 * index under the target tag is written last, so a failed run never moves the tag. The same
 * source and options give the same digests. With a build cache, layers recorded in it are
 * taken from it instead of being pulled and built, and the cache image is updated after the
 * target tag is written ({@link BuildCache}).
 */
public final class Converter {
    /** The largest config accepted, far above the size of real image configs. */
    static final long MAX_CONFIG_BYTES = 16 << 20;
    private static final Logger LOG = LoggerFactory.getLogger(Converter.class);
    private static final Set<String> LAYER_TYPES = Set.of(MediaTypes.OCI_LAYER_TAR,
            MediaTypes.OCI_LAYER_GZIP, MediaTypes.OCI_LAYER_ZSTD, MediaTypes.DOCKER_LAYER_GZIP,
            "application/vnd.docker.image.rootfs.diff.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");

    private final RegistryClient sourceClient;
    private final RegistryClient targetClient;
    private RegistryClient chunkDictClient;
    private RegistryClient buildCacheClient;
    private ConvertProgress progress = ConvertProgress.NONE;

    /**
     * Creates a converter that pulls registry sources through {@code sourceClient} and pushes
     * to registry targets and reads chunk dictionary images through {@code targetClient}; they
     * may be the same client.
     */
    public Converter(RegistryClient sourceClient, RegistryClient targetClient) {
        this.sourceClient = sourceClient;
        this.targetClient = targetClient;
        this.chunkDictClient = targetClient;
        this.buildCacheClient = targetClient;
    }

    /** Reads chunk dictionary images through {@code client} instead of the target's client. */
    public Converter chunkDictClient(RegistryClient client) {
        this.chunkDictClient = Objects.requireNonNull(client, "client");
        return this;
    }

    /** Reads and writes the build cache image through {@code client} instead of the target's. */
    public Converter buildCacheClient(RegistryClient client) {
        this.buildCacheClient = Objects.requireNonNull(client, "client");
        return this;
    }

    /** Sets the listener of per-layer progress. */
    public Converter progress(ConvertProgress listener) {
        this.progress = Objects.requireNonNull(listener, "listener");
        return this;
    }

    /** One source manifest to convert, with the platform it is for. */
    private record Platformed(Descriptor entry, Manifest manifest, byte[] config,
            PlatformSpec platform) {
    }

    /**
     * Converts {@code options.source()} and writes the result to {@code options.target()}.
     *
     * @throws IOException if the source cannot be read or is not a convertible image, a layer
     *     fails to build, or the target rejects a write. The message names the image, layer or
     *     field at fault
     * @throws IllegalArgumentException if the build cache reference is the source or target
     *     tag
     */
    public ConvertResult convert(ConvertOptions options) throws IOException {
        long started = System.nanoTime();
        if (options.buildCache() != null) {
            options.buildCache().checkDistinctFrom(options.source(), options.target());
        }
        Path newLayout = newLayoutDirectory(options.target());
        try (SourceManifests.RunDirectory runDir = SourceManifests.RunDirectory.create(
                options.workDir(), "convert-")) {
            return convertIn(runDir.path(), options, started);
        } catch (IOException | RuntimeException e) {
            if (newLayout != null && Files.exists(newLayout)) {
                // The run made this layout, and an empty one would look like a converted image.
                LOG.info("removing the layout {} that the failed run created", newLayout);
                deleteTree(newLayout);
            }
            throw e;
        }
    }

    /** Returns the directory of a layout target that does not exist yet, or else null. */
    static Path newLayoutDirectory(ImageLocation target) {
        return target.kind() == ImageLocation.Kind.LAYOUT && !Files.exists(target.path())
                ? target.path() : null;
    }

    private ConvertResult convertIn(Path runDir, ConvertOptions options, long started)
            throws IOException {
        try (ImageStore source = ImageStores.openSource(options.source(), sourceClient,
                runDir);
                ImageStore target = ImageStores.openTarget(options.target(), targetClient,
                        runDir);
                ChunkDict dict = options.chunkDict() == null ? null
                        : ChunkDict.load(options.chunkDict(), chunkDictClient,
                                options.platform(), runDir)) {
            ManifestContent top = source.manifest();
            List<Platformed> images = chooseManifests(source, top, options);
            BuildCache cache = options.buildCache() == null ? null
                    : BuildCache.open(options.buildCache(), buildCacheClient,
                            options.dockerV2Format());
            ManifestConverter converter = new ManifestConverter(source, target, options, dict,
                    cache, progress);
            List<Converted> converted = new ArrayList<>();
            for (int i = 0; i < images.size(); i++) {
                Platformed image = images.get(i);
                String label = images.size() > 1 ? image.platform() + " " : "";
                Path platformDir = Files.createDirectory(runDir.resolve("platform-" + i));
                converted.add(converter.convert(image.manifest(), image.entry(),
                        image.platform(), image.config(), label, platformDir));
            }
            ManifestContent tagged = targetContent(source, target, top, images, converted,
                    options);
            target.putImage(tagged);
            if (cache != null) {
                cache.update(target);
            }
            long millis = elapsedMillis(started);
            LOG.info("wrote {} as {} ({} manifests converted, {} ms)", target.describe(),
                    tagged.digest(), converted.size(), millis);
            return new ConvertResult(options.source(), options.target(), tagged.digest(),
                    tagged.mediaType(), tagged.size(),
                    converted.stream().map(Converted::result).toList(), millis);
        }
    }

    /**
     * Returns the manifests to convert: a single manifest, the entries of an index for the
     * requested platforms (the first match of each, in index order), or with
     * {@code allPlatforms} every image entry of an index.
     */
    private List<Platformed> chooseManifests(ImageStore source, ManifestContent top,
            ConvertOptions options) throws IOException {
        String name = source.describe();
        if (!top.isIndex()) {
            Manifest manifest = parseManifest(top, name);
            byte[] config = checkedConfig(source, manifest);
            PlatformSpec platform = configPlatform(config);
            if (!options.allPlatforms()) {
                checkPlatform(name, platform, options.platforms());
            }
            if (!options.allPlatforms() && platform == null) {
                platform = options.platform();
            }
            return List.of(new Platformed(top.descriptor(), manifest, config, platform));
        }
        ImageIndex index = parseIndex(top, name);
        List<Platformed> chosen = new ArrayList<>();
        List<PlatformSpec> pending = new ArrayList<>(options.platforms());
        for (Descriptor entry : index.manifests()) {
            if (!isConvertible(entry, options, pending)) {
                logSkipped(name, entry, options);
                continue;
            }
            ManifestContent content = source.manifest(entry.digest(), "manifest "
                    + entry.digest() + " for platform " + entry.platform() + " of " + name);
            Manifest manifest = parseManifest(content, name);
            byte[] config = checkedConfig(source, manifest);
            Descriptor kept = withPlatform(content.descriptor(), entry.platform(), null);
            chosen.add(new Platformed(kept, manifest, config, specOf(entry.platform())));
            if (!options.allPlatforms()) {
                LOG.info("source {} is an index; converting {} manifest {}", name,
                        entry.platform(), entry.digest());
                pending.removeIf(platform -> platform.matches(entry.platform()));
            }
        }
        if (chosen.isEmpty() || (!options.allPlatforms() && !pending.isEmpty())) {
            throw noPlatform(name, index, options, pending);
        }
        return chosen;
    }

    /**
     * Returns whether an index entry is to be converted: not a Nydus manifest, and for one of
     * the {@code pending} platforms not converted yet, or with {@code allPlatforms} for any
     * real platform. Entries of platform unknown/unknown are build attestations, not images.
     */
    private static boolean isConvertible(Descriptor entry, ConvertOptions options,
            List<PlatformSpec> pending) {
        if (entry.isNydusManifest() || !MediaTypes.isManifest(entry.mediaType())) {
            return false;
        }
        if (options.allPlatforms()) {
            return entry.platform() != null && !entry.platform().os().equals("unknown");
        }
        return pending.stream().anyMatch(platform -> platform.matches(entry.platform()));
    }

    /**
     * Logs an index entry that the target leaves out, when the target is an index that a
     * reader could expect to list it: one of every platform, or one with the source manifests.
     */
    private static void logSkipped(String name, Descriptor entry, ConvertOptions options) {
        if (!options.allPlatforms() && !options.mergePlatform()) {
            return;
        }
        LOG.info("source {}: index entry {} ({}, platform {}) is left out of the target: {}",
                name, entry.digest(), entry.mediaType(), entry.platform(),
                skipReason(entry, options));
    }

    /** Returns the reason that {@link #isConvertible} rejected an index entry. */
    private static String skipReason(Descriptor entry, ConvertOptions options) {
        if (entry.isNydusManifest()) {
            return "it is a Nydus manifest already";
        }
        if (!MediaTypes.isManifest(entry.mediaType())) {
            return "not an image manifest";
        }
        if (entry.platform() == null) {
            return "it names no platform";
        }
        if (entry.platform().os().equals("unknown")) {
            return "an attestation or other artifact, not an image";
        }
        String requested = String.join(",", options.platforms().stream()
                .map(PlatformSpec::toString).toList());
        boolean requestedPlatform = options.platforms().stream()
                .anyMatch(platform -> platform.matches(entry.platform()));
        return requestedPlatform
                ? "an earlier entry of the index is converted for its platform"
                : "its platform is not one of those requested (--platform " + requested + ")";
    }

    private static IOException noPlatform(String name, ImageIndex index,
            ConvertOptions options, List<PlatformSpec> missing) {
        String listed = listedPlatforms(index);
        if (options.allPlatforms()) {
            return new IOException("source image " + name + " is an index without an OCI image"
                    + " manifest to convert (it lists " + listed + ")");
        }
        String names = String.join(", ", missing.stream().map(PlatformSpec::toString).toList());
        return new IOException("source image " + name + " is an index without a manifest for"
                + " platform " + names + " (it lists " + listed
                + "); choose one with --platform");
    }

    /** Returns what the target tag gets: the one Nydus manifest, or an index. */
    private ManifestContent targetContent(ImageStore source, ImageStore target,
            ManifestContent top, List<Platformed> images, List<Converted> converted,
            ConvertOptions options) throws IOException {
        boolean index = options.mergePlatform()
                || (top.isIndex() && (options.allPlatforms() || converted.size() > 1));
        if (!index) {
            return converted.getFirst().content();
        }
        List<Descriptor> entries = new ArrayList<>();
        if (options.mergePlatform()) {
            for (Platformed image : images) {
                copyImage(source, target, image);
                entries.add(withPlatform(image.entry(), platformOf(image), null));
            }
        }
        for (int i = 0; i < converted.size(); i++) {
            ManifestContent content = converted.get(i).content();
            target.putManifest(content);
            String artifactType = options.mergePlatform() ? MediaTypes.NYDUS_MANIFEST_ARTIFACT
                    : null;
            entries.add(withPlatform(content.descriptor(), platformOf(images.get(i)),
                    artifactType));
        }
        return ManifestContent.of(targetIndex(top, entries, options));
    }

    private static ImageIndex targetIndex(ManifestContent top, List<Descriptor> entries,
            ConvertOptions options) throws IOException {
        if (options.mergePlatform() || !top.isIndex()) {
            return new ImageIndex(2, MediaTypes.OCI_INDEX, null, entries, null, Map.of(),
                    Map.of());
        }
        ImageIndex source = parseIndex(top, "source index");
        boolean docker = options.dockerV2Format()
                && MediaTypes.DOCKER_MANIFEST_LIST.equals(top.mediaType());
        String type = docker ? MediaTypes.DOCKER_MANIFEST_LIST : MediaTypes.OCI_INDEX;
        return new ImageIndex(2, type, null, entries, null, source.annotations(), Map.of());
    }

    /** Copies a source manifest and its blobs into the target, keeping their bytes. */
    private static void copyImage(ImageStore source, ImageStore target, Platformed image)
            throws IOException {
        Manifest manifest = image.manifest();
        target.copyBlob(source, manifest.config().digest(), manifest.config().size());
        for (Descriptor layer : manifest.layers()) {
            target.copyBlob(source, layer.digest(), layer.size());
        }
        target.putManifest(source.manifest(image.entry().digest(), "source manifest "
                + image.entry().digest()));
    }

    /** Returns the platform of an index entry: the source's, else the config's. */
    private static Platform platformOf(Platformed image) {
        if (image.entry().platform() != null) {
            return image.entry().platform();
        }
        PlatformSpec spec = image.platform();
        return new Platform(spec.architecture(), spec.os(), null, List.of(), spec.variant(),
                Map.of());
    }

    private static Descriptor withPlatform(Descriptor entry, Platform platform,
            String artifactType) {
        return new Descriptor(entry.mediaType(), entry.digest(), entry.size(), entry.urls(),
                entry.annotations(), platform, artifactType, entry.otherFields());
    }

    /** Checks that a source manifest can be converted and returns its config. */
    private static byte[] checkedConfig(ImageStore source, Manifest manifest)
            throws IOException {
        checkLayers(source.describe(), manifest);
        return fetchConfig(source, manifest.config(), manifest.layers().size());
    }

    private static void checkLayers(String name, Manifest manifest) throws IOException {
        if (manifest.isNydus()) {
            throw new IOException("source image " + name + " is already a Nydus image"
                    + " (its last layer is a Nydus bootstrap)");
        }
        if (manifest.layers().isEmpty()) {
            throw new IOException("source image " + name + " has no layers");
        }
        for (Descriptor layer : manifest.layers()) {
            if (!LAYER_TYPES.contains(layer.mediaType())) {
                throw new IOException("source image " + name + ": layer " + layer.digest()
                        + " has media type " + layer.mediaType() + ", which is not a tar layer");
            }
        }
    }

    /** Fetches the config and checks that it can be rewritten for {@code layerCount} layers. */
    private static byte[] fetchConfig(ImageStore source, Descriptor config, int layerCount)
            throws IOException {
        String name = source.describe();
        if (config.size() > MAX_CONFIG_BYTES) {
            throw new IOException("source image " + name + ": config " + config.digest()
                    + " has " + config.size() + " bytes, more than the " + MAX_CONFIG_BYTES
                    + " accepted");
        }
        byte[] bytes;
        try (InputStream in = source.blob(config.digest(), config.size())) {
            bytes = in.readAllBytes();
        }
        try {
            ConfigRewriter.check(bytes, config.digest().toString(), layerCount);
        } catch (IllegalArgumentException e) {
            throw new IOException("source image " + name + ": " + e.getMessage(), e);
        }
        return bytes;
    }
}
