package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Digest;

/**
 * The conversion of one source layer.
 *
 * @param sourceDigest the digest of the OCI layer
 * @param sourceSize the size of the OCI layer
 * @param blobDigest the digest of the Nydus data blob, its layer digest in the target
 * @param blobSize the size of the Nydus data blob
 * @param push whether the blob was uploaded or the target had it already
 * @param chunksReused chunks found in the layer itself or in the chunk dictionary instead of
 *     being stored again; 0 for a layer taken from the build cache
 * @param millis time to pull, build and push the layer
 * @param fromBuildCache whether the layer was taken from the build cache instead of being
 *     pulled and built
 */
public record LayerResult(Digest sourceDigest, long sourceSize, Digest blobDigest, long blobSize,
        BlobPushResult push, long chunksReused, long millis, boolean fromBuildCache) {
}
