package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.elapsedMillis;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Converts one Nydus manifest back to an OCI manifest: each blob layer becomes a gzipped tar
 * layer ({@link LayerReverser}), the bootstrap layer is dropped, and the config is rewritten.
 * A Docker schema 2 manifest gives a Docker schema 2 manifest, any other an OCI manifest.
 * The manifest is returned for the caller to store.
 */
final class ManifestReverser {
    private static final Logger LOG = LoggerFactory.getLogger(ManifestReverser.class);

    private final ImageStore source;
    private final ImageStore target;

    ManifestReverser(ImageStore source, ImageStore target) {
        this.source = source;
        this.target = target;
    }

    /** A converted manifest, stored in the target by neither tag nor digest yet. */
    record Reversed(ManifestContent content, ReverseResult.Manifest result) {
    }

    /**
     * Converts the chosen Nydus manifest, keeping layer files in {@code dir}.
     *
     * @param label names the platform in logs, or is empty
     */
    Reversed reverse(ReverseConverter.Chosen image, String label, Path dir) throws IOException {
        long started = System.nanoTime();
        Manifest manifest = image.manifest();
        List<Descriptor> blobs = blobLayers(manifest);
        byte[] config = fetchConfig(source, manifest);
        String configName = manifest.config().digest().toString();
        try {
            ConfigRewriter.reverse(config, configName, manifest.layers().size(), List.of());
        } catch (IllegalArgumentException e) {
            throw new IOException("source image " + source.describe() + ": " + e.getMessage(),
                    e);
        }

        LayerReverser layers = new LayerReverser(source, target, dir);
        List<ReverseResult.Layer> results = new ArrayList<>();
        for (int i = 0; i < blobs.size(); i++) {
            String name = label + (i + 1) + "/" + blobs.size() + " " + blobs.get(i).digest();
            results.add(layers.reverse(blobs.get(i), name));
        }

        List<Digest> diffIds = results.stream().map(ReverseResult.Layer::diffId).toList();
        byte[] newConfig = ConfigRewriter.reverse(config, configName, manifest.layers().size(),
                diffIds);
        Digest configDigest = Digest.of(newConfig);
        target.pushBlob(configDigest, newConfig.length, BlobSource.of(newConfig));
        ManifestContent content = ManifestContent.of(ociManifest(manifest, configDigest,
                newConfig.length, results));
        long millis = elapsedMillis(started);
        LOG.info("{}manifest {} -> {} ({} layers) in {} ms", label, image.entry().digest(),
                content.digest(), results.size(), millis);
        ReverseResult.Manifest result = new ReverseResult.Manifest(image.platform(),
                image.entry().digest(), content.digest(), content.size(), configDigest,
                results, millis);
        return new Reversed(content, result);
    }

    /**
     * Returns the blob layers of a Nydus manifest, whose last layer is the bootstrap layer.
     *
     * @throws IOException naming the layer if another layer is not a Nydus blob
     */
    private List<Descriptor> blobLayers(Manifest manifest) throws IOException {
        List<Descriptor> layers = manifest.layers();
        List<Descriptor> blobs = layers.subList(0, layers.size() - 1);
        for (Descriptor layer : blobs) {
            boolean blob = MediaTypes.NYDUS_BLOB.equals(layer.mediaType())
                    || layer.annotations().containsKey(MediaTypes.ANNOTATION_NYDUS_BLOB);
            if (!blob || layer.isNydusBootstrap()) {
                throw new IOException("source image " + source.describe() + ": layer "
                        + layer.digest() + " (media type " + layer.mediaType() + ") is not a"
                        + " Nydus blob layer, so it cannot be converted to a tar layer");
            }
        }
        return blobs;
    }

    /** Fetches the config of a manifest, rejecting configs far larger than real ones. */
    static byte[] fetchConfig(ImageStore source, Manifest manifest) throws IOException {
        Descriptor config = manifest.config();
        if (config.size() > Converter.MAX_CONFIG_BYTES) {
            throw new IOException("source image " + source.describe() + ": config "
                    + config.digest() + " has " + config.size() + " bytes, more than the "
                    + Converter.MAX_CONFIG_BYTES + " accepted");
        }
        try (InputStream in = source.blob(config.digest(), config.size())) {
            return in.readAllBytes();
        }
    }

    private static Manifest ociManifest(Manifest source, Digest configDigest, long configSize,
            List<ReverseResult.Layer> layers) {
        boolean docker = MediaTypes.DOCKER_MANIFEST.equals(source.mediaType());
        String configType = docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG;
        String layerType = docker ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP;
        String manifestType = docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST;
        Descriptor config = Descriptor.of(configType, configDigest, configSize)
                .withAnnotations(source.config().annotations());
        List<Descriptor> descriptors = new ArrayList<>();
        for (ReverseResult.Layer layer : layers) {
            descriptors.add(Descriptor.of(layerType, layer.layerDigest(), layer.layerSize()));
        }
        // The subject of a Nydus manifest names the OCI image it was converted from, and this
        // image is not a referrer of that, so it has none.
        return new Manifest(2, manifestType, null, config, descriptors, null,
                source.annotations(), Map.of());
    }
}
