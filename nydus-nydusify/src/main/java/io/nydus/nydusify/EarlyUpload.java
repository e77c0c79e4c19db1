package io.nydus.nydusify;

import io.nydus.builder.BlobObserver;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.BlobUpload;
import io.nydus.registry.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends a layer blob to the target while the build still writes it, so that the upload of a
 * large blob ends soon after its build instead of starting then. A thread of its own sends a
 * part whenever {@link #MIN_PART_BYTES} new bytes are in the file, so a slow target never
 * holds up the build. A target that takes smaller requests gets parts of its size.
 *
 * <p>The blob's digest is known only when the build ends. If the target has the blob by then,
 * the session is cancelled and the layer reports {@link BlobPushResult#EXISTED}. A part or
 * final request whose token the registry rejects, as after an early expiry, goes again with a
 * new token, because each part can be read again from the file. If a part or the final
 * request fails otherwise, the session is cancelled and the blob is pushed again from its
 * file, with the retries of any push. A blob smaller than {@link #MIN_PART_BYTES} is pushed
 * whole, as without this class.
 */
final class EarlyUpload implements BlobObserver {
    private static final Logger LOG = LoggerFactory.getLogger(EarlyUpload.class);
    /** The minimum part size: a part is sent once this many new bytes are in the file. */
    static final long MIN_PART_BYTES = 8L << 20;
    /** The maximum part size, so that a sender that fell behind stops soon after a cancel. */
    static final long MAX_PART_BYTES = 64L << 20;

    private final ImageStore target;
    private final String name;
    private final long minPartBytes;
    private final long maxPartBytes;
    private final LongConsumer pushed;
    private FileChannel channel;
    private Thread sender;
    private volatile BlobUpload upload;
    // Guarded by this object's monitor.
    private long written;
    private boolean complete;
    private boolean started;
    private boolean stopped;
    private boolean senderDone;
    private Throwable failure;

    /**
     * Creates an upload into {@code target}, which must support {@link ImageStore#startUpload}.
     *
     * @param name the layer, for logs
     * @param pushed receives the bytes the target has accepted so far
     */
    EarlyUpload(ImageStore target, String name, LongConsumer pushed) {
        this.target = target;
        this.name = name;
        this.pushed = pushed;
        this.maxPartBytes = Math.min(MAX_PART_BYTES, target.maxUploadPartBytes());
        this.minPartBytes = Math.min(MIN_PART_BYTES, maxPartBytes);
    }

    @Override
    public void opened(Path file) throws IOException {
        channel = FileChannel.open(file, StandardOpenOption.READ);
        sender = Thread.ofPlatform().daemon().name("blob-early-upload").start(this::send);
    }

    @Override
    public synchronized void written(long length) {
        written = length;
        notifyAll();
    }

    /**
     * Marks the blob as complete: the build wrote all of it and checked its source layer. A
     * blob of at least one part is then sent in parts even if the sender has not started yet,
     * so that whether a blob goes in parts depends on its size alone.
     */
    synchronized void complete() {
        complete = true;
        if (written >= minPartBytes) {
            started = true;
        }
        notifyAll();
    }

    /**
     * Stops sending because the build or the conversion failed, and cancels the session: here
     * if the sender has ended, else in the sender when it ends. Does nothing once the blob is
     * committed.
     */
    void abandon() {
        boolean ended;
        synchronized (this) {
            stopped = true;
            ended = senderDone;
            notifyAll();
        }
        BlobUpload session = upload;
        if (ended && session != null) {
            session.cancel();
        }
    }

    /**
     * Waits until the sending thread has ended, at most until {@code deadline} (a
     * {@link System#nanoTime} value), and returns whether it has. After {@link #abandon},
     * the thread ends once its current part is sent and its session cancelled.
     */
    boolean awaitEnd(long deadline) throws InterruptedException {
        if (sender == null) {
            return true;
        }
        long left = deadline - System.nanoTime();
        if (left > 0) {
            sender.join(Duration.ofNanos(left));
        }
        return !sender.isAlive();
    }

    /**
     * Ends the upload of the complete blob, which has {@code digest} and {@code size} bytes:
     * commits the session, or cancels it if the target has the blob already, or pushes the
     * blob from {@code file} if nothing was sent yet or the early upload failed.
     */
    BlobPushResult finish(Digest digest, long size, BlobSource file) throws IOException {
        try {
            return commitOrPush(digest, size, file);
        } finally {
            abandon();
        }
    }

    private BlobPushResult commitOrPush(Digest digest, long size, BlobSource file)
            throws IOException {
        boolean sending;
        synchronized (this) {
            complete = true;
            sending = started;
            notifyAll();
        }
        if (!sending) {
            join();
            return target.pushBlob(digest, size, file);
        }

        if (target.hasBlob(digest)) {
            abandon();
            join();
            LOG.debug("layer {}: blob {} is in {} already, so its upload is cancelled", name,
                    digest, target.describe());
            return BlobPushResult.EXISTED;
        }

        join();
        requireNotStopped(digest);
        Throwable cause = failure;
        BlobUpload session = upload;
        if (cause == null && session.sent() != size) {
            cause = new IOException("sent " + session.sent() + " of the " + size + " bytes of"
                    + " blob " + digest);
        }
        if (cause == null) {
            try {
                session.commit(digest);
                return BlobPushResult.UPLOADED;
            } catch (InterruptedIOException e) {
                session.cancel();
                throw e;
            } catch (IOException | RuntimeException e) {
                cause = e;
            }
        }

        if (session != null) {
            session.cancel();
        }
        LOG.warn("layer {}: sending blob {} to {} while it was built failed, so it is pushed"
                + " again from its file: {}", name, digest, target.describe(),
                cause.getMessage());
        pushed.accept(0);
        return target.pushBlob(digest, size, file);
    }

    private synchronized void requireNotStopped(Digest digest) throws InterruptedIOException {
        if (stopped) {
            throw new InterruptedIOException("the upload of blob " + digest + " of layer "
                    + name + " to " + target.describe() + " was stopped");
        }
    }

    /**
     * Sends parts until the whole blob is sent or {@link #abandon} is called, and cancels the
     * session if it was abandoned or failed. Only this thread uses the session until it ends.
     */
    private void send() {
        Throwable error = null;
        try (FileChannel file = channel) {
            long sent = 0;
            long end;
            while ((end = nextEnd(sent)) > sent) {
                if (upload == null) {
                    upload = target.startUpload().orElseThrow(() -> new IOException(
                            target.describe() + " does not take blobs in parts"));
                    LOG.debug("layer {}: sending its blob to {} while it is built", name,
                            target.describe());
                    // Opening the session took a request, and an abandon during it ends here.
                    if (isStopped()) {
                        break;
                    }
                }
                upload.append(part(file, sent, end), end - sent);
                sent = end;
                pushed.accept(sent);
            }
        } catch (InterruptedException e) {
            error = new InterruptedIOException("interrupted while sending the blob of layer "
                    + name + " to " + target.describe());
        } catch (IOException | RuntimeException | Error e) {
            error = e;
            LOG.info("layer {}: sending its blob to {} while it is built failed, so it is"
                    + " pushed after its build: {}", name, target.describe(), e.getMessage());
        }
        endSender(error);
    }

    /**
     * Records the sender's end, and cancels the session if the upload was abandoned or
     * failed. The decision is made under the lock that {@link #abandon} takes, so exactly one
     * of the two cancels a session that is abandoned while the sender ends.
     */
    private void endSender(Throwable error) {
        boolean cancel;
        synchronized (this) {
            failure = error;
            senderDone = true;
            cancel = stopped || error != null;
        }
        BlobUpload session = upload;
        if (cancel && session != null) {
            session.cancel();
        }
    }

    private synchronized boolean isStopped() {
        return stopped;
    }

    /**
     * Waits for the end of the next part, or returns {@code sent} when there is none: the
     * blob is sent, the upload was abandoned, or the blob is smaller than one part.
     */
    private synchronized long nextEnd(long sent) throws InterruptedException {
        while (!stopped && !complete && written - sent < minPartBytes) {
            wait();
        }
        if (stopped || (complete && !started)) {
            return sent;
        }
        started = true;
        return sent + Math.min(written - sent, maxPartBytes);
    }

    private void join() throws InterruptedIOException {
        try {
            sender.join();
        } catch (InterruptedException e) {
            abandon();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while sending the blob of layer "
                    + name + " to " + target.describe());
        }
    }

    /**
     * Returns bytes {@code start} to {@code end} of {@code file} as a source that can be
     * opened once per attempt of the request that sends them.
     */
    private static BlobSource part(FileChannel file, long start, long end) {
        return () -> new FileSlice(file, start, end);
    }

    /** Bytes {@code start} to {@code end} of a file, read at their positions. */
    private static final class FileSlice extends InputStream {
        private final FileChannel file;
        private final long end;
        private long position;

        FileSlice(FileChannel file, long start, long end) {
            this.file = file;
            this.position = start;
            this.end = end;
        }

        @Override
        public int read() throws IOException {
            byte[] single = new byte[1];
            return read(single, 0, 1) == 1 ? single[0] & 0xff : -1;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (position >= end) {
                return -1;
            }
            int count = (int) Math.min(length, end - position);
            int n = file.read(ByteBuffer.wrap(buffer, offset, count), position);
            if (n > 0) {
                position += n;
            }
            return n;
        }
    }
}
