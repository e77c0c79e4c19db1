package io.nydus.cli.snapshotter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The snapshotter CLI ({@code containerd-nydus-grpc}) in a JVM of its own, started from the
 * test class path, so that tests can stop it with SIGTERM or SIGKILL.
 */
final class SnapshotterProcess implements AutoCloseable {

    private final Path config;
    private final Path socket;
    private final Path log;
    private final List<String> launcher;
    private Process process;

    /**
     * @param launcher a command that executes the JVM's command line in place (keeping its
     *     pid), such as {@code nsenter --net=FILE}, or an empty list
     */
    SnapshotterProcess(Path config, Path socket, Path log, List<String> launcher) {
        this.config = config;
        this.socket = socket;
        this.log = log;
        this.launcher = List.copyOf(launcher);
    }

    /** Starts the JVM and waits until the socket accepts connections. */
    void start() throws IOException, InterruptedException {
        start(List.of());
    }

    /**
     * Starts the JVM with {@code arguments} after {@code --config FILE} and waits until the
     * socket accepts connections.
     */
    void start(List<String> arguments) throws IOException, InterruptedException {
        Files.deleteIfExists(socket);
        List<String> command = new ArrayList<>(launcher);
        command.addAll(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx512m", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"),
                io.nydus.cli.Snapshotter.class.getName(), "--config", config.toString()));
        command.addAll(arguments);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        // No credentials from the user's Docker config: tests give them in requests only.
        builder.environment().put("DOCKER_CONFIG", log.getParent().resolve("docker")
                .toString());
        builder.environment().remove("NYDUS_REGISTRY_USERNAME");
        builder.environment().remove("NYDUS_REGISTRY_PASSWORD");
        process = builder.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("snapshotter exited with " + process.exitValue() + ": "
                        + Files.readString(log));
            }
            if (Files.exists(socket)) {
                return;
            }
            Thread.sleep(50);
        }
        process.destroyForcibly();
        throw new IOException("snapshotter did not listen on " + socket + " within 60 s: "
                + Files.readString(log));
    }

    /** Stops the JVM with SIGTERM and waits for it. */
    int terminate() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
        return process.exitValue();
    }

    /** Kills the JVM with SIGKILL, so that nothing of its shutdown runs. */
    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor();
    }

    /** Returns the pid of the JVM. */
    long pid() {
        return process.pid();
    }

    String log() throws IOException {
        return Files.readString(log);
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
