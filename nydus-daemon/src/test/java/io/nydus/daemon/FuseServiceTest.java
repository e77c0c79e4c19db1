package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.fuse.FuseConnection;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.UnixSockets;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The handover steps' checks, which refuse a step before any mount is touched. */
class FuseServiceTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TempDir work;
    private Daemon daemon;
    private Path supervisor;

    @BeforeEach
    void create() throws IOException {
        work = TempDirs.create("fuse-service-");
        daemon = new Daemon("test", true, (config, decoded, settings) -> {
            throw new IOException("no data in this test");
        });
        supervisor = work.resolve("supervisor.sock");
    }

    @AfterEach
    void close() throws IOException {
        daemon.close();
        work.close();
    }

    private FuseService service(Path socket) {
        return new FuseService(daemon, work.resolve("mnt"), MountOptions.defaults(), socket,
                FuseService.FailoverPolicy.RESEND);
    }

    @Test
    void sendStatesNeedsSupervisor() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> service(null).sendStates());
        assertTrue(e.getMessage().contains("--supervisor"), e.getMessage());
    }

    @Test
    void sendStatesNeedsRunningMount() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> service(supervisor).sendStates());
        assertTrue(e.getMessage().contains("INIT"), e.getMessage());
    }

    @Test
    void startNeedsTakeover() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> service(supervisor).start());
        assertTrue(e.getMessage().contains("after a takeover"), e.getMessage());
    }

    @Test
    void takeoverNamesAbsentSupervisor() {
        IOException e = assertThrows(IOException.class, () -> service(supervisor).takeover());
        assertTrue(e.getMessage().contains(supervisor.toString()), e.getMessage());
        assertEquals(Daemon.State.INIT, daemon.state());
    }

    @Test
    void takeoverOfAnotherDeviceIsRefused() throws Exception {
        DaemonStates states = new DaemonStates(work.resolve("mnt"), true,
                new FuseConnection(7, 38, 1 << 20, 1 << 20), List.of(), 1);

        IllegalStateException e = takeoverFails(states, "/dev/null");

        assertTrue(e.getMessage().contains("not of /dev/fuse"), e.getMessage());
        assertEquals(Daemon.State.INIT, daemon.state());
    }

    @Test
    void takeoverOfAnotherMountpointIsRefused() throws Exception {
        DaemonStates states = new DaemonStates(work.resolve("other"), true,
                new FuseConnection(7, 38, 1 << 20, 1 << 20), List.of(), 1);

        IllegalStateException e = takeoverFails(states, "/dev/fuse");

        assertTrue(e.getMessage().contains(work.resolve("other").toString()), e.getMessage());
        assertEquals(Daemon.State.INIT, daemon.state());
        assertTrue(daemon.mounts().isEmpty());
    }

    /** Plays a supervisor that sends {@code states} with a descriptor of {@code device}. */
    private IllegalStateException takeoverFails(DaemonStates states, String device)
            throws Exception {
        try (Fd listener = UnixSockets.listen(BytePath.of(supervisor));
                Fd descriptor = Posix.open(BytePath.of(device),
                        OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC)) {
            CompletableFuture<Void> served = CompletableFuture.runAsync(() -> {
                try (Fd peer = UnixSockets.accept(listener, Duration.ofSeconds(30))
                        .orElseThrow()) {
                    UnixSockets.send(peer, states.toBytes(), descriptor);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> service(supervisor).takeover());
            served.get(30, TimeUnit.SECONDS);
            return e;
        }
    }
}
