package io.nydus.registry;

import java.util.Objects;

/**
 * The exact bytes of a manifest or index as a registry serves them, with their media type and
 * digest. Pushing these bytes again keeps the digest.
 */
public final class ManifestContent {

    private final byte[] bytes;
    private final String mediaType;
    private final Digest digest;

    /**
     * Creates the content of {@code bytes}, copying them and computing their digest.
     *
     * @param mediaType the {@code Content-Type} the registry sent or will receive
     */
    public ManifestContent(byte[] bytes, String mediaType) {
        this.bytes = bytes.clone();
        this.mediaType = Objects.requireNonNull(mediaType, "mediaType");
        this.digest = Digest.of(this.bytes);
    }

    /** Returns the content of {@code manifest}'s JSON encoding. */
    public static ManifestContent of(Manifest manifest) {
        return new ManifestContent(manifest.toJson(), manifest.effectiveMediaType());
    }

    /** Returns the content of {@code index}'s JSON encoding. */
    public static ManifestContent of(ImageIndex index) {
        return new ManifestContent(index.toJson(), index.effectiveMediaType());
    }

    /** Returns a copy of the bytes. */
    public byte[] bytes() {
        return bytes.clone();
    }

    public int size() {
        return bytes.length;
    }

    public String mediaType() {
        return mediaType;
    }

    /** Returns the SHA-256 digest of the bytes. */
    public Digest digest() {
        return digest;
    }

    /** Returns whether this is an OCI index or a Docker manifest list. */
    public boolean isIndex() {
        return MediaTypes.isIndex(mediaType);
    }

    /** Returns a descriptor of this content. */
    public Descriptor descriptor() {
        return Descriptor.of(mediaType, digest, bytes.length);
    }

    /**
     * Parses the bytes as an image manifest.
     *
     * @throws IllegalArgumentException if they are not one, naming the digest
     */
    public Manifest toManifest() {
        if (isIndex()) {
            throw new IllegalArgumentException("manifest " + digest + " is an index of type "
                    + mediaType + ", not an image manifest");
        }
        return Manifest.parse(bytes, digest.toString());
    }

    /**
     * Parses the bytes as an image index.
     *
     * @throws IllegalArgumentException if they are not one, naming the digest
     */
    public ImageIndex toIndex() {
        if (MediaTypes.isManifest(mediaType)) {
            throw new IllegalArgumentException("manifest " + digest + " is an image manifest of"
                    + " type " + mediaType + ", not an index");
        }
        return ImageIndex.parse(bytes, digest.toString());
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ManifestContent that && digest.equals(that.digest)
                && mediaType.equals(that.mediaType);
    }

    @Override
    public int hashCode() {
        return Objects.hash(digest, mediaType);
    }

    @Override
    public String toString() {
        return mediaType + " " + digest + " (" + bytes.length + " bytes)";
    }
}
