package io.nydus.nydusify;

import io.nydus.registry.ImageReference;
import java.nio.file.Path;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where an image is read from or written to: a registry reference, an OCI image layout
 * directory ({@code oci:DIR[:TAG]}) or a tar archive of such a layout
 * ({@code oci-archive:FILE[:TAG]}, or {@code file://FILE} as nydusify copy spells it).
 *
 * @param kind which of the three forms this is
 * @param reference the registry reference; null for a layout or an archive
 * @param path the layout directory or archive file; null for a registry reference
 * @param tag the {@code org.opencontainers.image.ref.name} of the image in the layout, or null
 *     to take the only image of a source layout, or to write a target without a name
 */
public record ImageLocation(Kind kind, ImageReference reference, Path path, String tag) {
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");

    /** The form of a location. */
    public enum Kind {
        REGISTRY, LAYOUT, ARCHIVE
    }

    public ImageLocation {
        Objects.requireNonNull(kind, "kind");
        if ((kind == Kind.REGISTRY) != (reference != null)) {
            throw new IllegalArgumentException("a registry location needs a reference, and"
                    + " only a registry location has one");
        }
        if ((kind == Kind.REGISTRY) == (path != null)) {
            throw new IllegalArgumentException("a layout or archive location needs a path, and"
                    + " a registry location has none");
        }
        if (tag != null && (kind == Kind.REGISTRY || !TAG.matcher(tag).matches())) {
            throw new IllegalArgumentException("invalid layout tag '" + tag + "': expected"
                    + " letters, digits, '_', '.' or '-', at most 128 characters");
        }
    }

    /** Returns the location of {@code reference} in a registry. */
    public static ImageLocation registry(ImageReference reference) {
        return new ImageLocation(Kind.REGISTRY, Objects.requireNonNull(reference, "reference"),
                null, null);
    }

    /** Returns the image named {@code tag} (null for the only one) in a layout directory. */
    public static ImageLocation layout(Path dir, String tag) {
        return new ImageLocation(Kind.LAYOUT, null, dir, tag);
    }

    /** Returns the image named {@code tag} (null for the only one) in a layout archive. */
    public static ImageLocation archive(Path file, String tag) {
        return new ImageLocation(Kind.ARCHIVE, null, file, tag);
    }

    /**
     * Parses {@code oci:DIR[:TAG]}, {@code oci-archive:FILE[:TAG]}, {@code file://FILE} or a
     * registry reference. As in skopeo, the text after the last colon of a local form is the
     * tag, so a path with a colon needs a tag after it.
     *
     * @throws IllegalArgumentException naming {@code text} if it is none of these
     */
    public static ImageLocation parse(String text) {
        if (text == null || text.isEmpty()) {
            throw new IllegalArgumentException("invalid image location: empty");
        }
        try {
            if (text.startsWith("oci:")) {
                return local(Kind.LAYOUT, text.substring(4));
            }
            if (text.startsWith("oci-archive:")) {
                return local(Kind.ARCHIVE, text.substring(12));
            }
            if (text.startsWith("file://")) {
                return archive(pathOf(text.substring(7)), null);
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid image location '" + text + "': "
                    + e.getMessage(), e);
        }
        return registry(ImageReference.parse(text));
    }

    private static ImageLocation local(Kind kind, String rest) {
        int colon = rest.lastIndexOf(':');
        String file = colon < 0 ? rest : rest.substring(0, colon);
        String tag = colon < 0 ? null : rest.substring(colon + 1);
        return new ImageLocation(kind, null, pathOf(file), tag);
    }

    private static Path pathOf(String text) {
        if (text.isEmpty()) {
            throw new IllegalArgumentException("the path is empty");
        }
        return Path.of(text);
    }

    /** Returns whether this is a registry reference. */
    public boolean isRegistry() {
        return kind == Kind.REGISTRY;
    }

    /**
     * Returns the location of the same image under {@code newTag}: a registry tag, or the
     * layout name.
     */
    public ImageLocation withTag(String newTag) {
        return isRegistry() ? registry(reference.withTag(newTag))
                : new ImageLocation(kind, null, path, newTag);
    }

    /** Returns the tag of a registry reference or the name in a layout, or null if none. */
    public String tagOrName() {
        return isRegistry() ? reference.tag() : tag;
    }

    /** Returns the text that {@link #parse} reads back into this location. */
    @Override
    public String toString() {
        String suffix = tag == null ? "" : ":" + tag;
        return switch (kind) {
            case REGISTRY -> reference.toString();
            case LAYOUT -> "oci:" + path + suffix;
            case ARCHIVE -> "oci-archive:" + path + suffix;
        };
    }
}
