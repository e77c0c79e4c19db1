package io.nydus.storage.config;

import java.net.URI;
import java.time.Duration;
import java.util.Optional;

/**
 * An HTTP proxy (such as a P2P distribution agent) that blob requests go through first.
 *
 * @param url the proxy's URL
 * @param pingUrl a URL whose GET succeeds while the proxy is healthy, empty to assume it is
 * @param fallback whether to ask the registry directly when the proxy fails
 * @param checkInterval how often an unhealthy proxy is checked again
 * @param useHttp whether blob URLs are sent to the proxy with {@code http} instead of
 *     {@code https}
 */
public record ProxyConfig(URI url, Optional<URI> pingUrl, boolean fallback,
        Duration checkInterval, boolean useHttp) {

    public ProxyConfig {
        if (url == null || url.getHost() == null) {
            throw new ConfigException("device.backend.config.proxy.url '" + url
                    + "' is not a URL with a host");
        }
        if (checkInterval.isNegative() || checkInterval.isZero()) {
            throw new ConfigException("device.backend.config.proxy.check_interval "
                    + checkInterval.toSeconds() + " must be positive");
        }
    }
}
