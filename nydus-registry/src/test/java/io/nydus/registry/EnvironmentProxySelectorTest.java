package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The proxy choice of HTTPS_PROXY, HTTP_PROXY and NO_PROXY, without a network. */
class EnvironmentProxySelectorTest {

    private static final ProxySelector SELECTOR = EnvironmentProxySelector.from(Map.of(
            "HTTPS_PROXY", "http://secure-proxy:3128", "http_proxy", "plain-proxy:8080",
            "NO_PROXY", ".corp.example, registry.example:5000, 10.0.0.0/8, [fd00::1]:443"))
            .orElseThrow();

    @ParameterizedTest
    @CsvSource({
        "https://registry-1.docker.io/v2/, secure-proxy:3128",
        "http://registry.lan:5000/v2/, plain-proxy:8080",
        "https://127.0.0.1:5000/v2/, DIRECT",
        "https://localhost/v2/, DIRECT",
        "https://[::1]:5000/v2/, DIRECT",
        "https://a.corp.example/v2/, DIRECT",
        "https://corp.example/v2/, DIRECT",
        "https://notcorp.example/v2/, secure-proxy:3128",
        "https://registry.example:5000/v2/, DIRECT",
        "https://registry.example/v2/, secure-proxy:3128",
        "https://10.20.30.40/v2/, DIRECT",
        "https://11.0.0.1/v2/, secure-proxy:3128",
        "https://[fd00::1]/v2/, DIRECT"})
    void choosesProxyPerHost(String uri, String expected) {
        Proxy proxy = SELECTOR.select(URI.create(uri)).getFirst();

        String chosen = "DIRECT";
        if (proxy.address() instanceof InetSocketAddress address) {
            chosen = address.getHostString() + ":" + address.getPort();
        }
        assertEquals(expected, chosen);
    }

    @org.junit.jupiter.api.Test
    void proxyLoginGoesOnlyToItsProxy() {
        EnvironmentProxySelector selector = EnvironmentProxySelector.from(Map.of(
                "HTTPS_PROXY", "http://carol:s%40cret@proxy.corp:3128",
                "HTTP_PROXY", "http://plain.corp:8080", "NO_PROXY", "inside.corp"))
                .orElseThrow();

        assertEquals(java.util.Optional.of("Basic " + java.util.Base64.getEncoder()
                .encodeToString("carol:s@cret".getBytes(java.nio.charset.StandardCharsets.UTF_8))),
                selector.proxyAuthorization(URI.create("https://registry.example/v2/")));
        assertTrue(selector.proxyAuthorization(URI.create("http://registry.example/v2/"))
                .isEmpty());
        assertTrue(selector.proxyAuthorization(URI.create("https://inside.corp/v2/"))
                .isEmpty());
        assertFalse(selector.toString().contains("s@cret"), selector.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"socks5://127.0.0.1:1080", "https://proxy:443", "http://"})
    void rejectsProxyThatIsNotHttp(String value) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EnvironmentProxySelector.from(Map.of("HTTPS_PROXY", value)));

        assertTrue(e.getMessage().contains("HTTPS_PROXY"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://carol:50%secret@proxy:3128",
        "http://carol:my secret@proxy:3128", "carol:secret^1@proxy:3128"})
    void invalidProxyUrlHidesPassword(String value) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EnvironmentProxySelector.from(Map.of("HTTPS_PROXY", value)));

        assertTrue(e.getMessage().contains("HTTPS_PROXY"), e.getMessage());
        assertFalse(e.getMessage().contains("secret"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "  "})
    void emptyVariablesNameNoProxy(String value) {
        assertTrue(EnvironmentProxySelector.from(Map.of("HTTP_PROXY", value)).isEmpty());
    }
}
