package io.nydus.storage;

import java.io.IOException;

/**
 * A read that failed because the storage of its image was closed, as when the image is
 * unmounted while the kernel still sends reads of its open files. Callers treat it as an
 * expected end of the image, not as a fault of the storage.
 */
public final class StorageClosedException extends IOException {
    private static final long serialVersionUID = 1L;

    public StorageClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
