package io.nydus.storage.config;

/** The configuration of the place blobs are read from ({@code device.backend}). */
public sealed interface BackendConfig permits RegistryConfig, LocalFsConfig {
}
