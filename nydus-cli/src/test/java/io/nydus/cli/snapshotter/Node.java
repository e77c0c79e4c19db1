package io.nydus.cli.snapshotter;

import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test node: the snapshotter in its own JVM and a private containerd that uses it, under one
 * temporary directory. Closing it stops both, stops nydusd processes the snapshotter left (by
 * the pids in their pid files) and unmounts and deletes everything below the directory.
 */
final class Node implements AutoCloseable {
    private static final AtomicInteger CONTAINERS = new AtomicInteger();
    /** One shared nydusd that stays running when the snapshotter stops. */
    static final String SHARED = "daemon_mode = \"shared\"\ncleanup_on_close = false";

    final TempDir dir;
    final Path root;
    final Path socket;
    final SnapshotterProcess snapshotter;
    final ContainerdServer containerd;

    private Node(TempDir dir, Path root, Path socket, SnapshotterProcess snapshotter,
            ContainerdServer containerd) {
        this.dir = dir;
        this.root = root;
        this.socket = socket;
        this.snapshotter = snapshotter;
        this.containerd = containerd;
    }

    /**
     * Starts a node whose containerd reaches {@code registryAddress} over plain HTTP.
     *
     * @param extraToml lines appended to the snapshotter's config.toml
     */
    static Node start(String registryAddress, String extraToml) throws Exception {
        return start(List.of(registryAddress), SHARED, extraToml);
    }

    /**
     * Starts a node whose containerd reaches each of {@code registryAddresses} over plain HTTP.
     * A {@code %CONTAINERD%} in {@code extraToml} stands for containerd's socket, and
     * {@code %NODE%} for the node's directory.
     *
     * @param topLevelToml the top-level keys {@code daemon_mode} and {@code cleanup_on_close}
     */
    static Node start(List<String> registryAddresses, String topLevelToml, String extraToml)
            throws Exception {
        return start(registryAddresses, topLevelToml, extraToml, List.of());
    }

    /**
     * Starts a node like {@link #start(List, String, String)} whose snapshotter JVM runs
     * through {@code launcher} (see {@link SnapshotterProcess}).
     */
    static Node start(List<String> registryAddresses, String topLevelToml, String extraToml,
            List<String> launcher) throws Exception {
        return start(registryAddresses, topLevelToml, extraToml, launcher, "");
    }

    /**
     * Starts a node like {@link #start(List, String, String, List)} with {@code daemonToml}
     * added to the snapshotter's {@code [daemon]} table.
     */
    static Node start(List<String> registryAddresses, String topLevelToml, String extraToml,
            List<String> launcher, String daemonToml) throws Exception {
        TempDir dir = TempDirs.create("node");
        try {
            Path root = dir.resolve("snapshotter");
            Path socket = dir.resolve("nydus.sock");
            // No prefetch and no read amplification, so that the registry serves exactly the
            // chunks that containers read.
            Path nydusdConfig = dir.resolve("nydusd-config.json");
            Files.writeString(nydusdConfig, """
                    {"device": {"backend": {"type": "registry", "config": {"timeout": 5,
                      "connect_timeout": 5, "retry_limit": 0}},
                     "cache": {"type": "blobcache", "config": {}}},
                     "mode": "direct", "digest_validate": false, "enable_xattr": true,
                     "amplify_io": 0, "fs_prefetch": {"enable": false}}
                    """);
            Path config = dir.resolve("config.toml");
            Files.writeString(config, """
                    version = 1
                    root = "%s"
                    address = "%s"
                    %s
                    [daemon]
                    nydusd_config = "%s"
                    nydusd_path = "%s"
                    mount_timeout = "30s"
                    %s
                    [log]
                    level = "info"
                    """.formatted(root, socket, topLevelToml, nydusdConfig,
                            writeNydusd(dir.path()), daemonToml)
                    + extraToml.replace("%CONTAINERD%", dir.resolve("containerd")
                            .resolve("containerd.sock").toString())
                            .replace("%NODE%", dir.path().toString()));
            SnapshotterProcess snapshotter = new SnapshotterProcess(config, socket,
                    dir.resolve("snapshotter.log"), launcher);
            snapshotter.start();
            ContainerdServer containerd;
            try {
                containerd = ContainerdServer.start(dir.resolve("containerd"), socket,
                        registryAddresses);
            } catch (Exception e) {
                snapshotter.close();
                throw e;
            }
            return new Node(dir, root, socket, snapshotter, containerd);
        } catch (Exception e) {
            TempDirs.remove(dir.path());
            throw e;
        }
    }

