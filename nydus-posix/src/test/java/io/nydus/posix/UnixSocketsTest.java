package io.nydus.posix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class UnixSocketsTest {

    private static final int CREATE = OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_EXCL
            | OpenFlags.O_CLOEXEC;

    private ScratchDirectory scratch;

    @BeforeEach
    void createScratch() throws IOException {
        scratch = ScratchDirectory.create();
    }

    @AfterEach
    void deleteScratch() throws IOException {
        scratch.close();
    }

    @Test
    void staleSocketIsDeleted() throws IOException {
        BytePath socketPath = scratch.resolve("stale.sock");
        UnixSockets.listen(socketPath).close();

        UnixSockets.deleteStale(socketPath.toPath(), "test socket");

        assertFalse(Files.exists(socketPath.toPath(), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void regularFileAtSocketPathIsKept() throws IOException {
        Path file = scratch.resolve("notes").toPath();
        Files.writeString(file, "notes");

        IOException e = assertThrows(IOException.class,
                () -> UnixSockets.deleteStale(file, "test socket"));

        assertEquals("cannot listen on test socket " + file + ": the path exists and is not a"
                + " socket; remove it or give another path", e.getMessage());
        assertEquals("notes", Files.readString(file));
    }

    @Test
    void descriptorArrivesWithAllBytes() throws Exception {
        BytePath socketPath = scratch.resolve("s.sock");
        byte[] data = new byte[300_000];
        new Random(7).nextBytes(data);
        try (Fd listener = UnixSockets.listen(socketPath);
                Fd file = Posix.open(scratch.resolve("shared"), CREATE, 0600)) {
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try (Fd socket = UnixSockets.connect(socketPath)) {
                    UnixSockets.send(socket, data, file);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            UnixSockets.Message message;
            try (Fd peer = UnixSockets.accept(listener, Duration.ofSeconds(10)).orElseThrow()) {
                message = UnixSockets.receive(peer, 1 << 20, Duration.ofSeconds(10));
            }
            sent.get();
            assertArrayEquals(data, message.data());
            assertEquals(1, message.descriptors().size());
            try (Fd received = message.descriptors().getFirst()) {
                byte[] text = "through the passed descriptor".getBytes(StandardCharsets.UTF_8);
                received.writeAll(text);
                byte[] back = new byte[text.length];
                assertEquals(text.length, file.pread(back, 0, back.length, 0));
                assertArrayEquals(text, back);
            }
        }
    }

    @Test
    void acceptReturnsEmptyWhenNobodyConnects() throws IOException {
        try (Fd listener = UnixSockets.listen(scratch.resolve("idle.sock"))) {
            Optional<Fd> peer = UnixSockets.accept(listener, Duration.ofMillis(50));
            assertTrue(peer.isEmpty());
        }
    }

    @Test
    void listenReplacesSocketLeftBehind() throws IOException {
        BytePath socketPath = scratch.resolve("again.sock");
        UnixSockets.listen(socketPath).close();
        try (Fd listener = UnixSockets.listen(socketPath)) {
            assertTrue(Posix.lstat(socketPath).type() == FileType.SOCKET);
        }
    }

    @Test
    void oversizedMessageIsRejected() throws Exception {
        BytePath socketPath = scratch.resolve("big.sock");
        try (Fd listener = UnixSockets.listen(socketPath);
                Fd file = Posix.open(scratch.resolve("f"), CREATE, 0600)) {
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try (Fd socket = UnixSockets.connect(socketPath)) {
                    UnixSockets.send(socket, new byte[4096], file);
                } catch (IOException e) {
                    // The receiver may close first.
                }
            });
            try (Fd peer = UnixSockets.accept(listener, Duration.ofSeconds(10)).orElseThrow()) {
                PosixException e = assertThrows(PosixException.class,
                        () -> UnixSockets.receive(peer, 1000, Duration.ofSeconds(10)));
                assertTrue(e.getMessage().contains("more than 1000 bytes"), e.getMessage());
                assertTrue(e.getMessage().contains("big.sock"), e.getMessage());
            }
            sent.get();
        }
    }

    @Test
    void receiveTimesOutOnOpenPeer() throws Exception {
        BytePath socketPath = scratch.resolve("slow.sock");
        try (Fd listener = UnixSockets.listen(socketPath);
                Fd client = UnixSockets.connect(socketPath);
                Fd peer = UnixSockets.accept(listener, Duration.ofSeconds(10)).orElseThrow()) {
            client.writeAll(new byte[] {1, 2, 3});
            PosixException e = assertThrows(PosixException.class,
                    () -> UnixSockets.receive(peer, 1000, Duration.ofMillis(200)));
            assertEquals(Errno.ETIMEDOUT, e.errno());
            assertTrue(e.getMessage().contains("slow.sock"), e.getMessage());
        }
    }

    @Test
    void connectNamesMissingSocket() {
        BytePath missing = scratch.resolve("missing.sock");
        PosixException e = assertThrows(PosixException.class, () -> UnixSockets.connect(missing));
        assertTrue(e.getMessage().contains("missing.sock"), e.getMessage());
    }

    @Test
    void overlongPathIsRejectedByName() {
        BytePath path = scratch.resolve("x".repeat(120));
        PosixException e = assertThrows(PosixException.class, () -> UnixSockets.listen(path));
        assertEquals(Errno.ENAMETOOLONG, e.errno());
    }
}
