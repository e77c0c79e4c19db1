package io.nydus.builder;

import io.nydus.rafs.v6.BlobInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * The blob table of the image being built: a parent's blobs first, then the new blob, then
 * dictionary blobs in the order of their first use.
 */
final class BlobTable {
    private final List<BlobInfo> blobs = new ArrayList<>();

    int size() {
        return blobs.size();
    }

    /** Appends a blob and returns its index. */
    int add(BlobInfo blob) {
        blobs.add(blob);
        return blobs.size() - 1;
    }

    void set(int index, BlobInfo blob) {
        blobs.set(index, blob);
    }

    BlobInfo get(int index) {
        return blobs.get(index);
    }

    int indexOrAdd(BlobInfo blob) {
        for (int i = 0; i < blobs.size(); i++) {
            if (blobs.get(i).blobId().equals(blob.blobId())) {
                return i;
            }
        }
        return add(blob);
    }

    /** Removes the blob at {@code index}; blobs after it move down by one. */
    void remove(int index) {
        blobs.remove(index);
    }

    List<BlobInfo> list() {
        return List.copyOf(blobs);
    }
}
