package io.nydus.registry;

/** The protocol and certificate checks of a client's connections to registries. */
public enum TransportMode {
    /** HTTPS, verifying the server against the system trust store and any extra CA file. */
    HTTPS,
    /**
     * HTTPS without certificate or host name checks, falling back to plain HTTP for a registry
     * whose port does not speak TLS or refuses the connection, as Docker does for insecure
     * registries.
     */
    INSECURE,
    /** Plain HTTP. */
    PLAIN_HTTP
}
