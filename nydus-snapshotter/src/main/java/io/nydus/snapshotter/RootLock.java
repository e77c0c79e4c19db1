package io.nydus.snapshotter;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An exclusive lock on a snapshotter root, held while one snapshotter serves it. Two processes
 * on one root would each write the metadata file from their own memory and lose the other's
 * snapshots, and each would delete the other's directories as orphans. The kernel releases the
 * lock when the process ends, also after SIGKILL.
 */
final class RootLock implements AutoCloseable {
    private static final String FILE_NAME = "lock";

    private final FileChannel channel;

    private RootLock(FileChannel channel) {
        this.channel = channel;
    }

    /**
     * Takes the lock of {@code root} without waiting.
     *
     * @throws IOException naming the root if another snapshotter has locked it
     */
    static RootLock acquire(Path root) throws IOException {
        FileChannel channel = FileChannel.open(root.resolve(FILE_NAME),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            channel.close();
            throw new IOException("snapshotter root " + root + " is in use by another"
                    + " snapshotter; stop that one first or give another root");
        }
        return new RootLock(channel);
    }

    /** Releases the lock. */
    @Override
    public void close() throws IOException {
        channel.close();
    }
}
