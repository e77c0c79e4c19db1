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
 * <p>The errors of the source reach the caller as the same exception objects, in order, so the
 * caller tells source errors from decompressor errors as before. Closing waits for the reading
 * thread to stop before it closes the source, so the source is never read by two threads: a
 * caller may go on reading the stream under the source once this is closed.
 */
final class ReadAheadStream extends InputStream {

    private static final int BUFFER_SIZE = 256 * 1024;
    private static final int BUFFERS = 8;
    /** How long close waits for a blocked read before it closes the source under it. */
    private static final long STOP_WAIT_MILLIS = 1000;

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

    /** Fills free buffers until the end, an error or close; runs on the reading thread. */
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

    /**
     * Reads until the buffer is full, the end, an error, or a read that returns no bytes. The
     * bytes read before an error are kept, so that they reach the caller before the error.
     */
    private Filled readSome(byte[] buffer) {
        int length = 0;
        try {
            while (length < buffer.length) {
                int count = source.read(buffer, length, buffer.length - length);
                if (count < 0) {
                    return new Filled(length, true, null);
                }
                if (count == 0) {
                    break;
                }
                length += count;
            }
            return new Filled(length, false, null);
        } catch (Throwable e) {
            return new Filled(length, true, e);
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
            // A read blocked in the source may only return once the source is closed. So the
            // first wait is bounded, and the thread is waited for again after the close.
            if (!reader.join(Duration.ofMillis(STOP_WAIT_MILLIS))) {
                source.close();
                reader.join(Duration.ofSeconds(30));
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        source.close();
    }
}
