package io.nydus.cli.acceptance;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.daemon.Daemon;
import io.nydus.daemon.DaemonConfig;
import io.nydus.daemon.MountedImage;
import io.nydus.daemon.StorageImageData;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.MountSource;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.TransportMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A Nydus image in a registry mounted by an in-process daemon, as {@code nydusify mount} does
 * it, with a configuration the test tunes.
 */
final class DaemonMount implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Daemon daemon;
    private final FuseSession session;
    private final Path mountpoint;

    private DaemonMount(Daemon daemon, FuseSession session, Path mountpoint) {
        this.daemon = daemon;
        this.session = session;
        this.mountpoint = mountpoint;
    }

    /** Fetches the bootstrap of the plain-HTTP registry image {@code reference}. */
    static MountSource fetch(String reference, CredentialProvider credentials, Path workDir)
            throws IOException {
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).credentials(credentials).build()) {
            return MountSource.fetch(ImageLocation.parse(reference), client,
                    TransportMode.PLAIN_HTTP, credentials, PlatformSpec.parse("linux/amd64"),
                    workDir);
        }
    }

    /**
     * Mounts {@code source} at {@code mountpoint} with a blob cache in {@code cacheDir}, which
     * gets the chunk tables of the bootstrap layer;
     * {@code tune} adjusts the configuration (amplify_io, fs_prefetch...) before the mount.
     */
    static DaemonMount mount(MountSource source, Path cacheDir, Path mountpoint,
            Consumer<ObjectNode> tune) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode device = root.putObject("device");
        device.set("backend", source.backend().deepCopy());
        ObjectNode cache = device.putObject("cache");
        cache.put("type", "blobcache");
        cache.putObject("config").put("work_dir", cacheDir.toString());
        root.put("mode", "direct");
        root.put("amplify_io", 0);
        root.putObject("fs_prefetch").put("enable", false);
        tune.accept(root);
        DaemonConfig config = DaemonConfig.parse("test configuration", root.toString());
        source.installBlobMetas(cacheDir);
        Files.createDirectories(mountpoint);
        Daemon daemon = new Daemon("test", false, StorageImageData::open);
        try {
            daemon.mount("/", source.bootstrap(), config, List.of());
            FuseSession session = FuseSession.mount(mountpoint, daemon.vfs(),
                    MountOptions.defaults());
            daemon.running(mountpoint.toString());
            return new DaemonMount(daemon, session, mountpoint);
        } catch (IOException | RuntimeException e) {
            daemon.close();
            throw e;
        }
    }

    Path path() {
        return mountpoint;
    }

    MountedImage image() {
        return daemon.mounts().get("/");
    }

    Map<String, Object> cacheMetrics() {
        return image().data().cacheMetrics();
    }

    @Override
    public void close() throws IOException {
        try {
            session.close();
        } finally {
            daemon.close();
        }
    }
}
