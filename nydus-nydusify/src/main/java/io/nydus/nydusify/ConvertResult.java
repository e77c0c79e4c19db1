package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Digest;
import java.util.List;

/**
 * The outcome of a conversion: what was written under the target tag, one result per
 * converted manifest, and the time.
 *
 * @param source the source location as given
 * @param target the target location
 * @param targetDigest the digest of the manifest or index written under the target tag
 * @param targetMediaType the media type of that manifest or index
 * @param targetSize the size of that manifest or index
 * @param manifests one result per converted platform, in source index order
 * @param millis the time of the whole conversion
 */
public record ConvertResult(ImageLocation source, ImageLocation target, Digest targetDigest,
        String targetMediaType, long targetSize, List<ManifestResult> manifests,
        long millis) {

    public ConvertResult {
        manifests = List.copyOf(manifests);
        if (manifests.isEmpty()) {
            throw new IllegalArgumentException("a conversion result needs a manifest");
        }
    }

    /** Returns the digest written under the target tag, a manifest's or an index's. */
    public Digest targetManifest() {
        return targetDigest;
    }

    /** Returns the source manifest digest of the first converted platform. */
    public Digest sourceManifest() {
        return manifests.getFirst().sourceManifest();
    }

    /** Returns the layer results of the first converted platform. */
    public List<LayerResult> layers() {
        return manifests.getFirst().layers();
    }

    /** Returns the bootstrap layer digest of the first converted platform. */
    public Digest bootstrapDigest() {
        return manifests.getFirst().bootstrapDigest();
    }

    /** Returns the bootstrap layer push of the first converted platform. */
    public BlobPushResult bootstrapPush() {
        return manifests.getFirst().bootstrapPush();
    }

    /** Returns the number of blobs uploaded over all platforms. */
    public long uploads() {
        return manifests.stream().mapToLong(ManifestResult::uploads).sum();
    }

    /** Returns the bytes of blobs uploaded over all platforms. */
    public long bytesUploaded() {
        return manifests.stream().mapToLong(ManifestResult::bytesUploaded).sum();
    }

    /** Returns the bytes of blobs the target had or mounted, over all platforms. */
    public long bytesReused() {
        return manifests.stream().mapToLong(ManifestResult::bytesReused).sum();
    }
}
