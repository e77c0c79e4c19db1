package io.nydus.builder;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Follows the blob file while a build writes it, so that the blob can be read, for instance
 * sent to a registry, before the build ends. The build calls both methods on the thread that
 * writes the blob, so {@link #written} must return quickly.
 */
public interface BlobObserver {

    /**
     * Reports that the build created {@code file}, still empty, and writes the blob into it
     * from the first byte on, never going back. The file is renamed when the build succeeds
     * and deleted when it fails, so an observer that reads it keeps a channel open from here.
     */
    void opened(Path file) throws IOException;

    /** Reports that the first {@code length} bytes of the blob are in the file, readable. */
    void written(long length);
}
