package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.Repository;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Stops commands with SIGTERM, as Ctrl-C or a service manager does, while they wait for their
 * source in the middle of a build or check, and checks that they leave no temporary file, run
 * directory, open upload session or mount behind.
 */
class InterruptedCommandTest {
    private static final long WAIT_MILLIS = 60_000;
    /** A JVM stopped by SIGTERM exits with 128 + 15. */
    private static final int SIGTERM_EXIT = 143;

    private TempDir temp;

    @BeforeEach
    void createTemp() throws IOException {
        temp = TempDirs.create("interrupted-");
    }

    @AfterEach
    void deleteTemp() throws IOException {
        temp.close();
    }

    @Test
    void sigtermDuringConvertCleansUp() throws Exception {
        try (RegistryServer registry = RegistryServer.start(temp);
                RegistryClient client = RegistryClient.builder()
                        .transportMode(TransportMode.PLAIN_HTTP).build();
                ForwardingProxy slowSource = ForwardingProxy.start(
                        "http://" + registry.address())) {
            pushLargeImage(client, registry.repository("stopped/source").tag("v1"));
            // The layer stops after 24 MiB, so the blob is partly built and partly sent.
            slowSource.stallBodiesAfter(24 << 20);
            Path workDir = temp.resolve("work");

            Process convert = start("io.nydus.cli.Nydusify", "convert", "--source",
                    slowSource.address() + "/stopped/source:v1", "--target",
                    registry.address() + "/stopped/target:nydus", "--plain-http", "--work-dir",
                    workDir.toString(), "--log-level", "info");
            awaitWhile(convert, () -> registry.openUploads("stopped/target").isEmpty(),
                    "an upload session in stopped/target");
            assertFalse(entries(workDir).isEmpty(), "no run directory in " + workDir);

            String output = stop(convert);

            assertEquals(List.of(), registry.openUploads("stopped/target"), output);
            assertEquals(List.of(), entries(workDir), output);
            assertTrue(output.contains("cancelling their upload sessions"), output);
        }
    }

    @Test
    void sigtermDuringSessionPostCancelsSession() throws Exception {
        try (RegistryServer registry = RegistryServer.start(temp);
                RegistryClient client = RegistryClient.builder()
                        .transportMode(TransportMode.PLAIN_HTTP).build();
                ForwardingProxy slowSource = ForwardingProxy.start(
                        "http://" + registry.address());
                ForwardingProxy slowTarget = ForwardingProxy.start(
                        "http://" + registry.address())) {
            pushLargeImage(client, registry.repository("stopped/source").tag("v1"));
            slowSource.stallBodiesAfter(24 << 20);
            // The POST that opens the early upload's session waits until the JVM stops.
            slowTarget.holdNext("POST");

            Process convert = start("io.nydus.cli.Nydusify", "convert", "--source",
                    slowSource.address() + "/stopped/source:v1", "--target",
                    slowTarget.address() + "/stopped/post:nydus", "--plain-http",
                    "--work-dir", temp.resolve("work").toString(), "--log-level", "info");
            awaitWhile(convert, () -> slowTarget.requests().stream()
                    .noneMatch(request -> request.startsWith("POST ")), "a POST to the target");
            convert.destroy();
            awaitWhile(convert, () -> !commandOutput().contains("cancelling their upload"),
                    "the shutdown hook's cancel");
            slowTarget.release();
            String output = stop(convert);
            // The proxy handles one request at a time, so this one waits for the held POST.
            client.hasTags(new Repository(slowTarget.address(), "stopped/post"));

            assertEquals(List.of(), registry.openUploads("stopped/post"), output);
            assertTrue(slowTarget.requests().stream()
                    .anyMatch(request -> request.startsWith("DELETE ")), output);
        }
    }

    @Test
    void sigtermDuringCreateDeletesTempFiles() throws Exception {
        Path fifo = temp.resolve("layer.tar");
        Commands.run(List.of("mkfifo", fifo.toString()), Duration.ofSeconds(10));
        Path output = Files.createDirectory(temp.resolve("output"));
        Path blobs = output.resolve("blobs");
        CountDownLatch stopped = new CountDownLatch(1);
        Thread writer = Thread.ofPlatform().name("partial-tar").start(
                () -> writePartialTar(fifo, stopped));
        try {
            Process create = start("io.nydus.cli.NydusImage", "create", fifo.toString(),
                    "--type", "tar-rafs", "--bootstrap", output.resolve("image.boot").toString(),
                    "--blob-dir", blobs.toString());
            awaitWhile(create, () -> entries(output).size() < 2 || entries(blobs).isEmpty(),
                    "the temporary bootstrap and blob in " + output);

            String log = stop(create);

            assertEquals(List.of(blobs), entries(output), log);
            assertEquals(List.of(), entries(blobs), log);
        } finally {
            stopped.countDown();
            if (!writer.join(Duration.ofSeconds(5))) {
                // The command never opened the pipe, so the writer still waits for a reader.
                Files.newInputStream(fifo).close();
                writer.join();
            }
        }
    }

