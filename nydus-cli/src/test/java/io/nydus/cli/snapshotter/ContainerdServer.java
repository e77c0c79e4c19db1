package io.nydus.cli.snapshotter;

import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Debian's containerd with a private config, root, state and sockets under a test directory,
 * the snapshotter as proxy plugin {@code nydus} (also the CRI plugin's snapshotter, with
 * snapshot annotations on), and hosts entries that reach the test registries over plain HTTP.
 * Closing it stops containerd and the runc shims it started, by pid.
 */
final class ContainerdServer implements AutoCloseable {
    static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(120);

    private final Path dir;
    private final Process process;

    private ContainerdServer(Path dir, Process process) {
        this.dir = dir;
        this.process = process;
    }

    static ContainerdServer start(Path dir, Path snapshotterSocket,
            List<String> registryAddresses) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        for (String registryAddress : registryAddresses) {
            Path hosts = Files.createDirectories(dir.resolve("certs.d").resolve(
                    registryAddress));
            Files.writeString(hosts.resolve("hosts.toml"), """
                    server = "http://%1$s"
                    [host."http://%1$s"]
                      capabilities = ["pull", "resolve"]
                    """.formatted(registryAddress));
        }
        Files.createDirectories(dir.resolve("cni/bin"));
        Files.createDirectories(dir.resolve("cni/conf"));
        Path config = dir.resolve("config.toml");
        // Snapshots that tests make with ctr hold no lease, so a collection started by the
        // count of changes would remove them. Only the explicit "rm --sync" collections run.
        Files.writeString(config, """
                version = 2
                root = "%1$s/root"
                state = "%1$s/state"
                disabled_plugins = ["io.containerd.internal.v1.opt",
                  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                  "io.containerd.tracing.processor.v1.otlp"]
                [grpc]
                  address = "%1$s/containerd.sock"
                [ttrpc]
                  address = "%1$s/containerd.sock.ttrpc"
                [proxy_plugins]
                  [proxy_plugins.nydus]
                    type = "snapshot"
                    address = "%2$s"
                [plugins."io.containerd.gc.v1.scheduler"]
                  mutation_threshold = 1000000
                [plugins."io.containerd.grpc.v1.cri"]
                  stream_server_address = "127.0.0.1"
                  stream_server_port = "0"
                  [plugins."io.containerd.grpc.v1.cri".containerd]
                    snapshotter = "nydus"
                    disable_snapshot_annotations = false
                  [plugins."io.containerd.grpc.v1.cri".cni]
                    bin_dir = "%1$s/cni/bin"
                    conf_dir = "%1$s/cni/conf"
                  [plugins."io.containerd.grpc.v1.cri".registry]
                    config_path = "%1$s/certs.d"
                """.formatted(dir, snapshotterSocket));
        Process process = new ProcessBuilder("containerd", "--config", config.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("containerd.log").toFile()).start();
        ContainerdServer server = new ContainerdServer(dir, process);
        server.awaitReady();
        return server;
    }

    Path socket() {
        return dir.resolve("containerd.sock");
    }

    Path log() {
        return dir.resolve("containerd.log");
    }

    /** Runs {@code ctr} against this containerd and returns its output; fails on non-zero. */
    String ctr(String... args) throws IOException {
        return output(ctrAllowingFailure(args));
    }

    /**
     * Runs {@code ctr -n NAMESPACE run ARGS} with runc's state and the IO fifos under the test
     * directory, and returns the result; a non-zero exit is the caller's to check.
     */
    CommandResult run(String namespace, String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of("-n", namespace, "run", "--fifo-dir",
                dir.resolve("fifo").toString(), "--runc-root", dir.resolve("runc").toString()));
        argv.addAll(List.of(args));
        return ctrAllowingFailure(argv.toArray(String[]::new));
    }

    /** Runs {@code ctr -n NAMESPACE tasks exec ARGS} with the IO fifos under the test directory. */
    CommandResult exec(String namespace, String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of("-n", namespace, "tasks", "exec",
                "--fifo-dir", dir.resolve("fifo").toString()));
        argv.addAll(List.of(args));
        return ctrAllowingFailure(argv.toArray(String[]::new));
    }

    /** Returns the output of a successful command, or fails with its error output. */
    static String output(CommandResult result) throws IOException {
        if (result.exitCode() != 0) {
            throw new IOException(String.join(" ", result.command()) + " failed with "
                    + result.exitCode() + ": " + result.stderrText());
        }
        return result.stdoutText();
    }

    CommandResult ctrAllowingFailure(String... args) throws IOException {
        return tool("ctr", args);
    }

    CommandResult ctrRemote(String... args) throws IOException {
        return tool("ctr-remote", args);
    }

    private CommandResult tool(String name, String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of(name, "--address", socket().toString()));
        argv.addAll(List.of(args));
        return Commands.runAllowingFailure(argv, COMMAND_TIMEOUT, new byte[0]);
    }

    private void awaitReady() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("containerd exited with " + process.exitValue() + ": "
                        + Files.readString(log()));
            }
            if (Files.exists(socket()) && ctrAllowingFailure("version").exitCode() == 0) {
                return;
            }
            Thread.sleep(100);
        }
        close();
        throw new IOException("containerd did not start within 60 s: " + Files.readString(log()));
    }

    @Override
    public void close() throws IOException {
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        for (ProcessHandle shim : shims()) {
            shim.destroyForcibly();
        }
    }

    /** Returns the runc shims whose command line names this containerd's socket. */
    private List<ProcessHandle> shims() throws IOException {
        String address = socket().toString();
        List<ProcessHandle> result = new ArrayList<>();
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            for (ProcessHandle handle : all.toList()) {
                Path cmdline = Path.of("/proc", Long.toString(handle.pid()), "cmdline");
                try {
                    String text = new String(Files.readAllBytes(cmdline), StandardCharsets.UTF_8);
                    if (text.startsWith("containerd-shim") || text.contains("/containerd-shim")) {
                        if (text.contains(address)) {
                            result.add(handle);
                        }
                    }
                } catch (IOException e) {
                    // The process ended while the list was read.
                }
            }
        }
        return result;
    }
}
