package io.nydus.registry;

import java.io.IOException;
import java.io.InterruptedIOException;
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
 * hold up the stop. Once the hook has started, a thread that opens a session or starts a
 * request waits until the JVM halts. So no new session opens, and the command does not fail
 * and close its client before the DELETEs are sent. A session that a failed request left
 * behind is no longer in use and is not cancelled here.
 */
final class UploadSessions {
    private static final Logger LOG = LoggerFactory.getLogger(UploadSessions.class);
    private static final Duration EXIT_WAIT = Duration.ofSeconds(5);
    /** How long the hook waits for requests in flight, which leaves time for the DELETEs. */
    private static final Duration REQUEST_WAIT = Duration.ofSeconds(4);
    private static final Set<Session> IN_USE = ConcurrentHashMap.newKeySet();
    private static volatile boolean stopping;

    static {
        try {
            Runtime.getRuntime().addShutdownHook(
                    new Thread(UploadSessions::cancelInUse, "cancel-upload-sessions"));
        } catch (IllegalStateException e) {
            // First used while the JVM stops: no hook can be added, and none is needed
            // because open() waits for the halt from now on.
            stopping = true;
        }
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
        // Checked after the add, so the hook either finds this session or it waits here.
        if (stopping) {
            session.close();
            awaitHalt(target);
        }
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

    /** Returns whether the JVM is stopping and the sessions in use are being cancelled. */
    static boolean isStopping() {
        return stopping;
    }

    /** Blocks until the JVM halts, or throws if the thread is interrupted first. */
    private static void awaitHalt(RequestTarget target) throws InterruptedIOException {
        Object never = new Object();
        synchronized (never) {
            try {
                while (true) {
                    never.wait();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while the JVM stops, before a"
                        + " request to " + target.describe());
            }
        }
    }

    /** Returns how many sessions are in use, for tests. */
    static int inUse() {
        return IN_USE.size();
    }

    private static void cancelInUse() {
        stopping = true;
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
        List<String> pending = new ArrayList<>();
        try {
            for (int i = 0; i < cancels.size(); i++) {
                long left = Math.max(1, deadline - System.nanoTime());
                if (!cancels.get(i).join(Duration.ofNanos(left))) {
                    pending.add(sessions.get(i).describe());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!pending.isEmpty()) {
            LOG.warn("stopping without waiting longer than {} s for the cancels of {} upload"
                    + " sessions, which their registries keep until they purge old sessions:"
                    + " {}", EXIT_WAIT.toSeconds(), pending.size(), pending);
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
        private String location;
        private int requestsInFlight;
        /** Set once no request may start: the session was committed or is being cancelled. */
        private boolean ended;
        private boolean committed;
        private boolean deleted;

        private Session(BlobUploader uploader, RequestTarget target, Repository repository) {
            this.uploader = uploader;
            this.target = target;
            this.repository = repository;
        }

        /**
         * Sends {@code request} to the session's location and moves the session to the
         * location it returns.
         *
         * @throws RegistryException if the session was cancelled or committed
         */
        void send(Request request) throws IOException {
            String at = begin();
            String next = null;
            try {
                next = request.send(at);
            } finally {
                end(next, false);
            }
        }

        /**
         * Sends {@code request}, the PUT that commits the session, and ends the session if it
         * succeeds, so that a JVM stopping meanwhile does not cancel what it stored.
         */
        void commit(Request request) throws IOException {
            String at = begin();
            boolean stored = false;
            try {
                request.send(at);
                stored = true;
            } finally {
                end(null, stored);
            }
            close();
        }

        private String begin() throws IOException {
            if (stopping) {
                awaitHalt(target);
            }
            synchronized (this) {
                return beginUnlessEnded();
            }
        }

        private String beginUnlessEnded() throws RegistryException {
            if (ended) {
                throw new RegistryException(target, "the upload session of "
                        + target.describe() + " has ended", null);
            }
            requestsInFlight++;
            return location;
        }

        private synchronized void end(String next, boolean stored) {
            if (next != null) {
                location = next;
            }
            if (stored) {
                committed = true;
                ended = true;
            }
            requestsInFlight--;
            notifyAll();
        }

        /**
         * Cancels the session once its request in flight has ended, or at {@code deadline} (a
         * {@link System#nanoTime} value) if it has not. No new request starts meanwhile.
         */
        void cancelAfterRequest(long deadline) {
            String at;
            synchronized (this) {
                ended = true;
                long left;
                while (requestsInFlight > 0 && (left = deadline - System.nanoTime()) > 0) {
                    try {
                        wait(Math.max(1, left / 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
                at = takeDelete();
            }
            delete(at);
        }

        /**
         * Ends the session without storing anything and makes later requests of it fail.
         * Does nothing once the session is committed or cancelled.
         */
        void cancel() {
            String at;
            synchronized (this) {
                ended = true;
                at = takeDelete();
            }
            delete(at);
        }

        /**
         * Returns the location to send the session's one DELETE to, or null if there is
         * nothing to delete: the session is committed or deleted, or its POST is still in
         * flight or failed.
         */
        private String takeDelete() {
            if (committed || deleted) {
                return null;
            }
            deleted = true;
            return location;
        }

        private void delete(String at) {
            if (at != null) {
                uploader.cancelSession(target, repository, at);
            }
            close();
        }

        /** Returns the session's blob and upload location without its query, for logs. */
        synchronized String describe() {
            String path = location == null ? "(not opened yet)" : location.split("\\?", 2)[0];
            return target.describe() + " at " + path;
        }

        /** Stops tracking the session: it was committed, cancelled or left after a failure. */
        @Override
        public void close() {
            IN_USE.remove(this);
        }
    }
}
