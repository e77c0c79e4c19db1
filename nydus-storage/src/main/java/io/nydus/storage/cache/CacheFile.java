package io.nydus.storage.cache;

import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A cache file that every image of the process that uses its blob shares. A {@link FileChannel}
 * closes itself for all its users when a thread is interrupted in one of its calls, as a
 * prefetch worker is when its image is unmounted. This class then opens the file again, so
 * that the other images keep reading and writing it.
 *
 * <p>An operation may run more than once, so each one must create its buffers itself and write
 * only what it would write again.
 */
final class CacheFile implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CacheFile.class);

    /** An operation on the file's channel. */
    @FunctionalInterface
    interface Operation<T> {
        T apply(FileChannel channel) throws IOException;
    }

    /** An operation on the file's channel that returns nothing. */
    @FunctionalInterface
    interface Action {
        void run(FileChannel channel) throws IOException;
    }

    private final Path path;
    private volatile FileChannel channel;
    private volatile boolean closed;

    /** Opens {@code path} for reading and writing, creating it if it is missing. */
    CacheFile(Path path) throws IOException {
        this.path = path;
        this.channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE);
    }

    Path path() {
        return path;
    }

    /**
     * Runs {@code operation} and returns its result. Where another thread's interrupt closed
     * the channel, opens the file again and runs the operation again.
     *
     * @throws ClosedByInterruptException if this thread is interrupted
     * @throws ClosedChannelException if this file was closed
     */
    <T> T call(Operation<T> operation) throws IOException {
        while (true) {
            FileChannel current = channel;
            try {
                return operation.apply(current);
            } catch (ClosedByInterruptException e) {
                // The interrupt of this thread closed the channel, and the next caller opens it.
                throw e;
            } catch (ClosedChannelException e) {
                reopen(current, e);
            }
        }
    }

    /** Runs {@code action} as {@link #call} runs an operation. */
    void run(Action action) throws IOException {
        call(openChannel -> {
            action.run(openChannel);
            return null;
        });
    }

    private synchronized void reopen(FileChannel stale, ClosedChannelException cause)
            throws IOException {
        if (closed) {
            throw cause;
        }
        if (channel != stale) {
            return;
        }
        // A file removed meanwhile is not created again, so its reads fail.
        channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        LOG.debug("opened cache file {} again after an interrupted thread closed it", path);
    }

    @Override
    public synchronized void close() throws IOException {
        closed = true;
        channel.close();
    }
}
