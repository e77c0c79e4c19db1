package io.nydus.nydusify;

import java.util.List;
import java.util.Objects;

/**
 * The outcome of a check.
 *
 * @param differences one line per problem found, each naming the manifest or config field, or
 *     the path and field of a file; empty when the images match
 * @param entries tree entries of the target image compared, the root included, or 0 when the
 *     manifest was too broken to read the bootstrap
 * @param chunksVerified chunks read from the target blobs, decompressed and digest-checked
 * @param bytesVerified uncompressed bytes of the verified chunks
 * @param millis wall time of the check
 * @param reference the tree that the target's tree was compared with
 */
public record CheckResult(List<String> differences, long entries, long chunksVerified,
        long bytesVerified, long millis, Reference reference) {

    /** The source tree that a check compares the target's tree with. */
    public enum Reference {
        /** No tree was compared: no source was given, or the manifest was too broken. */
        NONE("none"),
        /** The source layers unpacked and mounted as one overlayfs. */
        OVERLAY("overlayfs mount of the source layers"),
        /** A bootstrap built from the source layers by the converter's builder and merger. */
        BUILDER("bootstrap built from the source layers");

        private final String description;

        Reference(String description) {
            this.description = description;
        }

        /** Returns the reference's description, for messages. */
        public String description() {
            return description;
        }
    }

    public CheckResult {
        differences = List.copyOf(differences);
        Objects.requireNonNull(reference, "reference");
    }

    /** Returns whether no difference was found. */
    public boolean passed() {
        return differences.isEmpty();
    }
}
