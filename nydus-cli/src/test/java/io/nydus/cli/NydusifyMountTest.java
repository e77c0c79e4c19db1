package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.posix.BytePath;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** `nydusify mount` of a converted image, from the registry and from an OCI layout. */
class NydusifyMountTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static TempDir temp;
    private static RegistryServer registry;
    private static SeedImage seed;
    private static String nydusRef;

    @BeforeAll
    static void convert() throws Exception {
        temp = TempDirs.create("nydusify-mount-");
        registry = RegistryServer.start(temp);
        seed = SeedImage.threeLayers(temp.resolve("seed"));
        ImageReference source = ImageReference.parse(registry.address() + "/mount/app:v1");
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).build()) {
            seed.push(client, source);
        }
        nydusRef = registry.address() + "/mount/app:v1-nydus";
        assertEquals(0, Cli.run(new Nydusify(), "convert", "--plain-http", "--source",
                source.toString(), "--target", nydusRef, "--work-dir",
                temp.resolve("convert-work").toString()));
    }

    @AfterAll
    static void stop() throws IOException {
        registry.close();
        temp.close();
    }

    /** Runs {@code nydusify mount} in the background until its mount is there. */
    private static CompletableFuture<Integer> mount(Path mnt, String... extra) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("mount", "--mount-path",
                mnt.toString(), "--work-dir", temp.resolve("mount-work-" + mnt.getFileName())
                        .toString()));
        args.addAll(List.of(extra));
        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() ->
                Cli.run(new Nydusify(), args.toArray(String[]::new)));
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!TempDirs.isMountPoint(mnt)) {
            if (exit.isDone() || System.nanoTime() > deadline) {
                throw new AssertionError("nydusify mount did not mount " + mnt + "; exit "
                        + (exit.isDone() ? exit.get() : "none yet"));
            }
            Thread.sleep(50);
        }
        return exit;
    }

    private static void unmountAndWait(Path mnt, CompletableFuture<Integer> exit)
            throws Exception {
        Commands.run(List.of("umount", mnt.toString()), TIMEOUT);
        assertEquals(0, exit.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
        assertTrue(!TempDirs.isMountPoint(mnt), mnt + " is still mounted");
    }

    @Test
    void registryImageMountsLikeItsLayers() throws Exception {
        Path mnt = temp.resolve("mnt-registry");
        CompletableFuture<Integer> exit = mount(mnt, "--plain-http", "--target", nydusRef);
        try {
            TreeComparator.assertSameTree(BytePath.of(seed.expected()), BytePath.of(mnt),
                    TreeComparator.Options.defaults().ignoringRootMtime());
        } finally {
            unmountAndWait(mnt, exit);
        }
    }

    @Test
    void layoutImageMountsLikeItsLayers() throws Exception {
        Path layout = temp.resolve("layout");
        assertEquals(0, Cli.run(new Nydusify(), "copy", "--plain-http", "--source", nydusRef,
                "--target", "oci:" + layout + ":v1-nydus"));
        Path mnt = temp.resolve("mnt-layout");
        CompletableFuture<Integer> exit = mount(mnt, "--target",
                "oci:" + layout + ":v1-nydus");
        try {
            TreeComparator.assertSameTree(BytePath.of(seed.expected()), BytePath.of(mnt),
                    TreeComparator.Options.defaults().ignoringRootMtime());
        } finally {
            unmountAndWait(mnt, exit);
        }
    }

    @Test
    void interruptStopsMountStartedWithItIgnored() throws Exception {
        Path mnt = Files.createDirectories(temp.resolve("mnt-ignored-int"));
        Path output = temp.resolve("ignored-int.out");
        // A shell starts background jobs with SIGINT ignored, and exec passes that on.
        List<String> argv = new ArrayList<>(List.of("sh", "-c",
                "trap '' INT; exec \"$0\" \"$@\"",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), "io.nydus.cli.Nydusify",
                "mount", "--plain-http", "--target", nydusRef, "--mount-path", mnt.toString(),
                "--work-dir", temp.resolve("mount-work-ignored-int").toString()));
        Process mount = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(output.toFile()).start();
        try {
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (!TempDirs.isMountPoint(mnt)) {
                assertTrue(mount.isAlive(), "nydusify mount exited: "
                        + Files.readString(output));
                assertTrue(System.nanoTime() < deadline, "nydusify mount did not mount " + mnt);
                Thread.sleep(50);
            }
            Commands.run(List.of("kill", "-INT", String.valueOf(mount.pid())), TIMEOUT);

            assertTrue(mount.waitFor(20, TimeUnit.SECONDS), "nydusify mount ignored SIGINT");
            assertEquals(130, mount.exitValue());
        } finally {
            mount.destroyForcibly();
            mount.waitFor(30, TimeUnit.SECONDS);
        }
        assertFalse(TempDirs.isMountPoint(mnt), mnt + " is still mounted");
    }

    @Test
    void fuseThreadsOutsideRangeIsUsageError() throws IOException {
        Path mnt = temp.resolve("mnt-threads");
        for (String threads : List.of("0", "65")) {
            CapturedRun run = CapturedRun.nydusify("mount", "--plain-http", "--target",
                    nydusRef, "--mount-path", mnt.toString(), "--work-dir",
                    temp.resolve("work-threads").toString(), "--fuse-threads", threads);

            assertEquals(2, run.exitCode(), run.err());
            assertTrue(run.err().startsWith("error: --fuse-threads " + threads
                    + " is outside 1..64"), run.err());
            assertFalse(TempDirs.isMountPoint(mnt), mnt + " is mounted");
        }
    }

    @Test
    void ociImageIsRejectedWithItsName() {
        String oci = registry.address() + "/mount/app:v1";
        int exit = Cli.run(new Nydusify(), "mount", "--plain-http", "--target", oci,
                "--mount-path", temp.resolve("mnt-oci").toString(), "--work-dir",
                temp.resolve("work-oci").toString());
        assertEquals(1, exit);
    }
}
