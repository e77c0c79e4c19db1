package io.nydus.tar;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Reads a stream ahead on a thread of its own, so that decompressing a layer (and the network
 * reads and digest check under it) runs beside the tar parsing and chunking of the caller.
 * Inflating a gzip layer alone takes as long as parsing and cutting its content into chunks,
 * and both used to share one thread.
 *
 * <p>Each read of the source requests at most 64 KiB, as the reader did without this thread,
 * and its bytes are handed on at once. So bytes that arrived never wait for more, and a
 * decompressor that fails loses no more of its output than before. The errors of the source
 * reach the caller as the same exception objects, in order, so the caller tells source errors
 * from decompressor errors as before. Once the source has ended, the thread has stopped, so a
 * caller may go on reading the stream under the source after the end.
 */
final class ReadAheadStream extends InputStream {

    private static final int BUFFER_SIZE = 64 * 1024;
    private static final int BUFFERS = 32;
    /**
     * How long close waits for the thread after closing the source. A read of a pipe that
     * ignores the close goes on until data or the end arrives, and the thread stops then.
     */
    private static final long STOP_WAIT_MILLIS = 500;

    /** A filled buffer, or the end of the stream, or the error that ended it. */
    private record Block(byte[] data, int length, Throwable error) {
        static final Block END = new Block(new byte[0], -1, null);
    }

    private final InputStream source;
    private final BlockingQueue<Block> filled = new ArrayBlockingQueue<>(BUFFERS + 1);
    private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BUFFERS);
    private final Thread reader;
    private volatile boolean closed;
    private Block current;
    private int position;
    /** The error that ended the stream, thrown again by every later read. */
    private Throwable failure;

    ReadAheadStream(InputStream source) {
        this.source = source;
        for (int i = 0; i < BUFFERS; i++) {
            free.add(new byte[BUFFER_SIZE]);
        }
        this.reader = Thread.ofPlatform().daemon().name("tar-read-ahead").unstarted(this::fill);
        reader.start();
    }

    @Override
    public int read() throws IOException {
        byte[] single = new byte[1];
        int count;
        do {
            count = read(single, 0, 1);
        } while (count == 0);
        return count < 0 ? -1 : single[0] & 0xff;
    }

    @Override
    public int read(byte[] target, int offset, int length) throws IOException {
        if (closed) {
            throw new IOException("tar stream is closed");
        }
        if (length == 0) {
            return 0;
        }
        if (failure != null) {
            rethrow(failure);
        }
        if (current == Block.END) {
            return -1;
        }
        if (current == null || position == current.length()) {
            if (!next()) {
                return current.length();
            }
        }
        int count = Math.min(length, current.length() - position);
        System.arraycopy(current.data(), position, target, offset, count);
        position += count;
        return count;
    }

    /**
     * Takes the next block, recycling the one read. Returns false if the block is the end or
     * an empty read, which stay current, so that reads after the end return -1 again.
     */
    private boolean next() throws IOException {
        if (current != null && current.data() != null
                && current.data().length == BUFFER_SIZE) {
            free.offer(current.data());
        }
        current = null;
        try {
            current = filled.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            // Wrapped as a source error, so the reader does not report the data as corrupt.
            throw new SourceStream.SourceException(
                    new InterruptedIOException("interrupted while reading the tar stream"));
        }
        position = 0;
        if (current.error() != null) {
            failure = current.error();
            current = null;
            rethrow(failure);
        }
        return current.length() > 0;
    }

    private static void rethrow(Throwable error) throws IOException {
        switch (error) {
            case IOException io -> throw io;
            case RuntimeException runtime -> throw runtime;
            case Error fatal -> throw fatal;
            default -> throw new IOException(error);
        }
    }

    /** Fills free buffers until the end, an error or close. Runs on the reading thread. */
    private void fill() {
        try {
            while (!closed) {
                byte[] buffer = free.take();
                Filled read = readSome(buffer);
                if (read.length() > 0 || !read.last()) {
                    filled.put(new Block(buffer, read.length(), null));
                }
                if (read.last()) {
                    filled.put(read.error() == null ? Block.END
                            : new Block(null, 0, read.error()));
                    return;
                }
            }
        } catch (InterruptedException e) {
            // close() stops the thread this way.
        }
    }

    /** The outcome of filling one buffer: its length, and whether and how the stream ended. */
    private record Filled(int length, boolean last, Throwable error) {
    }

    /** Reads once into the buffer and returns the count, the end of the stream or the error. */
    private Filled readSome(byte[] buffer) {
        try {
            int count = source.read(buffer, 0, buffer.length);
            return count < 0 ? new Filled(0, true, null) : new Filled(count, false, null);
        } catch (Throwable e) {
            return new Filled(0, true, e);
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        reader.interrupt();
        try {
            // Closing the source ends a read blocked on a socket, which an interrupt may not.
            source.close();
        } finally {
            try {
                reader.join(Duration.ofMillis(STOP_WAIT_MILLIS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
