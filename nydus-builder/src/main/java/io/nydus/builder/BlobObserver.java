package io.nydus.builder;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Follows the blob file while a build writes it, so that the blob can be read, for instance
 * sent to a registry, before the build ends. The build calls both methods on the thread that
 * writes the blob; {@link #written} must return quickly.
 */
public interface BlobObserver {

    /**
     * The build created {@code file}, still empty, and writes the blob into it from the first
     * byte on, never going back. The file is renamed when the build succeeds and deleted when
     * it fails, so an observer that reads it keeps a channel open from here on.
     */
    void opened(Path file) throws IOException;

    /** The first {@code length} bytes of the blob are in the file and readable from there. */
    void written(long length);
}
