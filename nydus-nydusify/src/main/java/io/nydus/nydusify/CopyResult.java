package io.nydus.nydusify;

import io.nydus.registry.Digest;

/**
 * The outcome of a copy: the pushed digest and counts of manifests and blobs.
 *
 * @param source the source location as given
 * @param target the target location
 * @param digest the digest of the manifest or index pushed to the target tag
 * @param manifests manifests and indexes pushed, the tagged one included
 * @param blobsUploaded blobs sent to the target
 * @param blobsMounted blobs the target registry linked from the source repository
 * @param blobsExisting blobs the target repository had already
 * @param bytesUploaded bytes of the blobs sent
 */
public record CopyResult(ImageLocation source, ImageLocation target, Digest digest,
        int manifests, int blobsUploaded, int blobsMounted, int blobsExisting,
        long bytesUploaded) {

    /** Returns the blobs that the copy transferred, by upload or by mount. */
    public int transfers() {
        return blobsUploaded + blobsMounted;
    }
}
