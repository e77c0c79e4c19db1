package io.nydus.builder;

import io.nydus.rafs.v6.Bootstrap;
import java.nio.file.Path;
import java.util.List;

/**
 * The output of a merge.
 *
 * @param bootstrap the merged image metadata as written; its blob table lists the blobs in the
 *     order that a pull must provide them
 * @param bootstrapFile where the bootstrap was written
 * @param droppedBlobIds ids of layer blobs that no file of the merged tree uses any more
 */
public record MergeResult(Bootstrap bootstrap, Path bootstrapFile, List<String> droppedBlobIds) {
    public MergeResult {
        droppedBlobIds = List.copyOf(droppedBlobIds);
    }
}
