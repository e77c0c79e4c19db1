package io.nydus.daemon;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

/**
 * One image mounted by the daemon.
 *
 * @param mountpoint where it appears: "/" for the daemon's own image, or "/NAME" below the
 *        root in shared mode
 * @param bootstrap the bootstrap file
 * @param fs the file system answering for it
 * @param data where its chunks come from
 * @param metrics its read figures
 * @param config its configuration
 * @param prefetchFiles the paths that its mount request listed for prefetch
 * @param mountedTime when it was mounted, or restored after a takeover
 */
public record MountedImage(String mountpoint, Path bootstrap, RafsFileSystem fs, ImageData data,
        FsMetrics metrics, DaemonConfig config, List<String> prefetchFiles,
        Instant mountedTime) {

    public MountedImage {
        prefetchFiles = List.copyOf(prefetchFiles);
    }
}