    /** Kills and removes container {@code id}, ignoring failures, as a test's clean-up. */
    void removeContainer(String namespace, String id) throws IOException {
        containerd.ctrAllowingFailure("-n", namespace, "tasks", "kill", "-s", "SIGKILL", id);
        containerd.ctrAllowingFailure("-n", namespace, "tasks", "rm", "-f", id);
        containerd.ctrAllowingFailure("-n", namespace, "containers", "rm", id);
    }

    /**
     * Writes a {@code nydusd} script that runs the nydusd CLI from the test class path, as
     * {@code bin/nydusd} runs it from the built jar, and returns its path.
     */
    static Path writeNydusd(Path dir) throws IOException {
        Path script = dir.resolve("nydusd");
        Files.writeString(script, "#!/bin/sh\nexec '"
                + Path.of(System.getProperty("java.home"), "bin", "java")
                + "' --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
                + " --sun-misc-unsafe-memory-access=allow -Xmx512m -XX:+UseSerialGC -cp '"
                + System.getProperty("java.class.path") + "' "
                + io.nydus.cli.Nydusd.class.getName() + " \"$@\"\n");
        if (!script.toFile().setExecutable(true)) {
            throw new IOException("cannot make " + script + " executable");
        }
        return script;
    }

    /**
     * Runs a container of {@code image} with snapshotter {@code snapshotter} that prints every
     * path of its root file system, then the sha256 of every regular file, both sorted. A
     * failed command in the container fails the listing with its error output, so a file that
     * cannot be read shows as an error instead of as a missing line.
     */
    String listing(String namespace, String snapshotter, String image) throws IOException {
        String id = "list-" + CONTAINERS.incrementAndGet();
        return ContainerdServer.output(containerd.run(namespace, "--rm", "--snapshotter",
                snapshotter, image, id, "/bin/busybox", "sh", "-c",
                "set -e -o pipefail; /bin/busybox find / -xdev | /bin/busybox sort;"
                        + " /bin/busybox find / -xdev -type f -exec /bin/busybox sha256sum {} +"
                        + " | /bin/busybox sort"));
    }

