package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A Docker credential helper program, {@code docker-credential-NAME}, as named by the
 * {@code credsStore} and {@code credHelpers} fields of a Docker config file. {@code get}
 * reads a server address on standard input and writes
 * {@code {"ServerURL": ..., "Username": ..., "Secret": ...}} on standard output, or exits
 * non-zero with {@value #NOT_FOUND} when it stores nothing for that server.
 */
final class CredentialHelper {

    /** The output of a helper that has no credentials for the server. */
    static final String NOT_FOUND = "credentials not found in native keychain";
    /** The user name with which a helper returns an identity token as the secret. */
    static final String IDENTITY_TOKEN_USER = "<token>";
    private static final String PREFIX = "docker-credential-";
    /** Some helpers ask an agent or a cloud service, so they get time, but not forever. */
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int MAX_OUTPUT_BYTES = 1 << 20;
    private static final int MAX_SHOWN_CHARS = 300;

    private final String name;
    private final List<Path> searchPath;

    private CredentialHelper(String name, List<Path> searchPath) {
        this.name = name;
        this.searchPath = searchPath;
    }

    /**
     * Returns the helper {@code name} found on the {@code PATH} of {@code environment}.
     *
     * @throws IllegalArgumentException if the name is empty or contains a path separator
     */
    static CredentialHelper of(String name, Map<String, String> environment) {
        if (name.isEmpty() || name.contains("/")) {
            throw new IllegalArgumentException("invalid credential helper name '" + name
                    + "': expected the NAME of a docker-credential-NAME program");
        }
        List<Path> directories = new ArrayList<>();
        for (String entry : environment.getOrDefault("PATH", "").split(":")) {
            directories.add(Path.of(entry.isEmpty() ? "." : entry));
        }
        return new CredentialHelper(name, List.copyOf(directories));
    }

    /** Returns the program name, {@code docker-credential-NAME}. */
    String program() {
        return PREFIX + name;
    }

    /**
     * Runs {@code get} for {@code serverAddress}.
     *
     * @return the credentials, or empty if the helper stores none for the server
     * @throws IOException naming the program and the server if it is not on the search path,
     *     fails, times out or writes something other than credentials
     */
    Optional<Credentials> get(String serverAddress) throws IOException {
        Path executable = find().orElseThrow(() -> new IOException("credential helper "
                + program() + " for " + serverAddress + " is not on PATH (" + searchPath
                + "); install it or remove it from the Docker config file"));
        Process process = new ProcessBuilder(executable.toString(), "get")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        CompletableFuture<byte[]> output = readAsync(process.getInputStream());
        try (OutputStream stdin = process.getOutputStream()) {
            stdin.write(serverAddress.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // A helper may exit before it reads its input, and its exit code reports why.
        }
        byte[] stdout = await(process, output, serverAddress);
        String text = new String(stdout, StandardCharsets.UTF_8).strip();
        if (process.exitValue() != 0) {
            if (text.equals(NOT_FOUND)) {
                return Optional.empty();
            }
            throw new IOException("credential helper " + program() + " failed for "
                    + serverAddress + " with exit code " + process.exitValue() + ": "
                    + shown(text));
        }
        return parse(stdout, serverAddress);
    }

    private Optional<Path> find() {
        for (Path directory : searchPath) {
            Path candidate = directory.resolve(program());
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    private static CompletableFuture<byte[]> readAsync(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                return in.readNBytes(MAX_OUTPUT_BYTES);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, runnable -> Thread.ofVirtual().start(runnable));
    }

    private byte[] await(Process process, CompletableFuture<byte[]> output,
            String serverAddress) throws IOException {
        try {
            if (!process.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new IOException("credential helper " + program() + " timed out for "
                        + serverAddress + " after " + TIMEOUT.toSeconds() + " s");
            }
            return output.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while running credential helper "
                    + program() + " for " + serverAddress);
        } catch (ExecutionException | TimeoutException e) {
            process.destroyForcibly();
            throw new IOException("cannot read the output of credential helper " + program()
                    + " for " + serverAddress + ": " + e, e);
        }
    }

    private Optional<Credentials> parse(byte[] stdout, String serverAddress)
            throws IOException {
        JsonNode json;
        try {
            json = JsonFields.MAPPER.readTree(stdout);
        } catch (IOException e) {
            // The output may contain a secret, so neither it nor the parser's message is shown.
            throw new IOException("credential helper " + program() + " wrote no JSON for "
                    + serverAddress, e);
        }
        String username = json == null ? "" : json.path("Username").asText("");
        String secret = json == null ? "" : json.path("Secret").asText("");
        if (secret.isEmpty()) {
            throw new IOException("credential helper " + program() + " returned no Secret for "
                    + serverAddress);
        }
        if (username.isEmpty() || username.equals(IDENTITY_TOKEN_USER)) {
            return Optional.of(Credentials.identityToken(secret));
        }
        return Optional.of(new Credentials(username, secret));
    }

    private static String shown(String text) {
        if (text.isEmpty()) {
            return "no output";
        }
        String line = text.lines().findFirst().orElse("");
        return line.length() > MAX_SHOWN_CHARS ? line.substring(0, MAX_SHOWN_CHARS) + "..."
                : line;
    }

    @Override
    public String toString() {
        return program();
    }
}
