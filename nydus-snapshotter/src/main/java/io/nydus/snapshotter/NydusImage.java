package io.nydus.snapshotter;

import io.nydus.registry.ImageReference;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A Nydus image to mount: the committed bootstrap layer that containerd unpacked, and where its
 * blobs come from.
 *
 * @param snapshotId the store id of the bootstrap layer's snapshot; it names the mount
 * @param bootstrap the unpacked {@code image.boot} file
 * @param reference the image the blobs are pulled from
 * @param blobIds the hex ids of the data blobs below the bootstrap layer, base layer first
 * @param labels the bootstrap layer's labels, which may carry pull credentials
 */
public record NydusImage(long snapshotId, Path bootstrap, ImageReference reference,
        List<String> blobIds, Map<String, String> labels) {

    public NydusImage {
        if (snapshotId <= 0) {
            throw new IllegalArgumentException("invalid snapshot id " + snapshotId);
        }
        if (bootstrap == null || reference == null) {
            throw new IllegalArgumentException("Nydus image of snapshot " + snapshotId
                    + " lacks a bootstrap or reference");
        }
        blobIds = List.copyOf(blobIds);
        labels = Map.copyOf(labels);
    }

    /** Returns the id of the image's mount in a shared daemon and its mount directory name. */
    public String mountId() {
        return Long.toString(snapshotId);
    }
}
