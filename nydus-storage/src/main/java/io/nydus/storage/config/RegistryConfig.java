package io.nydus.storage.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Blobs in an OCI registry ({@code device.backend.type} {@code registry}).
 * {@link #toString()} hides {@code auth} and {@code registryToken}.
 *
 * @param scheme {@code http}, {@code https}, or empty for HTTPS that falls back to HTTP when
 *     {@code skip_verify} is set
 * @param host the registry host with an optional port
 * @param repo the repository path
 * @param auth base64 of {@code user:password}, if any
 * @param registryToken a bearer token sent before the registry requests one, if any
 * @param skipVerify whether TLS certificates are not checked
 * @param caCertFiles PEM files of extra trusted certificate authorities
 * @param timeout the time allowed for a response, and for each pause while reading one;
 *     {@link #NO_TIMEOUT} when the configuration gives 0
 * @param connectTimeout the time allowed to open a connection; {@link #NO_TIMEOUT} for 0
 * @param retryLimit how often a failed request is retried
 * @param proxy an HTTP proxy that requests go through first
 * @param mirrors mirrors asked, in order, before the registry
 */
public record RegistryConfig(String scheme, String host, String repo, Optional<String> auth,
        Optional<String> registryToken, boolean skipVerify, List<Path> caCertFiles,
        Duration timeout, Duration connectTimeout, int retryLimit, Optional<ProxyConfig> proxy,
        List<MirrorConfig> mirrors) implements BackendConfig {

    /** The maximum {@code retry_limit}, so that a typo cannot make a read retry for hours. */
    public static final int MAX_RETRY_LIMIT = 100;
    /**
     * The duration that a timeout of 0 seconds in the configuration stands for: no limit, as
     * upstream reads it. A year, because the HTTP client takes only positive timeouts.
     */
    public static final Duration NO_TIMEOUT = Duration.ofDays(365);

    public RegistryConfig {
        if (!scheme.isEmpty() && !scheme.equals("http") && !scheme.equals("https")) {
            throw new ConfigException("device.backend.config.scheme '" + scheme
                    + "' is invalid, expected http, https or an empty string");
        }
        requireText("host", host);
        requireText("repo", repo);
        requirePositive("timeout", timeout);
        requirePositive("connect_timeout", connectTimeout);
        if (retryLimit < 0 || retryLimit > MAX_RETRY_LIMIT) {
            throw new ConfigException("device.backend.config.retry_limit " + retryLimit
                    + " is outside 0.." + MAX_RETRY_LIMIT);
        }
        caCertFiles = List.copyOf(caCertFiles);
        mirrors = List.copyOf(mirrors);
    }

    private static void requireText(String key, String value) {
        if (value == null || value.isBlank()) {
            throw new ConfigException("device.backend.config." + key
                    + " is missing for the registry backend");
        }
    }

    private static void requirePositive(String key, Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new ConfigException("device.backend.config." + key + " "
                    + value.toSeconds() + " must be positive");
        }
    }

    @Override
    public String toString() {
        return "RegistryConfig[scheme=" + scheme + ", host=" + host + ", repo=" + repo
                + ", auth=" + (auth.isPresent() ? "(hidden)" : "none") + ", registryToken="
                + (registryToken.isPresent() ? "(hidden)" : "none") + ", skipVerify="
                + skipVerify + ", caCertFiles=" + caCertFiles + ", timeout=" + timeout
                + ", connectTimeout=" + connectTimeout + ", retryLimit=" + retryLimit
                + ", proxy=" + proxy + ", mirrors=" + mirrors.size() + "]";
    }
}
