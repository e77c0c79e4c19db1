package io.nydus.nydusify;

import io.nydus.builder.BuildOptions;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.registry.Digest;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Compares the layer bootstrap of a build cache record with the options of this conversion.
 * Records do not name the options they were built with, and a layer built with other options
 * would make the merge fail or give an image that differs from one built without the cache.
 */
final class CacheRecordCheck {
    private CacheRecordCheck() {
    }

    /**
     * Returns what in {@code bootstrap} differs from this conversion, or empty if the record
     * can be used.
     *
     * @param ownBlob the record's blob, built from the layer itself
     * @param dictBlobIds the blob ids of this conversion's chunk dictionary, or null without one
     */
    static Optional<String> mismatch(Bootstrap bootstrap, Digest ownBlob, BuildOptions options,
            Set<String> dictBlobIds) {
        List<String> differences = new ArrayList<>();
        if (bootstrap.chunkSize() != options.chunkSize()) {
            differences.add("chunk size 0x" + Integer.toHexString(bootstrap.chunkSize())
                    + ", this conversion uses 0x" + Integer.toHexString(options.chunkSize()));
        }
        if (bootstrap.explicitUidGid() != options.explicitUidGid()) {
            differences.add("explicit uid/gid mode " + onOff(bootstrap.explicitUidGid())
                    + ", this conversion uses " + onOff(options.explicitUidGid()));
        }
        for (BlobInfo blob : bootstrap.blobs()) {
            if (isOwnBlob(blob, ownBlob)) {
                addOwnBlobDifferences(blob, options, differences);
            } else if (dictBlobIds == null) {
                differences.add("blob " + blob.blobId() + " of a chunk dictionary, but this"
                        + " conversion uses none");
            } else if (!dictBlobIds.contains(blob.blobId())) {
                differences.add("blob " + blob.blobId() + ", which is not in this conversion's"
                        + " chunk dictionary");
            }
        }
        return differences.isEmpty() ? Optional.empty()
                : Optional.of(String.join("; ", differences));
    }

    /**
     * Returns whether {@code blob} of a layer bootstrap is the layer's own blob, whose digest
     * is {@code ownBlob}. A layer build names its blob by a digest of the chunk data, not of
     * the blob file, but marks it as the blob that carries the layer's bootstrap, and the
     * merge finds it by that mark as well. Other blobs come from a chunk dictionary.
     */
    static boolean isOwnBlob(BlobInfo blob, Digest ownBlob) {
        return blob.blobId().equals(ownBlob.hex()) || blob.has(BlobFeatures.INLINED_FS_META);
    }

    private static void addOwnBlobDifferences(BlobInfo blob, BuildOptions options,
            List<String> differences) {
        if (blob.compressor() != options.compressor()) {
            differences.add("blob " + blob.blobId() + " compressed with "
                    + blob.compressor().label() + ", this conversion uses "
                    + options.compressor().label());
        }
        if (blob.digester() != options.digester()) {
            differences.add("blob " + blob.blobId() + " digested with "
                    + blob.digester().label() + ", this conversion uses "
                    + options.digester().label());
        }
    }

    private static String onOff(boolean value) {
        return value ? "on" : "off";
    }
}
