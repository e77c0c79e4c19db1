package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.checkPlatform;
import static io.nydus.nydusify.SourceManifests.configPlatform;
import static io.nydus.nydusify.SourceManifests.deleteTree;
import static io.nydus.nydusify.SourceManifests.elapsedMillis;
import static io.nydus.nydusify.SourceManifests.listedPlatforms;
import static io.nydus.nydusify.SourceManifests.parseIndex;
import static io.nydus.nydusify.SourceManifests.parseManifest;
import static io.nydus.nydusify.SourceManifests.specOf;

import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.Platform;
import io.nydus.registry.RegistryClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Converts a Nydus image back to an OCI image. Source and target are registry references, OCI
 * image layouts or layout archives ({@link ImageLocation}).
 *
 * <p>Each Nydus blob layer carries the bootstrap of the layer it was built from, with
 * whiteouts and opaque markers kept as files. That bootstrap and the blob's chunks, each
 * checked against its digest, are written back as the layer's tar, gzipped. The bootstrap
 * layer is dropped, and the config loses its diff ID and history entry. An index source
 * gives an index of the converted manifests: those of the requested platforms, or with
 * {@code allPlatforms} every Nydus manifest. OCI manifests that an index lists beside Nydus
 * ones are left out. The manifest or index under the target tag is written last, and the
 * same source gives the same digests.
 */
public final class ReverseConverter {
    private static final Logger LOG = LoggerFactory.getLogger(ReverseConverter.class);

    private final RegistryClient sourceClient;
    private final RegistryClient targetClient;

    /**
     * Creates a converter that pulls registry sources through {@code sourceClient} and pushes
     * to registry targets through {@code targetClient}. They may be the same client.
     */
    public ReverseConverter(RegistryClient sourceClient, RegistryClient targetClient) {
        this.sourceClient = sourceClient;
        this.targetClient = targetClient;
    }

    /** One Nydus manifest to convert, with the index entry and platform it is for. */
    record Chosen(Descriptor entry, Manifest manifest, PlatformSpec platform) {
    }

    /**
     * Converts {@code options.source()} and writes the OCI image to {@code options.target()}.
     *
     * @throws IOException if the source cannot be read or is not a Nydus image, a layer
     *     cannot be converted (such as a chunk that fails its digest check) or the target
     *     rejects a write. The message names the image, layer or chunk at fault
     */
    public ReverseResult reverse(ReverseOptions options) throws IOException {
        long started = System.nanoTime();
        LOG.warn("converting a Nydus image to an OCI image is experimental");
        Path newLayout = Converter.newLayoutDirectory(options.target());
        try (SourceManifests.RunDirectory runDir = SourceManifests.RunDirectory.create(
                options.workDir(), "reverse-")) {
            return reverseIn(runDir.path(), options, started);
        } catch (IOException | RuntimeException e) {
            if (newLayout != null && Files.exists(newLayout)) {
                LOG.info("removing the layout {} that the failed run created", newLayout);
                deleteTree(newLayout);
            }
            throw e;
        }
    }

    private ReverseResult reverseIn(Path runDir, ReverseOptions options, long started)
            throws IOException {
        try (ImageStore source = ImageStores.openSource(options.source(), sourceClient,
                runDir);
                ImageStore target = ImageStores.openTarget(options.target(), targetClient,
                        runDir)) {
            LOG.info("converting {} back to an OCI image at {}", source.describe(),
                    target.describe());
            ManifestContent top = source.manifest();
            List<Chosen> chosen = top.isIndex() ? chooseFromIndex(source, top, options)
                    : List.of(chooseSingle(source, top, options));
            ManifestReverser reverser = new ManifestReverser(source, target);
            List<ManifestReverser.Reversed> reversed = new ArrayList<>();
            for (int i = 0; i < chosen.size(); i++) {
                Chosen image = chosen.get(i);
                String label = top.isIndex() ? image.platform() + " " : "";
                Path platformDir = Files.createDirectory(runDir.resolve("platform-" + i));
                reversed.add(reverser.reverse(image, label, platformDir));
            }
            ManifestContent tagged = top.isIndex()
                    ? targetIndex(target, top, chosen, reversed) : reversed.getFirst().content();
            target.putImage(tagged);
            long millis = elapsedMillis(started);
            LOG.info("wrote {} as {} ({} Nydus manifests converted to OCI, {} ms)",
                    target.describe(), tagged.digest(), reversed.size(), millis);
            return new ReverseResult(options.source(), options.target(), tagged.digest(),
                    tagged.mediaType(), tagged.size(),
                    reversed.stream().map(ManifestReverser.Reversed::result).toList(), millis);
        }
    }

