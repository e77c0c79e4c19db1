package io.nydus.rafs.blob;

import io.nydus.rafs.DigestAlgorithm;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;

/**
 * Writes a blob's bytes and hashes them with SHA-256 on a thread of its own, so that the thread
 * that orders chunks does not also spend its time in SHA-256 and write calls. Arrays handed to
 * {@link #write} must not change afterwards. At most {@link #QUEUE} writes wait at once, which
 * bounds the memory held here.
 */
final class HashingOutput implements AutoCloseable {
    static final int QUEUE = 8;

    private final OutputStream out;
    private final MessageDigest hash = DigestAlgorithm.newSha256();
    private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Thread worker;
    private volatile IOException failure;

    /** Marks a point in the stream: the worker counts it down once every earlier write is done. */
    private record Barrier(CountDownLatch done) {
    }

    /** Bytes that are written but not hashed. */
    private record Unhashed(byte[] data) {
    }

    private static final Object STOP = new Object();

    HashingOutput(OutputStream out) {
        this.out = out;
        this.worker = Thread.ofPlatform().daemon().name("blob-writer").start(this::run);
    }

    /** Queues {@code data} to be written and hashed. The array must not change afterwards. */
    void write(byte[] data) throws IOException {
        checkFailure();
        put(data);
    }

    /** Queues {@code data} to be written but left out of the hash. */
    void writeUnhashed(byte[] data) throws IOException {
        checkFailure();
        put(new Unhashed(data));
    }

    /** Waits until every queued write is done and returns a copy of the hash state. */
    MessageDigest snapshot() throws IOException {
        drain();
        try {
            return (MessageDigest) hash.clone();
        } catch (CloneNotSupportedException e) {
            throw new IOException("this JDK's SHA-256 cannot be copied", e);
        }
    }

    /** Waits until every queued write is done, then flushes the stream. */
    void drain() throws IOException {
        Barrier barrier = new Barrier(new CountDownLatch(1));
        put(barrier);
        try {
            barrier.done().await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing the blob");
        }
        checkFailure();
        out.flush();
    }

    private void put(Object item) throws IOException {
        try {
            queue.put(item);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing the blob");
        }
    }

    private void checkFailure() throws IOException {
        IOException e = failure;
        if (e != null) {
            throw new IOException("writing the blob failed: " + e.getMessage(), e);
        }
    }

    private void run() {
        try {
            while (true) {
                Object item = queue.take();
                if (item == STOP) {
                    return;
                }
                if (item instanceof Barrier b) {
                    b.done().countDown();
                } else if (failure == null) {
                    write(item);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void write(Object item) {
        try {
            if (item instanceof Unhashed u) {
                out.write(u.data());
            } else {
                byte[] data = (byte[]) item;
                out.write(data);
                hash.update(data);
            }
        } catch (IOException e) {
            failure = e;
        }
    }

    /** Stops the worker after the queued writes; the stream stays open. */
    @Override
    public void close() throws IOException {
        put(STOP);
        try {
            worker.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing the blob");
        }
        checkFailure();
    }
}
