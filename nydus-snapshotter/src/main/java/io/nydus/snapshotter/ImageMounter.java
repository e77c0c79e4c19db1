package io.nydus.snapshotter;

import java.nio.file.Path;
import java.util.Collection;
import java.util.List;

/** Mounts Nydus images where overlayfs can take them as lower directory. */
public interface ImageMounter extends AutoCloseable {

    /**
     * Mounts {@code image} unless it is mounted already, and returns its mount directory.
     *
     * @throws SnapshotException if the daemon cannot start or mount the image within the
     *     configured timeout
     */
    Path mount(NydusImage image) throws SnapshotException;

    /** Unmounts the image of bootstrap snapshot {@code snapshotId}; does nothing if unmounted. */
    void unmount(long snapshotId) throws SnapshotException;

    /** Returns the ids of the bootstrap snapshots whose images are mounted now. */
    List<Long> mountedImages();

    /**
     * Attaches to the daemons that still serve {@code images} after a restart of the
     * snapshotter, and restarts and mounts again what no longer runs.
     */
    void recover(Collection<NydusImage> images);

    /** Stops nothing that serves running containers; releases the mounter's own resources. */
    @Override
    void close();
}
