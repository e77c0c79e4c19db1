package io.nydus.registry;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upload sessions that this JVM is using. When the JVM stops while a push is under way
 * (SIGTERM, Ctrl-C), a shutdown hook cancels the sessions still in use, each with one DELETE,
 * so that the registry does not keep their data until it purges old sessions. A request in
 * flight would write its data into the session after the DELETE, so the hook lets it end
 * first. It waits a few seconds at most, because a registry that does not respond must not
 * hold up the stop. A session that a failed request left behind is no longer in use and is
 * not cancelled here.
 */
final class UploadSessions {
    private static final Logger LOG = LoggerFactory.getLogger(UploadSessions.class);
    private static final Duration EXIT_WAIT = Duration.ofSeconds(5);
    /** How long the hook waits for requests in flight, which leaves time for the DELETEs. */
    private static final Duration REQUEST_WAIT = Duration.ofSeconds(4);
    private static final Set<Session> IN_USE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(
                new Thread(UploadSessions::cancelInUse, "cancel-upload-sessions"));
    }

    private UploadSessions() {
    }

    /**
     * Sends {@code post}, a POST that may open an upload session, and returns the session it
     * opened, in use until it closes. The session counts as in use from the start of the POST,
     * so that a JVM stopping while the POST is in flight still cancels what it opens.
     *
     * @param post returns the session's location, or null if the registry opened none
     */
    static Optional<Session> open(BlobUploader uploader, RequestTarget target,
            Repository repository, Request post) throws IOException {
        Session session = new Session(uploader, target, repository);
        IN_USE.add(session);
        boolean opened = false;
        try {
            session.send(post);
            opened = session.location != null;
            return opened ? Optional.of(session) : Optional.empty();
        } finally {
            if (!opened) {
                session.close();
            }
        }
    }

    /** Returns how many sessions are in use, for tests. */
    static int inUse() {
        return IN_USE.size();
    }

    private static void cancelInUse() {
        List<Session> sessions = List.copyOf(IN_USE);
        if (sessions.isEmpty()) {
            return;
        }
        LOG.info("stopping while {} blob uploads run: cancelling their upload sessions",
                sessions.size());
        long started = System.nanoTime();
        List<Thread> cancels = new ArrayList<>();
        for (Session session : sessions) {
            cancels.add(Thread.ofPlatform().daemon().name("cancel-upload").start(
                    () -> session.cancelAfterRequest(started + REQUEST_WAIT.toNanos())));
        }
        long deadline = started + EXIT_WAIT.toNanos();
        try {
            for (Thread cancel : cancels) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !cancel.join(Duration.ofNanos(left))) {
                    LOG.warn("stopping without waiting longer than {} s for the cancels of"
                            + " upload sessions", EXIT_WAIT.toSeconds());
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A request of an upload session, sent to its current location. */
    @FunctionalInterface
    interface Request {
        /**
         * Sends the request to {@code location}, which is null for the POST that opens the
         * session, and returns the session's next location.
         */
        String send(String location) throws IOException;
    }

    /**
     * An upload session, from the POST that opened it until its user ends it or stops using
     * it. Each PATCH moves it to the location the registry names for the next request.
     */
    static final class Session implements AutoCloseable {
        private final BlobUploader uploader;
        private final RequestTarget target;
        private final Repository repository;
        private volatile String location;
        private boolean cancelled;
        private int requestsInFlight;

        private Session(BlobUploader uploader, RequestTarget target, Repository repository) {
            this.uploader = uploader;
            this.target = target;
            this.repository = repository;
        }

        /**
         * Sends {@code request} to the session's location and moves the session to the
         * location it returns.
         *
         * @throws RegistryException if the session was cancelled
         */
        void send(Request request) throws IOException {
            synchronized (this) {
                if (cancelled) {
                    throw new RegistryException(target, "the upload session of "
                            + target.describe() + " was cancelled", null);
                }
                requestsInFlight++;
            }
            try {
                location = request.send(location);
            } finally {
                synchronized (this) {
                    requestsInFlight--;
                    notifyAll();
                }
            }
        }

        /**
         * Cancels the session once its request in flight has ended, or at {@code deadline} (a
         * {@link System#nanoTime} value) if it has not.
         */
        void cancelAfterRequest(long deadline) {
            synchronized (this) {
                long left;
                while (requestsInFlight > 0 && (left = deadline - System.nanoTime()) > 0) {
                    try {
                        wait(Math.max(1, left / 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
            cancel();
        }

        /**
         * Ends the session without storing anything and makes later requests of it fail.
         * Does nothing after the first call.
         */
        void cancel() {
            synchronized (this) {
                if (cancelled) {
                    return;
                }
                cancelled = true;
            }
            // Without a location the POST is still in flight or failed, so nothing is open.
            if (location != null) {
                uploader.cancelSession(target, repository, location);
            }
            close();
        }

        /** Stops tracking the session: it was committed, cancelled or left after a failure. */
        @Override
        public void close() {
            IN_USE.remove(this);
        }
    }
}
