package io.nydus.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Where the stored bytes of blobs come from: a registry, or a local directory or file. */
public interface BlobBackend extends Closeable {

    /**
     * Reads exactly {@code target.remaining()} bytes of blob {@code blobId} starting at
     * {@code offset} into {@code target}.
     *
     * @throws IOException naming the blob, the range and the backend when the bytes cannot be
     *         read after the configured retries
     */
    void read(String blobId, long offset, ByteBuffer target) throws IOException;

    /** Returns the stored size of blob {@code blobId}. */
    long blobSize(String blobId) throws IOException;

    /** Describes the backend for logs and the API, such as "registry 127.0.0.1:5000/app". */
    String describe();
}
