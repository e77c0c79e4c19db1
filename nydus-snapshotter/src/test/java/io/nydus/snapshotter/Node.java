package io.nydus.snapshotter;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
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
        TempDir dir = TempDirs.create("node");
        try {
            Path root = dir.resolve("snapshotter");
            Path socket = dir.resolve("nydus.sock");
            Path nydusdConfig = dir.resolve("nydusd-config.json");
            Files.writeString(nydusdConfig, """
                    {"device": {"backend": {"type": "registry", "config": {"timeout": 5,
                      "connect_timeout": 5, "retry_limit": 0}},
                     "cache": {"type": "blobcache", "config": {}}},
                     "mode": "direct", "digest_validate": false, "enable_xattr": true,
                     "fs_prefetch": {"enable": false}}
                    """);
            Path config = dir.resolve("config.toml");
            Files.writeString(config, """
                    version = 1
                    root = "%s"
                    address = "%s"
                    daemon_mode = "shared"
                    cleanup_on_close = false
                    [daemon]
                    nydusd_config = "%s"
                    nydusd_path = "%s"
                    mount_timeout = "20s"
                    [log]
                    level = "info"
                    """.formatted(root, socket, nydusdConfig, nydusdPath()) + extraToml);
            SnapshotterProcess snapshotter = new SnapshotterProcess(config, socket,
                    dir.resolve("snapshotter.log"));
            snapshotter.start();
            ContainerdServer containerd;
            try {
                containerd = ContainerdServer.start(dir.resolve("containerd"), socket,
                        registryAddress);
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

    /** Returns the repository's {@code bin/nydusd} launcher. */
    static Path nydusdPath() {
        return Path.of("..", "bin", "nydusd").toAbsolutePath().normalize();
    }

    /**
     * Runs a container of {@code image} with snapshotter {@code snapshotter} that prints every
     * path of its root file system, then the sha256 of every regular file, both sorted.
     */
    String listing(String namespace, String snapshotter, String image) throws IOException {
        String id = "list-" + CONTAINERS.incrementAndGet();
        return containerd.ctr("-n", namespace, "run", "--rm", "--snapshotter", snapshotter,
                image, id, "/bin/busybox", "sh", "-c",
                "/bin/busybox find / -xdev | /bin/busybox sort;"
                        + " /bin/busybox find / -xdev -type f -exec /bin/busybox sha256sum {} +"
                        + " | /bin/busybox sort");
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

    static RegistryClient plainClient() throws IOException {
        return RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
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
            TempDirs.remove(dir.path());
        }
    }
}
