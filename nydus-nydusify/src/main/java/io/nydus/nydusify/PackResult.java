package io.nydus.nydusify;

import java.nio.file.Path;
import java.util.Objects;

/**
 * The files a pack wrote.
 *
 * @param bootstrap the bootstrap file
 * @param blob the blob file, named by its blob id, or null when every chunk was found in the
 *     parent or the chunk dictionary and no blob was written
 * @param blobId the id of the new blob as the bootstrap's blob table lists it, or null. It is
 *     the SHA-256 of the blob without its chunk digest array, so it differs from the digest of
 *     the whole file
 * @param bytesRead file data bytes read from the source directory
 * @param chunksReused chunks taken from this build, the parent or the dictionary
 */
public record PackResult(Path bootstrap, Path blob, String blobId, long bytesRead,
        long chunksReused) {

    public PackResult {
        Objects.requireNonNull(bootstrap, "bootstrap");
        if ((blob == null) != (blobId == null)) {
            throw new IllegalArgumentException("blob and blobId must both be set or both be"
                    + " null");
        }
    }
}
