package io.nydus.storage.config;

import io.nydus.registry.SendableHeaders;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * A registry mirror that serves the same repositories and is asked before the registry.
 *
 * @param host the mirror's base URL, such as {@code http://127.0.0.1:5001}
 * @param headers HTTP headers sent with every request to the mirror
 * @param healthCheckInterval how long a mirror that failed too often is skipped before it is
 *     tried (or pinged) again
 * @param failureLimit consecutive failures after which the mirror is skipped
 * @param pingUrl a URL whose GET succeeds once the mirror is back, empty to just try it again
 */
public record MirrorConfig(URI host, Map<String, String> headers, Duration healthCheckInterval,
        int failureLimit, Optional<URI> pingUrl) {

    public MirrorConfig {
        if (host == null || host.getHost() == null) {
            throw new ConfigException("device.backend.config.mirrors[].host '" + host
                    + "' is not a URL with a host");
        }
        headers = Map.copyOf(headers);
        headers.forEach((name, value) -> SendableHeaders.problem(name, value)
                .ifPresent(problem -> {
                    throw new ConfigException("device.backend.config.mirrors[].headers." + name
                            + " of mirror " + host + " " + problem);
                }));
        if (failureLimit < 1) {
            throw new ConfigException("device.backend.config.mirrors[].failure_limit "
                    + failureLimit + " must be at least 1");
        }
        if (healthCheckInterval.isNegative() || healthCheckInterval.isZero()) {
            throw new ConfigException("device.backend.config.mirrors[].health_check_interval "
                    + healthCheckInterval.toSeconds() + " must be positive");
        }
    }

    /** Lists header names only, because their values may carry credentials. */
    @Override
    public String toString() {
        return "MirrorConfig[host=" + host + ", headers=" + headers.keySet()
                + ", healthCheckInterval=" + healthCheckInterval + ", failureLimit="
                + failureLimit + ", pingUrl=" + pingUrl + "]";
    }
}
