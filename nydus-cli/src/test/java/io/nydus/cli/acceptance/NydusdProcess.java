package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code nydusd} in a JVM of its own with the test's class path, as acceptance tests run it. */
public final class NydusdProcess {
    private static final long WAIT_MILLIS = 120_000;

    private NydusdProcess() {
    }

    /**
     * Starts nydusd with {@code config} and {@code bootstrap} at {@code mountpoint}, its API on
     * {@code socket}, {@code extra} options after these, and its output appended to
     * {@code log}.
     */
    public static Process start(Path config, Path bootstrap, Path mountpoint, Path socket,
            Path log, String... extra) throws IOException {
        List<String> argv = new ArrayList<>(javaCommand("io.nydus.cli.Nydusd"));
        argv.addAll(List.of("--config", config.toString(), "--bootstrap", bootstrap.toString(),
                "--mountpoint", mountpoint.toString(), "--apisock", socket.toString()));
        argv.addAll(List.of(extra));
        return new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    /** Returns the command that runs {@code mainClass} of the test's class path. */
    public static List<String> javaCommand(String mainClass) {
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC", "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), mainClass);
    }

    /**
     * Waits until the API socket takes connections. The socket file appears when the daemon
     * binds it, a moment before it listens, so its existence alone is not enough.
     */
    public static void awaitSocket(Process daemon, Path socket, Path log) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MILLIS;
        while (!accepts(socket)) {
            assertTrue(daemon.isAlive(), "nydusd exited: " + Files.readString(log));
            assertTrue(System.currentTimeMillis() < deadline, "nydusd opened no API socket");
            Thread.sleep(50);
        }
    }

    private static boolean accepts(Path socket) {
        if (!Files.exists(socket)) {
            return false;
        }
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            return channel.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            return false;
        }
    }
}
