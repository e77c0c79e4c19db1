package io.nydus.nydusify;

import io.nydus.registry.Digest;
import java.util.Objects;

/**
 * One build cache record: what one source layer, found by its chain ID, was built into.
 *
 * @param chainId the chain ID of the source layer: its diff ID combined with those below it
 * @param bootstrapDigest the digest of the gzipped tar that contains the layer's bootstrap
 * @param bootstrapSize the size of that tar
 * @param bootstrapDiffId the digest of that tar uncompressed
 * @param blobDigest the digest of the layer's Nydus data blob
 * @param blobSize the size of that blob
 */
record CacheRecord(Digest chainId, Digest bootstrapDigest, long bootstrapSize,
        Digest bootstrapDiffId, Digest blobDigest, long blobSize) {

    CacheRecord {
        Objects.requireNonNull(chainId, "chainId");
        Objects.requireNonNull(bootstrapDigest, "bootstrapDigest");
        Objects.requireNonNull(bootstrapDiffId, "bootstrapDiffId");
        Objects.requireNonNull(blobDigest, "blobDigest");
        if (bootstrapSize < 0 || blobSize < 0) {
            throw new IllegalArgumentException("cache record of chain ID " + chainId
                    + " has a negative size: bootstrap " + bootstrapSize + ", blob "
                    + blobSize);
        }
    }
}
