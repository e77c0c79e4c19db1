package io.nydus.testkit;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.UnixSockets;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The supervisor's side of a daemon handover, played by a test with the project's own socket
 * calls: it receives a daemon's states with its FUSE descriptor, and sends them to a successor.
 */
public final class SupervisorSockets {
    /** More than the states of the test images. */
    private static final int MAX_STATES_BYTES = 1 << 20;

    private SupervisorSockets() {
    }

    /**
     * Listens on {@code socket} now and, on {@code executor}, receives the states of the first
     * daemon that connects within {@code timeout}.
     */
    public static CompletableFuture<UnixSockets.Message> receiveStates(Path socket,
            Duration timeout, Executor executor) throws IOException {
        Fd listener = UnixSockets.listen(BytePath.of(socket));
        return CompletableFuture.supplyAsync(() -> {
            try (listener; Fd peer = accept(listener, socket, timeout)) {
                return UnixSockets.receive(peer, MAX_STATES_BYTES, timeout);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, executor);
    }

    /**
     * Listens on {@code socket} now and, on {@code executor}, sends {@code handed} with its
     * first descriptor to the first daemon that connects within {@code timeout}.
     */
    public static CompletableFuture<Void> serveStates(Path socket, UnixSockets.Message handed,
            Duration timeout, Executor executor) throws IOException {
        Fd listener = UnixSockets.listen(BytePath.of(socket));
        return CompletableFuture.runAsync(() -> {
            try (listener; Fd peer = accept(listener, socket, timeout)) {
                UnixSockets.send(peer, handed.data(), handed.descriptors().getFirst());
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, executor);
    }

    private static Fd accept(Fd listener, Path socket, Duration timeout) throws IOException {
        return UnixSockets.accept(listener, timeout).orElseThrow(() -> new IOException(
                "no daemon connected to supervisor socket " + socket + " within " + timeout));
    }
}
