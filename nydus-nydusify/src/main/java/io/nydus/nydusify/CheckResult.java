package io.nydus.nydusify;

import java.util.List;

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
 */
public record CheckResult(List<String> differences, long entries, long chunksVerified,
        long bytesVerified, long millis) {

    public CheckResult {
        differences = List.copyOf(differences);
    }

    /** Returns whether no difference was found. */
    public boolean passed() {
        return differences.isEmpty();
    }
}