    private static Chosen chooseSingle(ImageStore source, ManifestContent top,
            ReverseOptions options) throws IOException {
        String name = source.describe();
        Manifest manifest = parseManifest(top, name);
        if (!manifest.isNydus()) {
            throw notNydus(name, "its last layer is not a Nydus bootstrap layer");
        }
        PlatformSpec platform = configPlatform(ManifestReverser.fetchConfig(source,
                manifest));
        if (!options.allPlatforms()) {
            checkPlatform(name, platform, options.platforms());
        }
        return new Chosen(top.descriptor(), manifest, platform);
    }

    /**
     * Returns the Nydus manifests of an index to convert: the first for each requested
     * platform, in index order, or with {@code allPlatforms} every one of a real platform.
     * Entries of platform unknown/unknown are build attestations, not images.
     */
    private static List<Chosen> chooseFromIndex(ImageStore source, ManifestContent top,
            ReverseOptions options) throws IOException {
        String name = source.describe();
        ImageIndex index = parseIndex(top, name);
        List<Chosen> chosen = new ArrayList<>();
        List<PlatformSpec> pending = new ArrayList<>(options.platforms());
        for (Descriptor entry : index.manifests()) {
            if (!isWanted(entry, options, pending)) {
                continue;
            }
            ManifestContent content = source.manifest(entry.digest(), "manifest "
                    + entry.digest() + " for platform " + entry.platform() + " of " + name);
            Manifest manifest = parseManifest(content, name);
            if (!manifest.isNydus()) {
                LOG.info("source {}: skipping OCI manifest {} for platform {}", name,
                        entry.digest(), entry.platform());
                continue;
            }
            chosen.add(new Chosen(entry, manifest, specOf(entry.platform())));
            if (!options.allPlatforms()) {
                pending.removeIf(platform -> platform.matches(entry.platform()));
            }
        }
        if (chosen.isEmpty() || (!options.allPlatforms() && !pending.isEmpty())) {
            throw noNydusManifest(name, index, options, pending);
        }
        return chosen;
    }

    private static boolean isWanted(Descriptor entry, ReverseOptions options,
            List<PlatformSpec> pending) {
        if (!MediaTypes.isManifest(entry.mediaType())) {
            return false;
        }
        if (options.allPlatforms()) {
            return entry.platform() != null && !entry.platform().os().equals("unknown");
        }
        return pending.stream().anyMatch(platform -> platform.matches(entry.platform()));
    }

    private static IOException notNydus(String name, String reason) {
        return new IOException("source image " + name + " is not a Nydus image (" + reason
                + "); --reverse converts Nydus images to OCI, so give a Nydus image as"
                + " --source");
    }

    private static IOException noNydusManifest(String name, ImageIndex index,
            ReverseOptions options, List<PlatformSpec> missing) {
        String listed = listedPlatforms(index);
        if (options.allPlatforms()) {
            return notNydus(name, "its index has no Nydus manifest; it lists " + listed);
        }
        String names = String.join(", ", missing.stream().map(PlatformSpec::toString).toList());
        return new IOException("source image " + name + " is an index without a Nydus"
                + " manifest for platform " + names + " (it lists " + listed + "); choose one"
                + " with --platform, or give a Nydus image");
    }

    /** Returns the index of the OCI manifests, which are stored by digest first. */
    private static ManifestContent targetIndex(ImageStore target, ManifestContent top,
            List<Chosen> chosen, List<ManifestReverser.Reversed> reversed) throws IOException {
        List<Descriptor> entries = new ArrayList<>();
        for (int i = 0; i < reversed.size(); i++) {
            ManifestContent content = reversed.get(i).content();
            target.putManifest(content);
            Descriptor entry = chosen.get(i).entry();
            Descriptor descriptor = content.descriptor();
            entries.add(new Descriptor(descriptor.mediaType(), descriptor.digest(),
                    descriptor.size(), List.of(), entry.annotations(),
                    withoutNydusFeature(entry.platform()), null, Map.of()));
        }
        ImageIndex source = parseIndex(top, "source index");
        String type = MediaTypes.DOCKER_MANIFEST_LIST.equals(top.mediaType())
                ? MediaTypes.DOCKER_MANIFEST_LIST : MediaTypes.OCI_INDEX;
        return ManifestContent.of(new ImageIndex(2, type, null, entries, null,
                source.annotations(), Map.of()));
    }

    /** Returns the platform without the os feature that old converters mark Nydus with. */
    private static Platform withoutNydusFeature(Platform platform) {
        if (platform == null) {
            return null;
        }
        List<String> features = platform.osFeatures().stream()
                .filter(feature -> !feature.equals(MediaTypes.NYDUS_LEGACY_OS_FEATURE)).toList();
        return new Platform(platform.architecture(), platform.os(), platform.osVersion(),
                features, platform.variant(), platform.otherFields());
    }
}
