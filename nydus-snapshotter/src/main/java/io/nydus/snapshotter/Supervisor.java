package io.nydus.snapshotter;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.UnixSockets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshotter's side of one nydusd's handover. It keeps the daemon's states and a copy of
 * its {@code /dev/fuse} descriptor, so the FUSE connection outlives the daemon and a successor
 * can take the mount over. The daemon connects to the socket while the supervisor listens.
 */
final class Supervisor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Supervisor.class);
    private static final int MAX_STATES_BYTES = 64 << 20;
    /** Runs the API requests that make a daemon connect, beside the accepting thread. */
    private static final ExecutorService REQUESTS = Executors.newCachedThreadPool(
            Thread.ofPlatform().daemon().name("supervisor-request").factory());

    /** An API request to the daemon, such as the one that makes it send its states. */
    @FunctionalInterface
    interface Request {
        void send() throws IOException;
    }

    /** How often a waiting accept looks whether it should give up. */
    private static final Duration ACCEPT_SLICE = Duration.ofMillis(100);

    private final String daemon;
    private final Path socket;
    private UnixSockets.Message states;
    /** The background send of {@link #serve}, or null when none runs. */
    private CompletableFuture<Void> serving;
    private volatile boolean stopServing;

    Supervisor(String daemon, Path socket) {
        this.daemon = daemon;
        this.socket = socket;
    }

    Path socket() {
        return socket;
    }

    /** Returns whether the supervisor has states and a descriptor to hand to a successor. */
    synchronized boolean hasStates() {
        return states != null;
    }

    /**
     * Listens on the socket, sends {@code request} that makes the daemon connect, and keeps
     * the states and descriptor it sends in place of the earlier ones.
     *
     * @throws IOException naming the daemon and socket if the request fails or the daemon does
     *     not send its states within {@code timeout}; the earlier states are kept then
     */
    synchronized void fetch(Request request, Duration timeout) throws IOException {
        Files.createDirectories(socket.getParent());
        UnixSockets.Message received;
        try (Fd listener = UnixSockets.listen(BytePath.of(socket))) {
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try {
                    request.send();
                } catch (IOException e) {
                    throw new IllegalStateException(e.getMessage(), e);
                }
            }, REQUESTS);
            received = receive(listener, timeout, sent);
        } finally {
            deleteQuietly();
        }
        if (received.descriptors().size() != 1) {
            received.closeDescriptors();
            throw new IOException("nydusd " + daemon + " sent " + received.descriptors().size()
                    + " descriptors to supervisor " + socket + " instead of its FUSE mount's");
        }
        if (states != null) {
            states.closeDescriptors();
        }
        states = received;
        LOG.debug("supervisor {} keeps {} bytes of states of nydusd {}", socket,
                received.data().length, daemon);
    }

    private UnixSockets.Message receive(Fd listener, Duration timeout,
            CompletableFuture<Void> sent) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Optional<Fd> peer = Optional.empty();
        // A failed request, such as one to a daemon without --supervisor, ends the wait.
        while (peer.isEmpty() && System.nanoTime() < deadline
                && !sent.isCompletedExceptionally()) {
            peer = UnixSockets.accept(listener, ACCEPT_SLICE);
        }
        if (peer.isEmpty()) {
            awaitRequest(sent, timeout);
            throw new IOException("nydusd " + daemon + " did not connect to supervisor "
                    + socket + " within " + timeout.toSeconds() + " s");
        }
        UnixSockets.Message message;
        try (Fd connection = peer.get()) {
            message = UnixSockets.receive(connection, MAX_STATES_BYTES, timeout);
        }
        try {
            awaitRequest(sent, timeout);
        } catch (IOException e) {
            message.closeDescriptors();
            throw e;
        }
        return message;
    }

    private void awaitRequest(CompletableFuture<Void> sent, Duration timeout)
            throws IOException {
        try {
            sent.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IOException("nydusd " + daemon + " did not send its states to supervisor "
                    + socket + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("nydusd " + daemon + " did not respond to the request for its"
                    + " states within " + timeout.toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while fetching the states of nydusd " + daemon,
                    e);
        }
    }

    /**
     * Listens on the socket and sends the kept states and descriptor to the first daemon that
     * connects within {@code timeout}, in the background.
     *
     * @throws IllegalStateException if no states were fetched
     */
    synchronized CompletableFuture<Void> serve(Duration timeout) throws IOException {
        if (states == null) {
            throw new IllegalStateException("supervisor " + socket + " has no states of nydusd "
                    + daemon);
        }
        stopServing();
        UnixSockets.Message stored = states;
        Files.createDirectories(socket.getParent());
        Fd listener = UnixSockets.listen(BytePath.of(socket));
        stopServing = false;
        serving = CompletableFuture.runAsync(() -> {
            try (listener; Fd peer = acceptUntil(listener, timeout)) {
                UnixSockets.send(peer, stored.data(), stored.descriptors().getFirst());
                LOG.info("supervisor {} sent the states of nydusd {} to its successor", socket,
                        daemon);
            } catch (IOException e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        }, REQUESTS);
        return serving;
    }

    /** Accepts a peer within {@code timeout}, unless {@link #stopServing()} is called first. */
    private Fd acceptUntil(Fd listener, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!stopServing && System.nanoTime() < deadline) {
            Optional<Fd> peer = UnixSockets.accept(listener, ACCEPT_SLICE);
            if (peer.isPresent()) {
                return peer.get();
            }
        }
        throw new IOException(stopServing ? "supervisor " + socket + " stopped waiting for a"
                + " successor of nydusd " + daemon : "no nydusd connected to supervisor "
                + socket + " within " + timeout.toSeconds() + " s");
    }

    /** Ends a background send of {@link #serve} that waits for a daemon, and waits for it. */
    synchronized void stopServing() {
        if (serving == null) {
            return;
        }
        stopServing = true;
        try {
            serving.get(ACCEPT_SLICE.toMillis() * 20, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            LOG.debug("supervisor {} stopped serving: {}", socket, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        serving = null;
    }

    private void deleteQuietly() {
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.debug("cannot delete supervisor socket {}: {}", socket, e.getMessage());
        }
    }

    /** Closes the kept descriptor, which ends the FUSE connection if no daemon serves it. */
    @Override
    public synchronized void close() {
        stopServing();
        if (states != null) {
            states.closeDescriptors();
            states = null;
        }
    }
}
