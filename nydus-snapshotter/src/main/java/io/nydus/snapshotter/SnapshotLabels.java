package io.nydus.snapshotter;

import java.util.Map;
import java.util.Optional;

/**
 * The snapshot labels the snapshotter reads and writes. containerd copies a layer's
 * annotations with the {@code containerd.io/snapshot/} prefix into the labels of the layer's
 * Prepare call, and its CRI plugin adds the {@code cri.*} labels when
 * {@code disable_snapshot_annotations} is false.
 */
public final class SnapshotLabels {

    /** The chain id that an image layer is committed as; present only when unpacking. */
    public static final String TARGET_REF = "containerd.io/snapshot.ref";
    public static final String CRI_IMAGE_REF = "containerd.io/snapshot/cri.image-ref";
    public static final String CRI_LAYER_DIGEST = "containerd.io/snapshot/cri.layer-digest";
    public static final String CRI_MANIFEST_DIGEST = "containerd.io/snapshot/cri.manifest-digest";
    /** The image reference that {@code ctr-remote images rpull} sets on each layer. */
    public static final String STARGZ_IMAGE_REF = "containerd.io/snapshot/remote/stargz.reference";
    /** The layer digest that {@code ctr-remote images rpull} sets on each layer. */
    public static final String STARGZ_LAYER_DIGEST = "containerd.io/snapshot/remote/stargz.digest";
    public static final String NYDUS_BLOB = "containerd.io/snapshot/nydus-blob";
    public static final String NYDUS_BOOTSTRAP = "containerd.io/snapshot/nydus-bootstrap";
    public static final String NYDUS_REF = "containerd.io/snapshot/nydus-ref";
    public static final String PULL_USERNAME = "containerd.io/snapshot/pullusername";
    public static final String PULL_SECRET = "containerd.io/snapshot/pullsecret";
    public static final String OVERLAY_VOLATILE = "containerd.io/snapshot/overlay.volatile";

    /** Set on committed data layers that the snapshotter skipped; the value is the blob id. */
    public static final String SKIPPED_BLOB = "containerd.io/snapshot/nydus-skipped-blob";
    /** Set on committed bootstrap layers: the image reference their blobs come from. */
    public static final String IMAGE_REF = "containerd.io/snapshot/nydus-image-ref";

    /**
     * The maximum length of a label's key plus value, and of a snapshot key. containerd's
     * snapshots API limits a label to 4096 bytes; longer input is rejected.
     */
    static final int MAX_VALUE_LENGTH = 4096;

    private SnapshotLabels() {
    }

    /**
     * Returns the image reference of a layer: the CRI label, else the one that
     * {@code ctr-remote images rpull} sets.
     */
    public static Optional<String> imageRef(Map<String, String> labels) {
        return first(labels, CRI_IMAGE_REF, STARGZ_IMAGE_REF);
    }

    /** Returns a layer's digest from the CRI label or the {@code ctr-remote} label. */
    public static Optional<String> layerDigest(Map<String, String> labels) {
        return first(labels, CRI_LAYER_DIGEST, STARGZ_LAYER_DIGEST);
    }

    public static boolean isTrue(Map<String, String> labels, String name) {
        return "true".equals(labels.get(name));
    }

    private static Optional<String> first(Map<String, String> labels, String... names) {
        for (String name : names) {
            String value = labels.get(name);
            if (value != null && !value.isEmpty()) {
                return Optional.of(value);
            }
        }
        return Optional.empty();
    }
}
