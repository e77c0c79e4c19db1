package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Digest;
import java.util.List;

/**
 * The outcome of a conversion from a Nydus image to an OCI image.
 *
 * @param source the source location as given
 * @param target the target location
 * @param targetDigest the digest of the manifest or index written under the target tag
 * @param targetMediaType the media type of that manifest or index
 * @param targetSize the size of that manifest or index
 * @param manifests one result per converted Nydus manifest, in source index order
 * @param millis the time of the whole conversion
 */
public record ReverseResult(ImageLocation source, ImageLocation target, Digest targetDigest,
        String targetMediaType, long targetSize, List<Manifest> manifests, long millis) {

    public ReverseResult {
        manifests = List.copyOf(manifests);
        if (manifests.isEmpty()) {
            throw new IllegalArgumentException("a conversion result needs a manifest");
        }
    }

    /**
     * The conversion of one Nydus manifest.
     *
     * @param platform the platform, as the source index or config states it, or null
     * @param sourceManifest the digest of the Nydus manifest
     * @param targetManifest the digest of the OCI manifest
     * @param targetManifestSize the size of the OCI manifest
     * @param config the digest of the rewritten config
     * @param layers one result per Nydus blob layer, in layer order
     * @param millis the time of this manifest's conversion
     */
    public record Manifest(PlatformSpec platform, Digest sourceManifest, Digest targetManifest,
            long targetManifestSize, Digest config, List<Layer> layers, long millis) {

        public Manifest {
            layers = List.copyOf(layers);
        }
    }

    /**
     * The conversion of one Nydus blob layer into a gzipped tar layer.
     *
     * @param blobDigest the digest of the Nydus blob
     * @param blobSize the size of the Nydus blob
     * @param layerDigest the digest of the gzipped tar layer
     * @param layerSize the size of the gzipped tar layer
     * @param diffId the digest of the uncompressed tar
     * @param push whether the layer was uploaded or the target had it already
     * @param millis time to pull, convert and push the layer
     */
    public record Layer(Digest blobDigest, long blobSize, Digest layerDigest, long layerSize,
            Digest diffId, BlobPushResult push, long millis) {

        public Layer {
            if (blobSize < 0 || layerSize < 0) {
                throw new IllegalArgumentException("negative size: blob " + blobSize
                        + ", layer " + layerSize);
            }
        }
    }
}
