package io.nydus.registry;

import io.nydus.testkit.TempDir;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A Debian {@code docker-registry} process listening on 127.0.0.1 with filesystem storage in
 * a temporary directory. Closing it stops the process.
 */
public final class RegistryServer implements AutoCloseable {

    private static final long START_TIMEOUT_MILLIS = 20_000;

    private final Process process;
    private final int port;
    private final Path storage;
    private final Path log;

    private RegistryServer(Process process, int port, Path storage, Path log) {
        this.process = process;
        this.port = port;
        this.storage = storage;
        this.log = log;
    }

    /**
     * Starts a registry in {@code dir}.
     *
     * @param httpExtra YAML lines indented by two spaces that go into the {@code http:}
     *     section, such as a {@code tls:} block, or an empty string
     * @param authSection a top-level {@code auth:} section, or an empty string
     */
    public static RegistryServer start(TempDir dir, String httpExtra, String authSection)
            throws IOException, InterruptedException {
        int port = freePort();
        Path storage = dir.resolve("storage");
        Files.createDirectories(storage);
        String config = """
                version: 0.1
                log:
                  level: warn
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: %s
                  delete:
                    enabled: true
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:%d
                  relativeurls: true
                %s
                %s
                """.formatted(storage, port, httpExtra, authSection);
        Path configFile = dir.resolve("config.yml");
        Files.writeString(configFile, config, StandardCharsets.UTF_8);
        Path log = dir.resolve("registry.log");
        Process process = new ProcessBuilder(List.of("docker-registry", "serve",
                configFile.toString())).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        RegistryServer server = new RegistryServer(process, port, storage, log);
        server.awaitListening();
        return server;
    }

    /** Starts a plain HTTP registry without authentication in {@code dir}. */
    public static RegistryServer start(TempDir dir) throws IOException, InterruptedException {
        return start(dir, "", "");
    }

    /**
     * Returns the data files of every blob the registry stores, sorted, so that a test can
     * tell whether an operation uploaded anything.
     */
    public List<Path> storedBlobFiles() throws IOException {
        Path blobs = storage.resolve("docker/registry/v2/blobs");
        if (!Files.isDirectory(blobs)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(blobs)) {
            return files.filter(file -> file.getFileName().toString().equals("data"))
                    .sorted().toList();
        }
    }

    /** Returns {@code 127.0.0.1:PORT}, the registry part of references. */
    public String address() {
        return "127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    public Repository repository(String name) {
        return new Repository(address(), name);
    }

    /** Returns the file in which the registry stores the data of {@code digest}. */
    public Path blobFile(Digest digest) {
        return storage.resolve("docker/registry/v2/blobs/sha256")
                .resolve(digest.hex().substring(0, 2)).resolve(digest.hex()).resolve("data");
    }

    public static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1,
                java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private void awaitListening() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MILLIS);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("docker-registry exited with " + process.exitValue()
                        + ": " + Files.readString(log));
            }
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        close();
        throw new IOException("docker-registry did not listen on port " + port + " within "
                + START_TIMEOUT_MILLIS + " ms: " + Files.readString(log));
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