    /** Pushes an image of a static busybox and the seed's three layers; returns it. */
    static SeedImage pushImage(RegistryClient client, ImageReference reference, Path dir)
            throws IOException {
        SeedImage seed = SeedImage.threeLayers(dir);
        Path layer = seed.newLayerDirectory();
        Files.createDirectories(layer.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), layer.resolve("bin/busybox"));
        seed.addLayer(layer);
        seed.push(client, reference);
        return seed;
    }

    /**
     * Pushes an image of a static busybox and the seed's files to {@code one:v1} in
     * {@code registry}, converts it to {@code one:nydus} and returns the seed.
     */
    static SeedImage pushOneLayerNydusImage(RegistryServer registry, Path dir)
            throws IOException {
        return pushOneLayerNydusImage(registry, dir, "one", layer -> { });
    }

    /**
     * Pushes an image like {@link #pushOneLayerNydusImage(RegistryServer, Path)} to
     * {@code library/NAME:v1} and {@code library/NAME:nydus}, with {@code extra} applied to
     * its layer, so that its blob differs from other images' blobs. Each image needs a
     * {@code dir} of its own.
     */
    static SeedImage pushOneLayerNydusImage(RegistryServer registry, Path dir, String name,
            SeedImage.LayerEdit extra) throws IOException {
        SeedImage seed = SeedImage.oneLayer(dir.resolve("seed"), layer -> {
            Files.copy(Path.of("/bin/busybox"), layer.resolve("bin/busybox"));
            extra.apply(layer);
        });
        ImageReference source = ImageReference.parse(registry.address() + "/library/" + name
                + ":v1");
        try (RegistryClient client = plainClient()) {
            seed.push(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source,
                            source.withTag("nydus"))
                    .withWorkDir(Files.createDirectories(dir.resolve("work")))
                    .withPlatform(PlatformSpec.parse("linux/amd64")));
        }
        return seed;
    }

    static RegistryClient plainClient() throws IOException {
        return RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
    }

    /**
     * Restarts the snapshotter, after a SIGTERM or SIGKILL stopped it, and waits until
     * containerd reaches it again. containerd's client retries with a growing delay, so a call
     * right after the restart can still fail as unavailable.
     */
    void restartSnapshotter() throws IOException, InterruptedException {
        restartSnapshotter(List.of());
    }

    /** Restarts the snapshotter like {@link #restartSnapshotter()}, with {@code arguments}. */
    void restartSnapshotter(List<String> arguments) throws IOException, InterruptedException {
        snapshotter.start(arguments);
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        // Usage reaches the snapshotter for every snapshot; ls only reads containerd's store.
        while (containerd.ctrAllowingFailure("-n", "k8s.io", "snapshots", "--snapshotter",
                "nydus", "usage").exitCode() != 0) {
            if (System.nanoTime() > deadline) {
                throw new IOException("containerd did not reach the restarted snapshotter"
                        + " within 60 s");
            }
            Thread.sleep(200);
        }
    }

    /** Returns the Prometheus text that the snapshotter serves on {@code port}. */
    static String metrics(int port) throws IOException, InterruptedException {
        try (java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient()) {
            return client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                    "http://127.0.0.1:" + port + "/metrics"))
                    .timeout(java.time.Duration.ofSeconds(10)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        }
    }

    /** Closes each of {@code parts} that is not null, in order, then removes {@code dir}. */
    static void closeAll(TempDir dir, AutoCloseable... parts) throws Exception {
        try {
            for (AutoCloseable part : parts) {
                if (part != null) {
                    part.close();
                }
            }
        } finally {
            TempDirs.remove(dir.path());
        }
    }

    /** Returns the pids in the pid files of the nydusd processes under the root. */
    List<Long> nydusdPids() throws IOException {
        List<Long> pids = new ArrayList<>();
        Path sockets = root.resolve("socket");
        if (!Files.isDirectory(sockets)) {
            return pids;
        }
        try (var dirs = Files.list(sockets)) {
            for (Path daemon : dirs.toList()) {
                Path pidFile = daemon.resolve("nydusd.pid");
                if (Files.exists(pidFile)) {
                    pids.add(Long.parseLong(Files.readString(pidFile).strip()));
                }
            }
        }
        return pids;
    }

    @Override
    public void close() throws IOException {
        try {
            containerd.close();
            snapshotter.close();
            for (long pid : nydusdPids()) {
                ProcessHandle.of(pid).ifPresent(handle -> {
                    handle.destroy();
                    try {
                        handle.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
                    } catch (Exception e) {
                        handle.destroyForcibly();
                    }
                });
            }
        } finally {
            keepLogs();
            TempDirs.remove(dir.path());
        }
    }

    /** Copies the logs to {@code target/node-logs}, where they outlive the test directory. */
    private void keepLogs() throws IOException {
        Path target = Files.createDirectories(Path.of("target", "node-logs",
                dir.path().getFileName().toString()));
        List<Path> logs = new ArrayList<>(List.of(dir.resolve("snapshotter.log"),
                containerd.log()));
        Path sockets = root.resolve("socket");
        if (Files.isDirectory(sockets)) {
            try (var daemons = Files.list(sockets)) {
                daemons.forEach(daemon -> logs.add(daemon.resolve("nydusd.log")));
            }
        }
        for (Path log : logs) {
            if (Files.exists(log)) {
                Path name = log.getParent().getFileName().resolve(log.getFileName());
                Files.createDirectories(target.resolve(name).getParent());
                Files.copy(log, target.resolve(name),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
