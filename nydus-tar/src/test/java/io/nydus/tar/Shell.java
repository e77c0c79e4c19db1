package io.nydus.tar;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** Runs bash scripts for the tests: building trees, making tarballs, reading file metadata. */
final class Shell {

    private Shell() {}

    /**
     * Runs {@code script} with bash and returns its standard output; the arguments are $1, $2...
     *
     * @throws AssertionError with the exit code and standard error if the script fails
     */
    static byte[] run(String script, String... args) {
        List<String> command = new ArrayList<>(List.of("bash", "-euo", "pipefail", "-c", script,
                "bash"));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        // The C locale makes bash, find and sort treat names as bytes, not as UTF-8.
        builder.environment().put("LC_ALL", "C");
        builder.environment().put("TZ", "UTC");
        try {
            Process process = builder.start();
            process.getOutputStream().close();
            CompletableFuture<byte[]> stderr =
                    CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
            byte[] stdout = readAll(process.getInputStream());
            int exit = process.waitFor();
            if (exit != 0) {
                throw new AssertionError("script failed with exit code " + exit + ": "
                        + new String(stderr.join(), StandardCharsets.UTF_8)
                        + "\nscript: " + script);
            }
            return stdout;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while running " + script, e);
        }
    }

    /** Returns whether {@code command} is on the PATH. */
    static boolean hasCommand(String command) {
        for (String directory : System.getenv("PATH").split(":")) {
            if (Files.isExecutable(Path.of(directory, command))) {
                return true;
            }
        }
        return false;
    }

    private static byte[] readAll(InputStream in) {
        try (in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
