package io.nydus.snapshotter;

import io.nydus.registry.CredentialProvider;
import java.nio.file.Path;

/**
 * Runs the snapshotter from the test class path in its own JVM, so that tests can stop it with
 * SIGTERM or SIGKILL: {@code SnapshotterMain CONFIG.toml}.
 */
public final class SnapshotterMain {
    private SnapshotterMain() {
    }

    public static void main(String[] args) throws Exception {
        SnapshotterConfig config = SnapshotterConfig.load(Path.of(args[0]));
        SnapshotterServer server = SnapshotterServer.start(config,
                CredentialProvider.anonymous());
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "nydus-shutdown"));
        server.awaitTermination();
    }
}
