package io.nydus.registry;

/**
 * A repository in a registry, such as {@code 127.0.0.1:5000/app}: where blobs live.
 *
 * @param registry the registry host, with a port if one was given
 * @param name the repository path, such as {@code library/ubuntu}
 */
public record Repository(String registry, String name) {

    public Repository {
        // Reuses the reference rules so that repositories and references validate alike.
        new ImageReference(registry, name, ImageReference.DEFAULT_TAG, null);
    }

    /**
     * Parses {@code registry/name} with the defaults of {@link ImageReference#parse}; a tag or
     * digest in {@code text} is rejected.
     */
    public static Repository parse(String text) {
        ImageReference reference = ImageReference.parse(text);
        if (reference.digest() != null || text.endsWith(":" + reference.tag())) {
            throw new IllegalArgumentException("invalid repository '" + text
                    + "': it contains a tag or digest");
        }
        return reference.toRepository();
    }

    /** Returns a reference to {@code tag} in this repository. */
    public ImageReference tag(String tag) {
        return new ImageReference(registry, name, tag, null);
    }

    /** Returns a reference to the manifest {@code digest} in this repository. */
    public ImageReference digest(Digest digest) {
        return new ImageReference(registry, name, null, digest);
    }

    /** Returns {@code registry/name}. */
    @Override
    public String toString() {
        return registry + "/" + name;
    }
}
