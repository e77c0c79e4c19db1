package io.nydus.testkit;

import io.nydus.posix.BytePath;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A temporary directory on a disk file system, made by {@link TempDirs#create}. Closing it
 * unmounts what is mounted below it and deletes it.
 */
public final class TempDir implements AutoCloseable {

    private final Path path;

    TempDir(Path path) {
        this.path = path;
    }

    /** Returns the directory's absolute path. */
    public Path path() {
        return path;
    }

    /** Returns the directory's path as bytes, for the calls of {@code io.nydus.posix}. */
    public BytePath bytes() {
        return BytePath.of(path);
    }

    /** Returns the child {@code name} of the directory. */
    public Path resolve(String name) {
        return path.resolve(name);
    }

    /** Unmounts file systems below the directory, detaches its loop devices, deletes it. */
    @Override
    public void close() throws IOException {
        TempDirs.remove(path);
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
