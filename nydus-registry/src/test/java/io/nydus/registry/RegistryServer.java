package io.nydus.registry;

import io.nydus.testkit.TempDir;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Debian {@code docker-registry} process listening on 127.0.0.1 with filesystem storage in
 * a temporary directory. Closing it stops the process.
 */
public final class RegistryServer implements AutoCloseable {

    private static final long START_TIMEOUT_MILLIS = 20_000;

    private static final int BIND_ATTEMPTS = 5;

    private static final Pattern ACCESS_LINE = Pattern.compile(
            "^\\S+ \\S+ \\S+ \\[[^]]*] \"(\\S+) (\\S+) [^\"]*\" (\\d{3}) (\\d+|-)");

    /**
     * One request in the registry's access log.
     *
     * @param method the HTTP method
     * @param path the request path with its query
     * @param status the response status
     * @param bytes the response body bytes the registry sent
     */
    public record AccessLogEntry(String method, String path, int status, long bytes) {
    }

    private final Path configFile;
    private final int port;
    private final Path storage;
    private final Path log;
    private Process process;

    private RegistryServer(Process process, Path configFile, int port, Path storage, Path log) {
        this.process = process;
        this.configFile = configFile;
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
        return start(dir, httpExtra, authSection, false);
    }

    /** Starts an HTTPS registry without authentication that serves {@code certificate}. */
    public static RegistryServer startWithTls(TempDir dir, Path certificate, Path key)
            throws IOException, InterruptedException {
        return start(dir, """
                  tls:
                    certificate: %s
                    key: %s
                """.formatted(certificate, key), "");
    }

    /**
     * Starts a plain HTTP registry without authentication that writes an access log, which
     * {@link #accessLog()} reads.
     */
    public static RegistryServer startWithAccessLog(TempDir dir)
            throws IOException, InterruptedException {
        return start(dir, "", "", true);
    }

    private static RegistryServer start(TempDir dir, String httpExtra, String authSection,
            boolean accessLog) throws IOException, InterruptedException {
        // freePort() closes its socket before the registry binds the port, so another process
        // can take the port in between. The registry then exits, and a new port is tried.
        for (int attempt = 1; ; attempt++) {
            try {
                return startOnPort(dir, httpExtra, authSection, accessLog, freePort());
            } catch (PortTakenException e) {
                if (attempt == BIND_ATTEMPTS) {
                    throw new IOException("docker-registry found its port taken " + attempt
                            + " times in a row", e);
                }
            }
        }
    }

    private static RegistryServer startOnPort(TempDir dir, String httpExtra, String authSection,
            boolean accessLog, int port) throws IOException, InterruptedException {
        Path storage = dir.resolve("storage");
        Files.createDirectories(storage);
        String config = """
                version: 0.1
                log:
                  level: warn
                  accesslog:
                    disabled: %s
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
                """.formatted(!accessLog, storage, port, httpExtra, authSection);
        Path configFile = dir.resolve("config.yml");
        Files.writeString(configFile, config, StandardCharsets.UTF_8);
        Path log = dir.resolve("registry.log");
        Files.deleteIfExists(log);
        RegistryServer server = new RegistryServer(launch(configFile, log), configFile, port,
                storage, log);
        server.awaitListening();
        return server;
    }

    private static Process launch(Path configFile, Path log) throws IOException {
        return new ProcessBuilder(List.of("docker-registry", "serve", configFile.toString()))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(
                        log.toFile())).start();
    }

    /** Stops the registry process; {@link #restart()} starts it again on the same port. */
    public void stop() {
        close();
    }

    /** Starts the registry again after {@link #stop()}, with the same port and storage. */
    public void restart() throws IOException, InterruptedException {
        if (process.isAlive()) {
            throw new IllegalStateException("the registry on port " + port + " is running");
        }
        process = launch(configFile, log);
        awaitListening();
    }

    /**
     * Returns the requests in the access log, in order, once every response sent before this
     * call is logged. The registry logs a request just after sending its response, so this
     * sends a marker request and waits until the marker is in the log. Only registries started
     * with {@link #startWithAccessLog} write one.
     */
    public List<AccessLogEntry> accessLog() throws IOException, InterruptedException {
        String marker = "/v2/?access-log-marker=" + UUID.randomUUID();
        HttpURLConnection connection = (HttpURLConnection) URI.create("http://" + address()
                + marker).toURL().openConnection();
        connection.getResponseCode();
        connection.disconnect();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            List<AccessLogEntry> entries = readAccessLog();
            for (int i = 0; i < entries.size(); i++) {
                if (entries.get(i).path().equals(marker)) {
                    List<AccessLogEntry> before = new ArrayList<>(entries.subList(0, i));
                    before.removeIf(e -> e.path().contains("access-log-marker="));
                    return before;
                }
            }
            Thread.sleep(20);
        }
        throw new IOException("the marker request " + marker + " did not reach the access log"
                + " of the registry on port " + port + " within 10 s");
    }

    private List<AccessLogEntry> readAccessLog() throws IOException {
        List<AccessLogEntry> entries = new ArrayList<>();
        for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
            Matcher m = ACCESS_LINE.matcher(line);
            if (m.find()) {
                entries.add(new AccessLogEntry(m.group(1), m.group(2),
                        Integer.parseInt(m.group(3)),
                        m.group(4).equals("-") ? 0 : Long.parseLong(m.group(4))));
            }
        }
        return entries;
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

    /**
     * Returns the upload sessions of {@code repository} that are neither committed nor
     * cancelled, as the registry's directories of them. A cancelled session keeps its
     * directory for a while, but without its {@code data} file.
     */
    public List<Path> openUploads(String repository) throws IOException {
        Path uploads = storage.resolve("docker/registry/v2/repositories").resolve(repository)
                .resolve("_uploads");
        if (!Files.isDirectory(uploads)) {
            return List.of();
        }
        try (Stream<Path> sessions = Files.list(uploads)) {
            return sessions.filter(session -> Files.exists(session.resolve("data"))).sorted()
                    .toList();
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
                String output = Files.readString(log);
                if (output.contains("address already in use")) {
                    throw new PortTakenException(port);
                }
                throw new IOException("docker-registry exited with " + process.exitValue()
                        + ": " + output);
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

    /** The registry exited because another process listens on its port. */
    private static final class PortTakenException extends IOException {
        PortTakenException(int port) {
            super("port " + port + " is taken");
        }
    }
}
