package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Digest;

/**
 * A blob that a conversion stored in the target without building it, such as a blob of the
 * chunk dictionary that the new image uses.
 *
 * @param digest the blob digest
 * @param size the blob size
 * @param push whether the blob was uploaded, mounted or already in the target
 */
public record BlobResult(Digest digest, long size, BlobPushResult push) {
}