    @Test
    void sigtermDuringOverlayCheckUnmounts() throws Exception {
        try (RegistryServer registry = RegistryServer.start(temp);
                RegistryClient client = RegistryClient.builder()
                        .transportMode(TransportMode.PLAIN_HTTP).build();
                ForwardingProxy slowSource = ForwardingProxy.start(
                        "http://" + registry.address())) {
            ImageReference source = registry.repository("checked/app").tag("v1");
            ImageReference target = registry.repository("checked/app").tag("v1-nydus");
            pushLinkedImage(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source, target)
                    .withWorkDir(temp.resolve("convert-work"))
                    .withPlatform(PlatformSpec.parse("linux/amd64")));
            // The second layer's body stops after 24 MiB, past the hard link whose target
            // lies in the first layer, so the check has mounted the first layer to copy it.
            slowSource.stallBodiesAfter(24 << 20);
            Path workDir = temp.resolve("work");

            Process check = start("io.nydus.cli.Nydusify", "check", "--source",
                    slowSource.address() + "/checked/app:v1", "--target",
                    registry.address() + "/checked/app:v1-nydus", "--plain-http", "--work-dir",
                    workDir.toString(), "--log-level", "info");
            awaitWhile(check, () -> overlayMounts().isEmpty(),
                    "an overlay mount of the check in /proc/mounts");

            String output = stop(check);

            assertEquals(List.of(), overlayMounts(), output);
            assertEquals(List.of(), entries(workDir), output);
            assertTrue(output.contains("detached the overlay reference"), output);
        }
    }

    /**
     * Pushes an image of two layers: the first has {@code a/base}, the second a hard link
     * {@code a/link} to it and then 40 MiB of random data.
     */
    private void pushLinkedImage(RegistryClient client, ImageReference reference)
            throws IOException {
        Path first = Files.createDirectories(temp.resolve("linked/first/a"));
        Files.writeString(first.resolve("base"), "base\n");
        Path second = Files.createDirectories(temp.resolve("linked/second/a"));
        // GNU tar stores the later name as the link, and the stand-in is then deleted.
        Files.writeString(second.resolve("base"), "stand-in\n");
        Files.createLink(second.resolve("link"), second.resolve("base"));
        byte[] data = new byte[40 << 20];
        new Random(5).nextBytes(data);
        Files.write(second.getParent().resolve("data.bin"), data);
        List<Path> tars = List.of(archive(first.getParent()), archive(second.getParent()));
        run("tar", "--delete", "-f", tars.get(1).toString(), "./a/base");
        SeedImage.pushTars(client, reference, tars);
    }

    private static Path archive(Path dir) throws IOException {
        Path tar = Path.of(dir + ".tar");
        run("tar", "--format=posix", "--sort=name", "--numeric-owner", "-C", dir.toString(),
                "-cf", tar.toString(), ".");
        return tar;
    }

    private static void run(String... argv) throws IOException {
        Commands.run(List.of(argv), Duration.ofSeconds(60));
    }

    /** Returns the lines of /proc/mounts of overlay mounts that a check below temp made. */
    private List<String> overlayMounts() throws IOException {
        return Files.readAllLines(Path.of("/proc/mounts")).stream()
                .filter(line -> line.startsWith("nydusify-check ")
                        && line.contains(temp.path().toString())).toList();
    }

    /** Pushes an image of one layer with 40 MiB of random data, so its blob stays that large. */
    private void pushLargeImage(RegistryClient client, ImageReference reference)
            throws IOException {
        byte[] data = new byte[40 << 20];
        new Random(7).nextBytes(data);
        SeedImage.oneLayer(temp.resolve("seed"),
                layer -> Files.write(layer.resolve("data.bin"), data)).push(client, reference);
    }

    /**
     * Writes the header and the first 4 MiB of a 16 MiB file into {@code fifo}, then keeps the
     * pipe open until {@code stopped}, so that the reader waits for the rest.
     */
    private static void writePartialTar(Path fifo, CountDownLatch stopped) {
        TarArchiveEntry entry = new TarArchiveEntry("data.bin");
        entry.setSize(16 << 20);
        try (OutputStream pipe = Files.newOutputStream(fifo);
                TarArchiveOutputStream tar = new TarArchiveOutputStream(pipe)) {
            tar.putArchiveEntry(entry);
            tar.write(new byte[4 << 20]);
            tar.flush();
            stopped.await();
        } catch (IOException e) {
            // The reader was stopped: the pipe is broken, as intended.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Starts {@code mainClass} with the launcher's JVM options and the test's class path. */
    private Process start(String mainClass, String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-XX:+UseParallelGC", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), mainClass));
        argv.addAll(List.of(args));
        return new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(temp.resolve("command.out").toFile()).start();
    }

    /** Waits while {@code condition} is true and the command runs. */
    private void awaitWhile(Process command, IoCondition condition, String awaited)
            throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MILLIS;
        while (condition.holds()) {
            assertTrue(command.isAlive(), "the command exited before " + awaited + ": "
                    + commandOutput());
            assertTrue(System.currentTimeMillis() < deadline, "no " + awaited + ": "
                    + commandOutput());
            Thread.sleep(20);
        }
    }

    /** Sends SIGTERM, waits for the exit and returns the command's output. */
    private String stop(Process command) throws Exception {
        command.destroy();
        if (!command.waitFor(30, TimeUnit.SECONDS)) {
            command.destroyForcibly().waitFor();
            throw new AssertionError("the command did not stop on SIGTERM: " + commandOutput());
        }
        String output = commandOutput();
        assertEquals(SIGTERM_EXIT, command.exitValue(), output);
        return output;
    }

    private String commandOutput() throws IOException {
        return Files.readString(temp.resolve("command.out"));
    }

    private static List<Path> entries(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(dir)) {
            return list.sorted().toList();
        }
    }

    /** A condition that may read files. */
    @FunctionalInterface
    private interface IoCondition {
        boolean holds() throws IOException;
    }
}
