package io.nydus.rafs;

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

/**
 * Copies of the upstream Nydus fixtures for tests, and a way to run commands on them. The
 * fixtures live in {@code shared/fixtures/upstream} next to the repository, which is read-only
 * in CI, so every test works on a copy in its own temporary directory.
 */
public final class UpstreamFixtures {
    public static final String RAFS_V6_BOOT = "nydus/bootstrap/rafs-v6-2.2.boot";
    public static final String RAFS_V6_BLOB =
            "nydus/blobs/be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef";
    public static final String TOC_BLOB =
            "nydus/toc/2fa78cad554b75ac91a4a125ed148d0ddeb25efa4aaa8bd80e5dc292690a4dca";
    public static final String SNAPSHOTTER_V6 =
            "nydus-snapshotter/filesystem-testdata/v6-bootstrap-chunk-pos-438272.tar.gz";
    public static final String SNAPSHOTTER_V5 =
            "nydus-snapshotter/filesystem-testdata/v5-bootstrap-file-size-736032.tar.gz";
    public static final String REPEATABLE_V5_SHA256 =
            "nydus/repeatable/sha256-nocompress-repeatable";
    public static final String REPEATABLE_V5_BLAKE3 =
            "nydus/repeatable/blake3-lz4_block-non_repeatable";

    private UpstreamFixtures() {
    }

    /** Returns the read-only fixture directory, found by walking up from the working directory. */
    public static Path root() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared/fixtures/upstream");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("no shared/fixtures/upstream directory above "
                + Path.of("").toAbsolutePath());
    }

    /** Copies fixture {@code relative} into {@code dir}, keeping its file name. */
    public static Path copy(String relative, Path dir) throws IOException {
        Path source = root().resolve(relative);
        Path target = dir.resolve(source.getFileName().toString());
        Files.copy(source, target);
        target.toFile().setWritable(true);
        return target;
    }

    /**
     * Extracts {@code image/image.boot} from a bootstrap layer fixture (a tar.gz) with the
     * {@code tar} command and returns its path under {@code dir}.
     */
    public static Path extractBootstrap(String layer, Path dir) throws IOException {
        Path archive = copy(layer, dir);
        Path out = Files.createDirectories(dir.resolve("extracted"));
        run("tar", "-xzf", archive.toString(), "-C", out.toString(), "image/image.boot");
        return out.resolve("image/image.boot");
    }

    /**
     * Runs a command and returns its standard output.
     *
     * @throws AssertionError with the exit code and standard error if the command fails
     */
    public static String run(String... command) {
        ProcessBuilder builder = new ProcessBuilder(List.of(command));
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
                throw new AssertionError(String.join(" ", command) + " failed with exit code "
                        + exit + ": " + new String(stderr.join(), StandardCharsets.UTF_8));
            }
            return new String(stdout, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while running " + List.of(command), e);
        }
    }

    /** Returns the lines of a command's output. */
    public static List<String> lines(String... command) {
        return new ArrayList<>(run(command).lines().toList());
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
