package io.nydus.registry;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.PasswordAuthentication;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Chooses an HTTP proxy from {@code HTTPS_PROXY}, {@code HTTP_PROXY} and {@code NO_PROXY}
 * (or their lower-case forms), as Go's {@code http.ProxyFromEnvironment} does for upstream's
 * nydusify: HTTPS requests go through the HTTPS proxy, plain HTTP requests through the HTTP
 * proxy, and requests to loopback hosts or to hosts that {@code NO_PROXY} lists go direct.
 */
final class EnvironmentProxySelector extends ProxySelector {

    /**
     * A {@code NO_PROXY} entry: a host, a domain with its subdomains, or an IP address range,
     * with an optional port.
     *
     * @param host the host or domain in lower case, or the network address of a range
     * @param domain whether subdomains of {@code host} match too
     * @param prefixBits the prefix length of an address range, or -1 for a host or domain
     * @param port the port that must match, or -1 for any
     */
    private record Exclusion(String host, boolean domain, int prefixBits, int port) {

        boolean matches(String requestHost, int requestPort) {
            if (port >= 0 && port != requestPort) {
                return false;
            }
            if (prefixBits >= 0) {
                return inRange(requestHost);
            }
            return requestHost.equals(host) || domain && requestHost.endsWith("." + host);
        }

        private boolean inRange(String requestHost) {
            byte[] address = literalAddress(requestHost);
            byte[] network = literalAddress(host);
            if (address == null || network == null || address.length != network.length
                    || prefixBits > address.length * 8) {
                return false;
            }
            for (int bit = 0; bit < prefixBits; bit++) {
                int mask = 0x80 >> (bit % 8);
                if ((address[bit / 8] & mask) != (network[bit / 8] & mask)) {
                    return false;
                }
            }
            return true;
        }
    }

    /**
     * A proxy of a variable and the user and password its URL carries.
     *
     * @param login the user and password, or null for a proxy without authentication
     */
    private record ProxyEntry(Proxy proxy, PasswordAuthentication login) {

        @Override
        public String toString() {
            return proxy + (login == null ? "" : " as user '" + login.getUserName() + "'");
        }
    }

    private final ProxyEntry httpsProxy;
    private final ProxyEntry httpProxy;
    private final boolean excludeAll;
    private final List<Exclusion> exclusions;

    private EnvironmentProxySelector(ProxyEntry httpsProxy, ProxyEntry httpProxy,
            boolean excludeAll, List<Exclusion> exclusions) {
        this.httpsProxy = httpsProxy;
        this.httpProxy = httpProxy;
        this.excludeAll = excludeAll;
        this.exclusions = List.copyOf(exclusions);
    }

    /**
     * Returns the selector of {@code environment}, or empty if it names no proxy.
     *
     * @throws IllegalArgumentException naming the variable if a proxy is not an
     *     {@code http://host:port} URL
     */
    static Optional<EnvironmentProxySelector> from(Map<String, String> environment) {
        ProxyEntry https = proxy(environment, "HTTPS_PROXY");
        ProxyEntry http = proxy(environment, "HTTP_PROXY");
        if (https == null && http == null) {
            return Optional.empty();
        }
        String noProxy = variable(environment, "NO_PROXY");
        List<Exclusion> exclusions = new ArrayList<>();
        boolean all = false;
        for (String entry : noProxy.split(",")) {
            String item = entry.strip().toLowerCase(Locale.ROOT);
            if (item.equals("*")) {
                all = true;
            } else if (!item.isEmpty()) {
                exclusions.add(exclusion(item));
            }
        }
        return Optional.of(new EnvironmentProxySelector(https, http, all, exclusions));
    }

    private static String variable(Map<String, String> environment, String name) {
        String value = environment.get(name);
        if (value == null || value.isEmpty()) {
            value = environment.getOrDefault(name.toLowerCase(Locale.ROOT), "");
        }
        return value.strip();
    }

