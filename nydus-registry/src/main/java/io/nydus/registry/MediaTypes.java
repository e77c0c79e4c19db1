package io.nydus.registry;

import java.util.List;

/** Media types of OCI and Docker manifests, indexes, configs and layers, and Nydus's own. */
public final class MediaTypes {

    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    public static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
    public static final String OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
    public static final String OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
    public static final String OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

    public static final String DOCKER_MANIFEST =
            "application/vnd.docker.distribution.manifest.v2+json";
    public static final String DOCKER_MANIFEST_LIST =
            "application/vnd.docker.distribution.manifest.list.v2+json";
    public static final String DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
    public static final String DOCKER_LAYER_GZIP =
            "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /** The layer type of a Nydus data blob. */
    public static final String NYDUS_BLOB = "application/vnd.oci.image.layer.nydus.blob.v1";
    /** The {@code artifactType} of a Nydus manifest in an index. */
    public static final String NYDUS_MANIFEST_ARTIFACT =
            "application/vnd.nydus.image.manifest.v1+json";
    /** The config type of the Nydus manifest in a merged OCI and Nydus index. */
    public static final String NYDUS_CONFIG = "application/vnd.nydus.image.config.v1+json";
    /** The {@code platform.os.features} entry of Nydus manifests built by old converters. */
    public static final String NYDUS_LEGACY_OS_FEATURE = "nydus.remoteimage.v1";

    /** The layer annotation that marks a Nydus data blob. */
    public static final String ANNOTATION_NYDUS_BLOB = "containerd.io/snapshot/nydus-blob";
    /** The layer annotation that marks the Nydus bootstrap layer, the last layer. */
    public static final String ANNOTATION_NYDUS_BOOTSTRAP =
            "containerd.io/snapshot/nydus-bootstrap";
    /** The bootstrap layer annotation with the RAFS version, {@code "5"} or {@code "6"}. */
    public static final String ANNOTATION_NYDUS_FS_VERSION =
            "containerd.io/snapshot/nydus-fs-version";
    /** The blob layer annotation of OCI-ref images: the digest of the original OCI layer. */
    public static final String ANNOTATION_NYDUS_REF = "containerd.io/snapshot/nydus-ref";

    /** The manifest and index types a client accepts, sent in every manifest request. */
    public static final List<String> MANIFEST_TYPES =
            List.of(OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST);

    private MediaTypes() {
    }

    /** Returns whether {@code mediaType} is an OCI index or a Docker manifest list. */
    public static boolean isIndex(String mediaType) {
        return OCI_INDEX.equals(mediaType) || DOCKER_MANIFEST_LIST.equals(mediaType);
    }

    /** Returns whether {@code mediaType} is an OCI image manifest or a Docker schema 2 one. */
    public static boolean isManifest(String mediaType) {
        return OCI_MANIFEST.equals(mediaType) || DOCKER_MANIFEST.equals(mediaType);
    }
}
