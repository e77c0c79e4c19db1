package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import java.util.List;

/**
 * The outcome of a conversion: the digests and sizes it pushed, and its times.
 *
 * @param source the source reference as given
 * @param sourceManifest the digest of the source image manifest (the platform's, for an index)
 * @param target the reference the Nydus manifest was pushed under
 * @param targetManifest the digest of the Nydus manifest
 * @param targetManifestSize the size of the Nydus manifest
 * @param config the digest of the rewritten config
 * @param configPush whether the config was uploaded or existed
 * @param layers one result per source layer, in layer order
 * @param bootstrapDigest the digest of the bootstrap layer (gzipped)
 * @param bootstrapSize the size of the bootstrap layer
 * @param bootstrapDiffId the digest of the uncompressed bootstrap layer tar
 * @param bootstrapPush whether the bootstrap layer was uploaded or existed
 * @param millis the time of the whole conversion
 */
public record ConvertResult(ImageReference source, Digest sourceManifest, ImageReference target,
        Digest targetManifest, long targetManifestSize, Digest config, BlobPushResult configPush,
        List<LayerResult> layers,
        Digest bootstrapDigest, long bootstrapSize, Digest bootstrapDiffId,
        BlobPushResult bootstrapPush, long millis) {

    public ConvertResult {
        layers = List.copyOf(layers);
    }

    /** Returns the number of blobs uploaded, the config and bootstrap layer included. */
    public long uploads() {
        long count = layers.stream().filter(l -> l.push() == BlobPushResult.UPLOADED).count();
        return count + (configPush == BlobPushResult.UPLOADED ? 1 : 0)
                + (bootstrapPush == BlobPushResult.UPLOADED ? 1 : 0);
    }
}
