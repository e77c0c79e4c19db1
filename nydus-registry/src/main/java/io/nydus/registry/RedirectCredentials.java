package io.nydus.registry;

import java.net.URI;

/**
 * The rule that decides which hops of a redirect chain receive credentials: the registry's
 * token or Basic credentials on registry requests, and the Basic credentials or identity token
 * on token requests.
 *
 * <p>A hop receives them if it is on the host of the URL they were meant for and either has
 * that URL's scheme and port, or upgrades plain HTTP to HTTPS on any port, as a registry does
 * that redirects itself to TLS. Another port with the same scheme is another service, such as
 * a storage service on the registry's machine, and HTTPS never downgrades to plain HTTP. Once
 * a hop fails the rule, later hops get no credentials either, even back on the original host.
 *
 * <p>For comparison, Go's HTTP client (and so Docker and containerd) keeps the
 * {@code Authorization} header for the same host or a subdomain on any scheme and port, and
 * reqwest, whose redirects nydusd followed for a time, keeps it for the same host and port.
 */
public final class RedirectCredentials {

    private RedirectCredentials() {
    }

    /** Returns whether credentials meant for {@code origin} may go to {@code hop}. */
    public static boolean mayCarry(URI origin, URI hop) {
        if (origin.getHost() == null || !origin.getHost().equalsIgnoreCase(hop.getHost())) {
            return false;
        }
        boolean sameScheme = origin.getScheme().equalsIgnoreCase(hop.getScheme());
        if (sameScheme) {
            return port(origin) == port(hop);
        }
        return "http".equalsIgnoreCase(origin.getScheme())
                && "https".equalsIgnoreCase(hop.getScheme());
    }

    /**
     * Returns whether a redirect from {@code from} to {@code to} goes from HTTPS to plain HTTP.
     * Credentials never follow such a hop, even to a URL that {@link #mayCarry} allows.
     */
    public static boolean isDowngrade(URI from, URI to) {
        return "https".equalsIgnoreCase(from.getScheme())
                && "http".equalsIgnoreCase(to.getScheme());
    }

    /** Returns the port of {@code uri}, or its scheme's default port. */
    static int port(URI uri) {
        if (uri.getPort() >= 0) {
            return uri.getPort();
        }
        return "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
    }
}
