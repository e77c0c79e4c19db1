package io.nydus.registry;

import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An upload session for a blob whose digest is known only after its last byte: the data goes
 * to the registry in parts with {@link #append} while it is produced, and {@link #commit}
 * names the digest at the end. A part whose token the registry rejected with 401 goes again
 * with a new token if it can be reopened, because the registry stored none of its bytes. A
 * part that failed otherwise is not sent again, because the session's state is then unknown,
 * so the caller cancels the session and uploads the blob anew. The methods may be called from
 * several threads. A cancel never waits for another request of the session,
 * and does nothing after a commit or another cancel.
 */
public final class BlobUpload {

    private final BlobUploader uploader;
    private final Repository repository;
    private final RequestTarget target;
    private final AtomicBoolean ended = new AtomicBoolean();
    private final UploadSessions.Session session;
    private long sent;

    BlobUpload(BlobUploader uploader, Repository repository, RequestTarget target,
            UploadSessions.Session session) {
        this.uploader = uploader;
        this.repository = repository;
        this.target = target;
        this.session = session;
    }

    /** Returns the repository the blob goes to. */
    public Repository repository() {
        return repository;
    }

    /** Returns the number of bytes the registry has accepted so far. */
    public synchronized long sent() {
        return sent;
    }

    /**
     * Sends the next {@code length} bytes of {@code data} with one PATCH request and leaves
     * {@code data} open. The request cannot go again if the registry rejects its token, because
     * {@code data} is read once; {@link #append(BlobSource, long)} can send it again.
     *
     * @throws RegistryException if the registry rejects them or {@code data} ends early
     */
    public synchronized void append(InputStream data, long length) throws IOException {
        append(BlobSource.once(PartBody.leavingOpen(data)), length);
    }

    /**
     * Sends {@code part}, whose streams have {@code length} bytes, with one PATCH request. If
     * the registry rejects the token of the request, such as one that expired before the time
     * its token service gave, the request goes once more with a new token and {@code part}
     * opened again, if it can be.
     *
     * @throws RegistryException if the registry rejects the bytes or {@code part} ends early
     */
    public synchronized void append(BlobSource part, long length) throws IOException {
        requireOpen();
        if (length <= 0) {
            throw new IllegalArgumentException("part of " + length + " bytes for "
                    + target.describe());
        }
        session.send(location -> uploader.patch(target, repository, location, sent, length,
                part, -1));
        sent += length;
    }

    /**
     * Ends the session with a PUT that names the blob's digest; the registry stores the blob
     * if the bytes sent have that digest.
     */
    public synchronized void commit(Digest digest) throws IOException {
        requireOpen();
        session.commit(location -> {
            uploader.closeSession(RequestTarget.blob(repository, digest), repository, digest,
                    sent, location);
            return location;
        });
        // After a failed PUT the session stays open, so that cancel still ends it.
        ended.set(true);
    }

    /** Ends the session without storing anything; does nothing once the session ended. */
    public void cancel() {
        if (ended.compareAndSet(false, true)) {
            session.cancel();
        }
    }

    private void requireOpen() {
        if (ended.get()) {
            throw new IllegalStateException("the upload session of " + target.describe()
                    + " has ended");
        }
    }
}
