package io.nydus.registry;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends registry requests: picks the scheme, adds authorization, follows redirects, retries
 * failed idempotent requests with backoff, and sends a request that the registry rejected
 * with 401 once more with a new token if its body can be created again.
 */
final class HttpTransport implements AutoCloseable {

    /** Settings of a transport. */
    record Settings(TransportMode mode, SSLContext sslContext, Duration connectTimeout,
            Duration requestTimeout, Duration readTimeout, RetryPolicy retryPolicy,
            String userAgent, java.util.Optional<EnvironmentProxySelector> proxy) {
    }

    private static final Logger LOG = LoggerFactory.getLogger(HttpTransport.class);
    private static final int MAX_REDIRECTS = 10;
    private static final Set<Integer> REDIRECTS = Set.of(301, 302, 303, 307, 308);
    private static final int MAX_TOKEN_RESPONSE_BYTES = 1 << 20;

    private final Settings settings;
    private final HttpClient client;
    private final Authenticator authenticator;
    /** Registries that an {@link TransportMode#INSECURE} transport reaches over plain HTTP. */
    private final Set<String> plainHttpRegistries = ConcurrentHashMap.newKeySet();
    private final RedirectCache redirects = new RedirectCache();
    private final SchemeUpgrades upgrades = new SchemeUpgrades();
    /** Runs the idle checks of response bodies. */
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("registry-read-timeout").factory());

    HttpTransport(Settings settings, CredentialProvider credentials, java.time.Clock clock) {
        this.settings = settings;
        HttpClient.Builder builder = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(settings.connectTimeout())
                .sslContext(settings.sslContext());
        settings.proxy().ifPresent(builder::proxy);
        this.client = builder.build();
        this.authenticator = new Authenticator(credentials, clock, this::getToken);
    }

    SSLContext sslContext() {
        return settings.sslContext();
    }

    /** Reads a response inside the retry loop, so that a failed read is retried too. */
    @FunctionalInterface
    interface ResponseReader<T> {
        T read(HttpResponse<InputStream> response) throws IOException;
    }

    /**
     * Sends {@code call} and returns the final response, whose body the caller must close.
     *
     * @throws RegistryException if every attempt failed to connect or send
     */
    HttpResponse<InputStream> send(RequestTarget target, HttpCall call) throws IOException {
        return exchange(target, call, response -> response);
    }

    /** Sends {@code call} and reads the whole body, rejecting a body over {@code maxBytes}. */
    BufferedResponse sendBuffered(RequestTarget target, HttpCall call, int maxBytes)
            throws IOException {
        return exchange(target, call, response -> {
            try (InputStream body = response.body()) {
                byte[] bytes = body.readNBytes(maxBytes);
                if (body.read() != -1) {
                    throw new RegistryException(target, call.method() + " " + target.describe()
                            + ": response body is larger than " + maxBytes + " bytes", null);
                }
                return new BufferedResponse(response, bytes);
            }
        });
    }

    /**
     * Sends {@code call} and applies {@code reader} to the final response; an I/O failure of
     * the reader is retried like one of the request. A {@link RegistryException} from the
     * reader is never retried.
     */
    <T> T exchange(RequestTarget target, HttpCall call, ResponseReader<T> reader)
            throws IOException {
        return exchange(target, call, reader, true);
    }

    /**
     * Sends {@code call} like {@link #exchange(RequestTarget, HttpCall, ResponseReader)}.
     *
     * @param renewRedirect whether a redirected request that the other host rejects with 401
     *     or 403, as once a signed URL has expired, goes to the registry once more
     */
    private <T> T exchange(RequestTarget target, HttpCall call, ResponseReader<T> reader,
            boolean renewRedirect) throws IOException {
        long start = System.nanoTime();
        for (int attempt = 1; ; attempt++) {
            try {
                HttpResponse<InputStream> response =
                        sendAuthorized(target, call, renewRedirect);
                int status = response.statusCode();
                if (!isRetryableStatus(status)) {
                    return reader.read(response);
                }
                Optional<Duration> requested = retryAfter(response);
                Duration delay = settings.retryPolicy().delayBefore(attempt + 1, requested);
                if (!canRetry(call, null, attempt + 1, start, delay)) {
                    logGivingUp(target, call, status, attempt, requested);
                    return reader.read(response);
                }
                discard(response);
                backOff(target, call, attempt + 1, "HTTP " + status, delay);
            } catch (IOException e) {
                Duration delay = settings.retryPolicy().delayBefore(attempt + 1);
                if (!canRetry(call, e, attempt + 1, start, delay)) {
                    throw failure(target, call, e, attempt);
                }
                backOff(target, call, attempt + 1, RegistryException.describe(e), delay);
            }
        }
    }

    /**
     * Logs why a request that failed with a retryable status goes no further, because the
     * caller's error names the status alone.
     */
    private void logGivingUp(RequestTarget target, HttpCall call, int status, int attempts,
            Optional<Duration> requested) {
        RetryPolicy policy = settings.retryPolicy();
        if (call.retryable() && attempts < policy.maxAttempts() && requested.isPresent()) {
            LOG.warn("giving up on {} {}: HTTP {} requests a retry after {} s, past the retry"
                    + " time limit of {} s", call.method(), target.describe(), status,
                    requested.get().toSeconds(), policy.maxElapsed().toSeconds());
        } else if (attempts > 1) {
            LOG.warn("giving up on {} {}: HTTP {} on all {} attempts", call.method(),
                    target.describe(), status, attempts);
        }
    }

    private static Optional<Duration> retryAfter(HttpResponse<?> response) {
        return RetryAfter.parse(response.headers().firstValue("Retry-After"), Instant.now());
    }

    /**
     * Sends {@code call}, a GET of part of a blob, like {@link #exchange}, but first to the
     * storage URL that an earlier such request was redirected to, if any. When that URL fails,
     * as once its signature has expired, the request goes to the registry for a new one.
     */
    <T> T exchangeReusingRedirect(RequestTarget target, HttpCall call,
            ResponseReader<T> reader) throws IOException {
        String key = RedirectCache.key(target, call);
        Optional<URI> cached = redirects.get(key);
        if (cached.isPresent()) {
            Optional<T> result = tryCachedRedirect(target, call, cached.get(), reader);
            if (result.isPresent()) {
                return result.get();
            }
            redirects.remove(key, cached.get());
        }
        // After an expired storage URL, the registry is asked once for a new one, and a
        // rejection of that one too is the result.
        boolean renewRedirect = cached.isEmpty();
        // Only storage URLs are cached here. A registry that redirected itself to HTTPS is
        // reached there directly by every request, through the scheme upgrades.
        return exchange(target, call, response -> {
            if (response.statusCode() == 206 && foreignOrigin(target, response).isPresent()) {
                redirects.put(key, response.uri());
            }
            return reader.read(response);
        }, renewRedirect);
    }

    /**
     * Sends {@code call} to the cached storage URL {@code location}, without the registry's
     * authorization, and returns the result, or empty if the URL failed.
     */
    private <T> Optional<T> tryCachedRedirect(RequestTarget target, HttpCall call, URI location,
            ResponseReader<T> reader) throws InterruptedIOException {
        String failure;
        try {
            HttpResponse<InputStream> response = sendOnce(call, location, null);
            if (response.statusCode() / 100 == 2) {
                return Optional.of(reader.read(response));
            }
            discard(response);
            failure = "HTTP " + response.statusCode();
        } catch (InterruptedIOException e) {
            if (e.getClass() == InterruptedIOException.class) {
                throw e;
            }
            failure = RegistryException.describe(e);
        } catch (IOException e) {
            failure = RegistryException.describe(e);
        }
        LOG.info("{} {}: the storage URL on {} that the registry redirected to before failed"
                + " ({}), as it does once its signature has expired; asking the registry again",
                call.method(), target.describe(), location.getScheme() + "://"
                        + authority(location), failure);
        return Optional.empty();
    }

    /** A response with its whole body. */
    record BufferedResponse(HttpResponse<InputStream> response, byte[] body) {

        int statusCode() {
            return response.statusCode();
        }

        java.util.Optional<String> header(String name) {
            return response.headers().firstValue(name);
        }
    }

    /**
     * Sends {@code call} with the authorization it needs. A 401 response drops the rejected
     * token, even for a call that is never sent again, so that the next request fetches a new
     * one. A call that {@link HttpCall.Resend} allows then goes once more with a new token or
     * credentials, and a second 401 is returned to the caller.
     */
    private HttpResponse<InputStream> sendAuthorized(RequestTarget target, HttpCall call,
            boolean renewRedirect) throws IOException {
        String authorization = authenticator.authorization(target, call.scope());
        HttpResponse<InputStream> response =
                sendFollowingRedirects(target, call, authorization, renewRedirect);
        requireProxyAccepted(target, call, response);
        // The challenge of another host, such as a storage service that a redirect named, is
        // not the registry's, and no registry token can pass it.
        if (response.statusCode() != 401 || foreignOrigin(target, response).isPresent()) {
            return response;
        }
        List<String> challenges = response.headers().allValues("WWW-Authenticate");
        boolean renewable = authenticator.onUnauthorized(target, call.scope(), challenges,
                authorization);
        if (!renewable || call.resend() == HttpCall.Resend.NEVER) {
            return response;
        }
        discard(response);
        String renewed = authenticator.authorization(target, call.scope());
        if (authorization != null && authorization.startsWith("Bearer ")) {
            LOG.info("{} {}: the registry rejected the bearer token with HTTP 401, as it does"
                    + " once a token has expired or was revoked, so the request goes again with"
                    + " a new token", call.method(), target.describe());
        }
        return sendFollowingRedirects(target, call, renewed, renewRedirect);
    }

    /**
     * Throws if an HTTP proxy rejected the request with 407. The JDK client returns the 407 of
     * an HTTPS tunnel without a body, and no retry or new token can pass it.
     */
    private static void requireProxyAccepted(RequestTarget target, HttpCall call,
            HttpResponse<InputStream> response) throws RegistryException {
        if (response.statusCode() != 407) {
            return;
        }
        discard(response);
        throw new RegistryException(target, call.method() + " " + target.describe()
                + ": the HTTP proxy rejected the request with 407 (proxy authentication"
                + " required); give the proxy's user and password in HTTPS_PROXY or HTTP_PROXY"
                + " as http://USER:PASSWORD@HOST:PORT", null);
    }

    /**
     * Sends {@code call} and follows the redirects that {@link MethodRedirects} allows, up to
     * {@link #MAX_REDIRECTS}. Each hop gets {@code authorization} by the
     * {@link RedirectCredentials} rule, and none after a hop from HTTPS to plain HTTP. If
     * {@code renewRedirect} allows, a redirected request that the other host rejects with 401
     * or 403 starts once more at the registry.
     */
    private HttpResponse<InputStream> sendFollowingRedirects(RequestTarget target, HttpCall call,
            String authorization, boolean renewRedirect) throws IOException {
        // Credentials go only to the registry they were issued for, never to another service
        // that an upload Location or a redirect names, such as a storage service.
        URI registryOrigin = registryOrigin(target);
        URI start = resolve(target.registry(), call.location());
        URI uri = start;
        URI previous = null;
        boolean redirectRenewed = !renewRedirect;
        boolean credentialsKept = true;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            boolean toRegistry = RedirectCredentials.mayCarry(registryOrigin, uri);
            boolean downgrade = previous != null && RedirectCredentials.isDowngrade(previous, uri);
            credentialsKept = credentialsKept && toRegistry && !downgrade;
            String sentAuthorization = credentialsKept ? authorization : null;
            HttpResponse<InputStream> response =
                    sendToHop(target, call, uri, sentAuthorization, hop > 0);
            boolean rejected = isRejection(response.statusCode());
            if (hop > 0 && !toRegistry && rejected && !redirectRenewed) {
                // A signed storage URL expires, and the registry hands out a new one.
                redirectRenewed = true;
                credentialsKept = true;
                previous = null;
                discard(response);
                LOG.warn("{} {}: {}://{} rejected the redirected request with HTTP {}, as"
                        + " storage services do once a signed URL has expired; asking the"
                        + " registry again", call.method(), target.describe(), uri.getScheme(),
                        authority(uri), response.statusCode());
                uri = start;
                continue;
            }
            String location = response.headers().firstValue("Location").orElse(null);
            if (!REDIRECTS.contains(response.statusCode()) || location == null) {
                return response;
            }
            discard(response);
            URI next = redirectTarget(target, call, uri, location, "the registry");
            MethodRedirects.requireFollowable(target, call, uri, response.statusCode(), next);
            rememberUpgrade(target, registryOrigin, uri, next);
            LOG.debug("{} {} redirected to {}", call.method(), target.describe(),
                    withoutQuery(next));
            previous = uri;
            uri = next;
        }
        throw new RegistryException(target, call.method() + " " + target.describe()
                + ": more than " + MAX_REDIRECTS + " redirects", null);
    }

    /**
     * Records a redirect from the registry's plain HTTP origin to HTTPS on the same host, so
     * that later requests to the registry start on HTTPS.
     */
    private void rememberUpgrade(RequestTarget target, URI registryOrigin, URI from, URI to) {
        boolean fromRegistry = from.getScheme().equalsIgnoreCase(registryOrigin.getScheme())
                && from.getHost().equalsIgnoreCase(registryOrigin.getHost())
                && RedirectCredentials.port(from) == RedirectCredentials.port(registryOrigin);
        if (!fromRegistry || !SchemeUpgrades.isUpgrade(from, to)) {
            return;
        }
        if (upgrades.remember(target.registry(), to)) {
            LOG.info("registry {} redirected plain HTTP to https://{}, so its later requests"
                    + " go there first", target.registry(), authority(to));
        }
    }

    /**
     * Returns the absolute URI that a redirect's {@code location} from {@code sender} names,
     * relative to {@code from}.
     *
     * @throws RegistryException if it is not a valid HTTP or HTTPS URL
     */
    private static URI redirectTarget(RequestTarget target, HttpCall call, URI from,
            String location, String sender) throws RegistryException {
        URI resolved = null;
        try {
            resolved = from.resolve(new URI(location));
        } catch (URISyntaxException e) {
            // Reported below with the location.
        }
        boolean http = resolved != null && resolved.getHost() != null
                && ("http".equals(resolved.getScheme()) || "https".equals(resolved.getScheme()));
        if (http) {
            return resolved;
        }
        // A signature in the query grants access, so the query is left out.
        int query = location.indexOf('?');
        String redacted = query < 0 ? location : location.substring(0, query) + "?...";
        throw new RegistryException(target, call.method() + " " + target.describe()
                + ": invalid redirect location '" + redacted + "' from " + sender + ": not an"
                + " HTTP or HTTPS URL", null);
    }

    /**
     * Sends {@code call} to {@code uri}. A failed connection to the location of a redirect
     * names that location, because the registry itself responded.
     */
    private HttpResponse<InputStream> sendToHop(RequestTarget target, HttpCall call, URI uri,
            String authorization, boolean redirected) throws IOException {
        try {
            return sendWithFallback(target, call, uri, authorization, redirected);
        } catch (ConnectException e) {
            if (!redirected) {
                throw e;
            }
            throw new RedirectTargetException(uri.getScheme() + "://" + uri.getRawAuthority(),
                    e);
        }
    }

    /** A failed connection to the host that a registry redirected a request to. */
    private static final class RedirectTargetException extends ConnectException {
        private static final long serialVersionUID = 1L;
        private final String location;

        RedirectTargetException(String location, ConnectException cause) {
            super("could not connect to " + location);
            this.location = location;
            initCause(cause);
        }
    }

    /**
     * Sends {@code call} to {@code uri}. The first hop goes once more over plain HTTP when the
     * HTTPS origin that the registry upgraded to is gone ({@link #originGone}), or when it
     * fails to connect or to set up TLS and an insecure transport allows plain HTTP.
     */
    private HttpResponse<InputStream> sendWithFallback(RequestTarget target, HttpCall call,
            URI uri, String authorization, boolean redirected) throws IOException {
        try {
            return sendOnce(call, uri, authorization);
        } catch (IOException e) {
            Optional<URI> upgrade = upgrades.origin(target.registry());
            boolean upgraded = !redirected && upgrade.isPresent() && isOn(uri, upgrade.get());
            if (upgraded && originGone(call, e)) {
                return sendWithoutUpgrade(target, call, uri, upgrade.get(), authorization, e);
            }
            boolean noHttps = e instanceof SSLException || e instanceof ConnectException;
            if (!noHttps || !canFallBackToHttp(target, call, uri)) {
                throw e;
            }
            plainHttpRegistries.add(target.registry());
            LOG.warn("registry {} failed over HTTPS ({}); using plain HTTP because the transport"
                    + " is insecure", target.registry(), e.toString());
            return sendOnce(call, withScheme(uri, "http"), authorization);
        }
    }

    /**
     * Returns whether {@code call} failed because its origin is gone: no connection or no TLS,
     * or, for a GET or HEAD, a connection closed before the reply, as a pooled connection to a
     * stopped server is. Only those carry no body that the failed attempt may have used up.
     */
    private static boolean originGone(HttpCall call, IOException e) {
        if (e instanceof SSLException || e instanceof ConnectException) {
            return true;
        }
        boolean bodiless = call.method().equals("GET") || call.method().equals("HEAD");
        return bodiless && !(e instanceof HttpTimeoutException)
                && !(e instanceof InterruptedIOException);
    }

    private static boolean isOn(URI uri, URI origin) {
        return uri.getScheme().equalsIgnoreCase(origin.getScheme())
                && uri.getRawAuthority().equalsIgnoreCase(origin.getRawAuthority());
    }

    /**
     * Sends {@code call} to the registry's plain HTTP origin after the HTTPS origin it
     * redirected to before failed, as when the proxy that upgraded it is gone, and drops that
     * upgrade. A registry that still redirects records the upgrade again.
     */
    private HttpResponse<InputStream> sendWithoutUpgrade(RequestTarget target, HttpCall call,
            URI uri, URI upgrade, String authorization, IOException failure) throws IOException {
        upgrades.forget(target.registry(), upgrade);
        URI plain = URI.create(configuredOrigin(target.registry())
                + uri.toString().substring(upgrade.toString().length()));
        LOG.warn("registry {} failed on https://{}, which it redirected plain HTTP to before"
                + " ({}); sending {} {} over plain HTTP again", target.registry(),
                authority(upgrade), failure.toString(), call.method(), target.describe());
        return sendOnce(call, plain, authorization);
    }

    private boolean canFallBackToHttp(RequestTarget target, HttpCall call, URI uri) {
        return settings.mode() == TransportMode.INSECURE && "https".equals(uri.getScheme())
                && !call.location().contains("://")
                && !plainHttpRegistries.contains(target.registry());
    }

    private HttpResponse<InputStream> sendOnce(HttpCall call, URI uri, String authorization)
            throws IOException {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri)
                .timeout(settings.requestTimeout())
                .header("User-Agent", settings.userAgent())
                .method(call.method(), call.body().create());
        call.headers().forEach(request::header);
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        settings.proxy().flatMap(proxy -> proxy.proxyAuthorization(uri))
                .ifPresent(value -> request.header("Proxy-Authorization", value));
        try {
            return client.send(request.build(),
                    info -> new IdleTimeoutSubscriber(settings.readTimeout(), timer));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while sending " + call.method() + " "
                    + withoutQuery(uri));
        }
    }

    /**
     * Drops the cached bearer tokens, as after a change of credentials, and the cached storage
     * URLs, which the registry granted under the former credentials.
     */
    void forgetTokens() {
        authenticator.forgetTokens();
        redirects.clear();
    }

    private Authenticator.TokenResponse getToken(RequestTarget target, URI uri,
            String authorization, String form) throws IOException {
        HttpCall call = form == null
                ? new HttpCall("GET", uri.toString(), Map.of("Accept", "application/json"),
                        BodyPublishers::noBody, "", HttpCall.Resend.AFTER_ANY_FAILURE)
                : new HttpCall("POST", uri.toString(), Map.of("Accept", "application/json",
                        "Content-Type", "application/x-www-form-urlencoded"),
                        () -> BodyPublishers.ofString(form), "",
                        HttpCall.Resend.AFTER_ANY_FAILURE);
        long start = System.nanoTime();
        for (int attempt = 1; ; attempt++) {
            try {
                TokenExchange exchange = sendTokenRequest(target, call, uri, authorization);
                HttpResponse<InputStream> response = exchange.response();
                int status = response.statusCode();
                Duration delay = settings.retryPolicy().delayBefore(attempt + 1,
                        retryAfter(response));
                try (InputStream body = response.body()) {
                    byte[] bytes = body.readNBytes(MAX_TOKEN_RESPONSE_BYTES);
                    if (!isRetryableStatus(status)
                            || !canRetry(call, null, attempt + 1, start, delay)) {
                        return new Authenticator.TokenResponse(status, bytes,
                                exchange.withheldFrom());
                    }
                }
                backOff(target, call, attempt + 1, "HTTP " + status + " from the token service",
                        delay);
            } catch (RegistryException e) {
                throw e;
            } catch (IOException e) {
                Duration delay = settings.retryPolicy().delayBefore(attempt + 1);
                if (!canRetry(call, e, attempt + 1, start, delay)) {
                    throw new RegistryException(target, "token request for " + target.describe()
                            + " to " + withoutQuery(uri) + " failed: "
                            + RegistryException.describe(e), e);
                }
                backOff(target, call, attempt + 1, e.toString(), delay);
            }
        }
    }

    /**
     * Sends a token request to {@code realm} and follows the redirects that token services
     * behind a CDN or a single sign-on gateway send. Basic credentials follow the
     * {@link RedirectCredentials} rule. A POST carries the identity token in its body, so it
     * follows only a 307 or 308, which keep the method and body, to a hop that may receive
     * credentials.
     */
    private TokenExchange sendTokenRequest(RequestTarget target, HttpCall call, URI realm,
            String authorization) throws IOException {
        URI uri = realm;
        URI previous = realm;
        String withheldFrom = null;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            if (withheldFrom == null && !mayCarryAfter(realm, previous, uri)) {
                withheldFrom = uri.getScheme() + "://" + authority(uri);
            }
            HttpResponse<InputStream> response =
                    sendOnce(call, uri, withheldFrom == null ? authorization : null);
            requireProxyAccepted(target, call, response);
            String location = response.headers().firstValue("Location").orElse(null);
            if (!REDIRECTS.contains(response.statusCode()) || location == null) {
                return new TokenExchange(response, withheldFrom);
            }
            discard(response);
            URI next = redirectTarget(target, call, uri, location,
                    "token service " + withoutQuery(realm));
            if (call.method().equals("POST")) {
                requireFormMayFollow(target, realm, next, response.statusCode(),
                        withheldFrom == null && mayCarryAfter(realm, uri, next));
            }
            LOG.debug("token request for {} redirected from {} to {}", target.describe(),
                    withoutQuery(uri), withoutQuery(next));
            previous = uri;
            uri = next;
        }
        throw new RegistryException(target, "token request for " + target.describe() + " to "
                + withoutQuery(realm) + ": more than " + MAX_REDIRECTS + " redirects", null);
    }

    /**
     * Returns whether credentials meant for {@code origin} may go to {@code hop}, reached by a
     * redirect from {@code previous}.
     */
    private static boolean mayCarryAfter(URI origin, URI previous, URI hop) {
        return RedirectCredentials.mayCarry(origin, hop)
                && !RedirectCredentials.isDowngrade(previous, hop);
    }

    /**
     * The final response to a token request, and {@code scheme://authority} of the first
     * redirect hop that got no credentials, or null if every hop got them.
     */
    private record TokenExchange(HttpResponse<InputStream> response, String withheldFrom) {
    }

    /**
     * Throws unless a POST token request, whose form contains the identity token, may follow
     * a redirect with {@code status} to {@code next}.
     */
    private static void requireFormMayFollow(RequestTarget target, URI realm, URI next,
            int status, boolean credentialsAllowed) throws RegistryException {
        String problem = null;
        if (status != 307 && status != 308) {
            problem = "HTTP " + status + " would turn the POST into a GET without the form";
        } else if (!credentialsAllowed) {
            problem = "the identity token in the form goes only to the realm's host, and never"
                    + " from HTTPS to plain HTTP";
        }
        if (problem != null) {
            throw new RegistryException(target, "token request for " + target.describe()
                    + ": token service " + withoutQuery(realm) + " redirected the POST with"
                    + " the identity token to " + withoutQuery(next) + ", which is not"
                    + " followed: " + problem, null);
        }
    }

    /**
     * Returns the URI of {@code location} on {@code registry}: on the HTTPS origin that the
     * registry upgraded to if it did, else on its configured origin.
     */
    private URI resolve(String registry, String location) {
        if (location.contains("://")) {
            return URI.create(location);
        }
        String origin = upgrades.origin(registry).map(URI::toString)
                .orElseGet(() -> configuredOrigin(registry));
        return URI.create(origin + location);
    }

    /** Returns {@code scheme://host:port} that the transport mode gives {@code registry}. */
    private String configuredOrigin(String registry) {
        String scheme = switch (settings.mode()) {
            case PLAIN_HTTP -> "http";
            case INSECURE -> plainHttpRegistries.contains(registry) ? "http" : "https";
            case HTTPS -> "https";
        };
        return scheme + "://" + ImageReference.apiHost(registry);
    }

    /**
     * Returns {@code location}, a header of {@code response}, as an absolute URI. A location
     * with neither a scheme nor a leading slash starts with a host, as some registries send it
     * and containerd reads it, and gets the scheme of the request.
     *
     * @throws IllegalArgumentException if the location is not a valid URI reference or not
     *     an HTTP or HTTPS URL
     */
    static String resolveLocation(HttpResponse<?> response, String location) {
        String reference = location;
        if (!location.startsWith("/") && !location.contains("://")) {
            reference = response.uri().getScheme() + "://" + location;
        }
        URI resolved = response.uri().resolve(reference);
        if (!"http".equals(resolved.getScheme()) && !"https".equals(resolved.getScheme())) {
            throw new IllegalArgumentException("not an HTTP or HTTPS URL");
        }
        return resolved.toString();
    }

    /**
     * Returns {@code uri} without user information, query and fragment, for logs and errors:
     * the query of a storage URL that a registry redirects to may carry a signature that grants
     * access.
     */
    static String withoutQuery(URI uri) {
        return uri.getScheme() + "://" + authority(uri) + uri.getRawPath();
    }

    /**
     * Returns {@code host:port} of {@code uri} without the user information that a redirect's
     * Location may carry, because that can contain a password.
     */
    static String authority(URI uri) {
        String authority = uri.getRawAuthority();
        return authority == null ? "" : authority.substring(authority.lastIndexOf('@') + 1);
    }

    private static URI withScheme(URI uri, String scheme) {
        return URI.create(scheme + uri.toString().substring(uri.getScheme().length()));
    }

    private static boolean isRejection(int status) {
        return status == 401 || status == 403;
    }

    /**
     * Returns the registry's URL with the scheme that the transport mode gives it. An upgrade
     * to HTTPS leaves it as it is, because credentials follow that upgrade by the
     * {@link RedirectCredentials} rule.
     */
    private URI registryOrigin(RequestTarget target) {
        return URI.create(configuredOrigin(target.registry()) + "/v2/");
    }

    /**
     * Returns {@code scheme://authority} of the host that sent {@code response} if that host
     * gets no registry credentials, as a storage service that a redirect named. A registry
     * that redirected itself from plain HTTP to HTTPS is still the registry.
     */
    Optional<String> foreignOrigin(RequestTarget target, HttpResponse<?> response) {
        URI uri = response.uri();
        if (RedirectCredentials.mayCarry(registryOrigin(target), uri)) {
            return Optional.empty();
        }
        return Optional.of(uri.getScheme() + "://" + uri.getRawAuthority());
    }

    private static boolean isRetryableStatus(int status) {
        return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
    }

    /**
     * Returns whether attempt {@code next} may start after {@code delay}: the request is
     * retryable, the failure is not a TLS failure (which would repeat), a registry outcome or an
     * interrupt, and the policy allows another attempt. Timeouts are retried.
     */
    private boolean canRetry(HttpCall call, IOException failure, int next, long startNanos,
            Duration delay) {
        boolean interrupted = failure != null
                && failure.getClass() == InterruptedIOException.class;
        if (!call.retryable() || failure instanceof SSLException || interrupted
                || failure instanceof RegistryException) {
            return false;
        }
        Duration elapsed = Duration.ofNanos(System.nanoTime() - startNanos);
        return settings.retryPolicy().allows(next, elapsed, delay);
    }

    private void backOff(RequestTarget target, HttpCall call, int attempt, String reason,
            Duration delay) throws InterruptedIOException {
        LOG.warn("retrying {} {} after {}: attempt {} of {} in {} ms", call.method(),
                target.describe(), reason, attempt, settings.retryPolicy().maxAttempts(),
                delay.toMillis());
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry "
                    + call.method() + " " + target.describe());
        }
    }

    private RegistryException failure(RequestTarget target, HttpCall call, IOException e,
            int attempts) {
        if (e instanceof RegistryException registryException) {
            return registryException;
        }
        String tries = attempts == 1 ? "" : " after " + attempts + " attempts";
        RegistryException wrapped = new RegistryException(target, call.method() + " "
                + target.describe() + " failed" + tries + ": " + reason(target, e), e);
        // An interrupt stops the command, so nothing restarts the request. A socket timeout
        // is an InterruptedIOException too, but a subclass, and stays transient.
        boolean interrupted = e.getClass() == InterruptedIOException.class;
        wrapped.setTransient(!(e instanceof SSLException) && !interrupted);
        return wrapped;
    }

    /** Returns what went wrong, with the step that usually fixes it. */
    private String reason(RequestTarget target, IOException e) {
        if (e instanceof RedirectTargetException redirect) {
            return "could not connect to " + redirect.location + ", where " + target.registry()
                    + " redirected the request: " + RegistryException.describe(e.getCause());
        }
        if (e instanceof ConnectException) {
            // The JDK client reports a refused connection without a message.
            return "could not connect to " + target.registry() + " (is a registry listening"
                    + " there?): " + RegistryException.describe(e);
        }
        if (e instanceof SSLException && settings.mode() == TransportMode.HTTPS) {
            String detail = String.valueOf(e.getMessage());
            String hint = detail.contains("plaintext connection")
                    ? "; the registry answers in plain HTTP, so reach it that way (nydusify's"
                            + " --plain-http, or \"scheme\": \"http\" for nydusd)"
                    : "; if the registry's certificate comes from a private CA, add that CA to"
                            + " the system trust store or name its PEM file in "
                            + TlsContexts.CERT_FILE_VARIABLE + " (nydusd also takes"
                            + " ca_cert_files), or skip verification (nydusify's"
                            + " --source-insecure or --target-insecure)";
            return RegistryException.describe(e) + hint;
        }
        return RegistryException.describe(e);
    }

    /** Closes a response body that will not be read. */
    static void discard(HttpResponse<InputStream> response) {
        if (response.body() == null) {
            return;
        }
        try {
            response.body().close();
        } catch (IOException e) {
            LOG.debug("closing an unread response body of {} failed: {}",
                    withoutQuery(response.uri()), e.toString());
        }
    }

    @Override
    public void close() {
        client.close();
        timer.shutdownNow();
    }
}
