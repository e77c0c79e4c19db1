package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Digest;
import java.util.List;

/**
 * The conversion of one image manifest: one platform of the source.
 *
 * @param platform the platform, as the source index or config states it
 * @param sourceManifest the digest of the source manifest
 * @param targetManifest the digest of the Nydus manifest
 * @param targetManifestSize the size of the Nydus manifest
 * @param config the digest of the rewritten config
 * @param configPush whether the config was uploaded or existed
 * @param layers one result per source layer, in layer order
 * @param dictBlobs the chunk dictionary's blobs that the image uses, in manifest order
 * @param bootstrapDigest the digest of the bootstrap layer (gzipped)
 * @param bootstrapSize the size of the bootstrap layer
 * @param bootstrapDiffId the digest of the uncompressed bootstrap layer tar
 * @param bootstrapPush whether the bootstrap layer was uploaded or existed
 * @param millis the time of this manifest's conversion
 */
public record ManifestResult(PlatformSpec platform, Digest sourceManifest,
        Digest targetManifest, long targetManifestSize, Digest config,
        BlobPushResult configPush, List<LayerResult> layers, List<BlobResult> dictBlobs,
        Digest bootstrapDigest, long bootstrapSize, Digest bootstrapDiffId,
        BlobPushResult bootstrapPush, long millis) {

    public ManifestResult {
        layers = List.copyOf(layers);
        dictBlobs = List.copyOf(dictBlobs);
    }

    /** Returns the number of blobs uploaded, the config and bootstrap layer included. */
    public long uploads() {
        long count = layers.stream().filter(l -> l.push() == BlobPushResult.UPLOADED).count();
        count += dictBlobs.stream().filter(b -> b.push() == BlobPushResult.UPLOADED).count();
        return count + (configPush == BlobPushResult.UPLOADED ? 1 : 0)
                + (bootstrapPush == BlobPushResult.UPLOADED ? 1 : 0);
    }

    /** Returns the bytes of the blobs that the target had or mounted instead of an upload. */
    public long bytesReused() {
        long bytes = 0;
        for (LayerResult layer : layers) {
            bytes += layer.push() == BlobPushResult.UPLOADED ? 0 : layer.blobSize();
        }
        for (BlobResult blob : dictBlobs) {
            bytes += blob.push() == BlobPushResult.UPLOADED ? 0 : blob.size();
        }
        return bytes + (bootstrapPush == BlobPushResult.UPLOADED ? 0 : bootstrapSize);
    }

    /** Returns the bytes of the blobs uploaded, the bootstrap layer included. */
    public long bytesUploaded() {
        long bytes = 0;
        for (LayerResult layer : layers) {
            bytes += layer.push() == BlobPushResult.UPLOADED ? layer.blobSize() : 0;
        }
        for (BlobResult blob : dictBlobs) {
            bytes += blob.push() == BlobPushResult.UPLOADED ? blob.size() : 0;
        }
        return bytes + (bootstrapPush == BlobPushResult.UPLOADED ? bootstrapSize : 0);
    }
}