    private static ProxyEntry proxy(Map<String, String> environment, String name) {
        String value = variable(environment, name);
        if (value.isEmpty()) {
            return null;
        }
        // Go takes a value without a scheme as an http:// URL.
        String text = value.contains("://") ? value : "http://" + value;
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            // The exception's message quotes the whole value, with the proxy password if any.
            throw new IllegalArgumentException(name + " is not a valid proxy URL: "
                    + e.getReason() + " at index " + e.getIndex() + " of the URL (value not"
                    + " shown, as it may contain a password); percent-encode characters such as"
                    + " %, @, # and blanks in the user and password");
        }
        if (!"http".equalsIgnoreCase(uri.getScheme()) || uri.getHost() == null) {
            throw new IllegalArgumentException(name + " must name an HTTP proxy as"
                    + " http://HOST:PORT, found scheme '" + uri.getScheme() + "' and host '"
                    + uri.getHost() + "'");
        }
        int port = uri.getPort() >= 0 ? uri.getPort() : 80;
        Proxy proxy = new Proxy(Proxy.Type.HTTP,
                InetSocketAddress.createUnresolved(uri.getHost(), port));
        return new ProxyEntry(proxy, login(uri.getUserInfo()));
    }

    /** Returns the user and password of a URL's decoded user information, or null. */
    private static PasswordAuthentication login(String userInfo) {
        if (userInfo == null || userInfo.isEmpty()) {
            return null;
        }
        int colon = userInfo.indexOf(':');
        String user = colon < 0 ? userInfo : userInfo.substring(0, colon);
        String password = colon < 0 ? "" : userInfo.substring(colon + 1);
        return new PasswordAuthentication(user, password.toCharArray());
    }

    /**
     * Returns the {@code Proxy-Authorization} value for a request to {@code uri}: Basic with
     * the user and password of the URL of the proxy that {@link #select} picks, or empty if it
     * picks none or one without them. The header is sent with each request rather than after
     * a 407, because the JDK client's authenticator would also take over the registries' 401
     * responses, which the registry client handles itself.
     */
    Optional<String> proxyAuthorization(URI uri) {
        Proxy chosen = select(uri).getFirst();
        for (ProxyEntry entry : new ProxyEntry[] {httpsProxy, httpProxy}) {
            if (entry != null && entry.proxy() == chosen && entry.login() != null) {
                String pair = entry.login().getUserName() + ":"
                        + new String(entry.login().getPassword());
                return Optional.of("Basic " + Base64.getEncoder().encodeToString(
                        pair.getBytes(StandardCharsets.UTF_8)));
            }
        }
        return Optional.empty();
    }

    /**
     * Parses a {@code NO_PROXY} entry such as {@code .example.com}, {@code *.example.com},
     * {@code example.com}, {@code registry:5000}, {@code 10.0.0.0/8} or {@code [::1]:5000}.
     */
    private static Exclusion exclusion(String item) {
        if (item.contains("/")) {
            int slash = item.indexOf('/');
            return new Exclusion(item.substring(0, slash), false,
                    parseNumber(item.substring(slash + 1), "NO_PROXY range " + item), -1);
        }
        String host = item;
        int port = -1;
        if (item.startsWith("[") && item.indexOf(']') > 0) {
            int close = item.indexOf(']');
            host = item.substring(1, close);
            if (item.startsWith(":", close + 1)) {
                port = parseNumber(item.substring(close + 2), "NO_PROXY entry " + item);
            }
        } else if (item.indexOf(':') > 0 && item.indexOf(':') == item.lastIndexOf(':')) {
            host = item.substring(0, item.indexOf(':'));
            port = parseNumber(item.substring(item.indexOf(':') + 1), "NO_PROXY entry " + item);
        }
        if (host.startsWith("*.")) {
            return new Exclusion(host.substring(2), true, -1, port);
        }
        if (host.startsWith(".")) {
            return new Exclusion(host.substring(1), true, -1, port);
        }
        // As in Go, a name matches its subdomains too, and an IP address only itself.
        return new Exclusion(host, literalAddress(host) == null, -1, port);
    }

    private static int parseNumber(String text, String where) {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid " + where + ": '" + text
                    + "' is not a number");
        }
    }

    /** Returns the bytes of an IPv4 or IPv6 literal, or null for a name; never resolves. */
    private static byte[] literalAddress(String host) {
        boolean ipv4 = host.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
        boolean ipv6 = host.contains(":") && host.matches("[0-9a-fA-F:.]+");
        if (!ipv4 && !ipv6) {
            return null;
        }
        try {
            return java.net.InetAddress.getByName(host).getAddress();
        } catch (java.net.UnknownHostException e) {
            return null;
        }
    }

    @Override
    public List<Proxy> select(URI uri) {
        String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
        host = host.replace("[", "").replace("]", "");
        ProxyEntry entry = "https".equalsIgnoreCase(uri.getScheme()) ? httpsProxy : httpProxy;
        if (entry == null || excludeAll || isLoopback(host)) {
            return List.of(Proxy.NO_PROXY);
        }
        int port = uri.getPort() >= 0 ? uri.getPort()
                : "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
        for (Exclusion exclusion : exclusions) {
            if (exclusion.matches(host, port)) {
                return List.of(Proxy.NO_PROXY);
            }
        }
        return List.of(entry.proxy());
    }

    /** Returns whether {@code host} is localhost or a loopback address, which Go never proxies. */
    private static boolean isLoopback(String host) {
        return host.equals("localhost") || host.endsWith(".localhost") || host.equals("::1")
                || host.startsWith("127.") && host.chars().allMatch(c -> c == '.'
                        || Character.isDigit(c));
    }

    @Override
    public void connectFailed(URI uri, SocketAddress address, IOException failure) {
        // The request reports the failure, and the next one goes through the proxy again.
    }

    @Override
    public String toString() {
        return "EnvironmentProxySelector[https=" + httpsProxy + ", http=" + httpProxy
                + ", noProxy=" + (excludeAll ? "*" : exclusions) + "]";
    }
}
