package io.nydus.storage.backend;

import io.nydus.storage.BlobBackend;
import io.nydus.storage.config.BackendConfig;
import io.nydus.storage.config.LocalFsConfig;
import io.nydus.storage.config.RegistryConfig;
import io.nydus.storage.config.RuntimeSettings;
import java.io.IOException;
import java.time.Clock;

/** Opens the backend that a configuration names. */
public final class Backends {
    private Backends() {
    }

    /**
     * Opens the backend of {@code config}, counting its requests in {@code metrics}.
     *
     * @throws IOException if a file the configuration names cannot be read
     */
    public static BlobBackend open(BackendConfig config, BackendMetrics metrics)
            throws IOException {
        return switch (config) {
            case RegistryConfig registry -> RegistryBackend.open(registry, metrics);
            case LocalFsConfig local -> new LocalFsBackend(local, metrics);
        };
    }

    /**
     * Opens the backend of {@code config} for a mount whose registry credentials the daemon's
     * API may replace through {@code settings}.
     *
     * @throws IOException if a file the configuration names cannot be read
     */
    public static BlobBackend open(BackendConfig config, BackendMetrics metrics,
            RuntimeSettings.Scope settings) throws IOException {
        return switch (config) {
            case RegistryConfig registry -> RegistryBackend.open(registry, metrics,
                    Clock.systemUTC(), settings::registryCredentials);
            case LocalFsConfig local -> new LocalFsBackend(local, metrics);
        };
    }
}
