package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.DateTimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the {@code Authorization} header of registry requests: none until a registry
 * responds with 401, then Basic credentials or a bearer token from the token service that its
 * challenge names.
 * Tokens are cached per registry and scope and fetched again shortly before they expire or
 * when the registry rejects them. Concurrent requests that need a new token for the same
 * registry and scope share one token request, so that a token that expires while many range
 * reads are in flight costs the token service one request, not one per read.
 */
final class Authenticator {

    /**
     * Sends a request to a token service and returns its status and body: a GET with
     * {@code authorization} (or none if null) when {@code form} is null, else a POST of the
     * {@code application/x-www-form-urlencoded} {@code form}.
     */
    @FunctionalInterface
    interface TokenService {
        TokenResponse send(RequestTarget target, URI uri, String authorization, String form)
                throws IOException;
    }

    /**
     * The status and body of a token service response.
     *
     * @param credentialsWithheldFrom {@code scheme://authority} of the first redirect hop that
     *     got no credentials, or null if every hop got them
     */
    record TokenResponse(int statusCode, byte[] body, String credentialsWithheldFrom) {
    }

    private static final Logger LOG = LoggerFactory.getLogger(Authenticator.class);
    private static final String CLIENT_ID = "nydus-registry-client";

    private final CredentialProvider credentials;
    private final Clock clock;
    private final TokenService tokenService;
    private final Map<String, AuthChallenge> challenges = new ConcurrentHashMap<>();
    private final Map<String, BearerToken> tokens = new ConcurrentHashMap<>();
    /** The token requests under way, by the key of {@link #tokens} that they will fill. */
    private final Map<String, CompletableFuture<BearerToken>> fetches =
            new ConcurrentHashMap<>();
    /** Counts {@link #forgetTokens} calls, so that a fetch that overlaps one stores nothing. */
    private final AtomicLong generation = new AtomicLong();

    Authenticator(CredentialProvider credentials, Clock clock, TokenService tokenService) {
        this.credentials = credentials;
        this.clock = clock;
        this.tokenService = tokenService;
    }

    /**
     * Returns the {@code Authorization} value for a request on {@code target} that needs
     * {@code scope}, fetching a token if needed, or null to send the request without one.
     */
    String authorization(RequestTarget target, String scope) throws IOException {
        AuthChallenge challenge = challenges.get(target.registry());
        if (challenge == null) {
            return null;
        }
        if (challenge.isBasic()) {
            return login(target).filter(found -> !found.hasIdentityToken())
                    .map(Credentials::basicAuthorization).orElse(null);
        }
        if (!challenge.isBearer()) {
            return null;
        }
        String key = tokenKey(target, scope);
        Optional<BearerToken> cached = freshToken(key);
        if (cached.isPresent()) {
            return cached.get().authorization();
        }
        return sharedFetch(target, challenge, scope, key).authorization();
    }

    private static String tokenKey(RequestTarget target, String scope) {
        return target.registry() + " " + scope;
    }

    private Optional<BearerToken> freshToken(String key) {
        BearerToken token = tokens.get(key);
        return token != null && token.isFresh(clock.instant()) ? Optional.of(token)
                : Optional.empty();
    }

    /**
     * Returns a new token for {@code key}: the first request fetches it, and requests that
     * arrive while that fetch runs wait for its result. If the fetching thread was
     * interrupted, a waiting request fetches the token itself.
     */
    private BearerToken sharedFetch(RequestTarget target, AuthChallenge challenge, String scope,
            String key) throws IOException {
        while (true) {
            CompletableFuture<BearerToken> own = new CompletableFuture<>();
            CompletableFuture<BearerToken> running = fetches.putIfAbsent(key, own);
            if (running == null) {
                return fetchAsLeader(target, challenge, scope, key, own);
            }
            Optional<BearerToken> shared = awaitFetch(target, challenge, scope, running);
            if (shared.isPresent()) {
                return shared.get();
            }
        }
    }

    /**
     * Fetches the token for {@code key} and hands the result to the requests that wait on
     * {@code flight}. The token is stored before the flight ends, so that a request which
     * finds no flight finds the token.
     */
    private BearerToken fetchAsLeader(RequestTarget target, AuthChallenge challenge,
            String scope, String key, CompletableFuture<BearerToken> flight) throws IOException {
        try {
            long started = generation.get();
            // Another fetch may have stored a token between the caller's check and this one.
            Optional<BearerToken> stored = freshToken(key);
            BearerToken token = stored.isPresent() ? stored.get()
                    : fetchToken(target, challenge, scope);
            // A token fetched with replaced credentials serves only the requests that waited.
            if (generation.get() == started) {
                tokens.put(key, token);
            }
            flight.complete(token);
            return token;
        } catch (IOException | RuntimeException e) {
            flight.completeExceptionally(e);
            throw e;
        } finally {
            fetches.remove(key, flight);
        }
    }

    /**
     * Waits for another request's fetch and returns its token, or empty if that request was
     * interrupted. Its failure is reported for {@code target}, naming the realm and scope.
     */
    private static Optional<BearerToken> awaitFetch(RequestTarget target,
            AuthChallenge challenge, String scope, CompletableFuture<BearerToken> flight)
            throws IOException {
        try {
            return Optional.of(flight.get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for a token for "
                    + target.describe());
        } catch (ExecutionException e) {
            if (isInterrupt(e.getCause())) {
                return Optional.empty();
            }
            throw sharedFailure(target, challenge.parameter("realm"), scope, e.getCause());
        }
    }

    /** Returns whether {@code failure} is, or wraps, the interrupt of the fetching thread. */
    private static boolean isInterrupt(Throwable failure) {
        Throwable cause = failure.getCause();
        return failure.getClass() == InterruptedIOException.class
                || cause != null && cause.getClass() == InterruptedIOException.class;
    }

    /**
     * Returns the failure of a token request that {@code target} waited for, of the same type
     * so that callers tell a rejection from an outage.
     */
    private static RegistryException sharedFailure(RequestTarget target, String realm,
            String scope, Throwable failure) {
        String message = target.describe() + ": the token request to " + realm + " for scope '"
                + scope + "', shared with concurrent requests, failed: " + failure.getMessage();
        return switch (failure) {
            case RegistryUnauthorizedException rejected ->
                    new RegistryUnauthorizedException(target, rejected.statusCode(), message);
            case UnexpectedStatusException status -> new UnexpectedStatusException(target,
                    status.statusCode(), status.errorCodes(), message);
            case RegistryException other -> {
                RegistryException copy = new RegistryException(target, message, other);
                copy.setTransient(other.isTransient());
                yield copy;
            }
            default -> new RegistryException(target, message, failure);
        };
    }

    /** Drops every cached token, so that the next request fetches one with the credentials. */
    void forgetTokens() {
        generation.incrementAndGet();
        tokens.clear();
    }

    /**
     * Records the challenge of a 401 response and drops the token that was sent.
     *
     * @param sentAuthorization the header the rejected request carried, or null
     * @return whether sending the request again with {@link #authorization} can succeed
     */
    boolean onUnauthorized(RequestTarget target, String scope, List<String> challengeHeaders,
            String sentAuthorization) throws IOException {
        Optional<AuthChallenge> selected = AuthChallenge.select(challengeHeaders);
        if (selected.isEmpty()) {
            return false;
        }
        AuthChallenge challenge = selected.get();
        challenges.put(target.registry(), challenge);
        if (challenge.isBasic()) {
            return sentAuthorization == null
                    && login(target).filter(found -> !found.hasIdentityToken()).isPresent();
        }
        if (!challenge.isBearer()) {
            return false;
        }
        // Requests that were in flight together all carried the same token, and a later 401
        // must not drop the token that an earlier one has fetched meanwhile.
        if (sentAuthorization != null) {
            tokens.computeIfPresent(tokenKey(target, scope), (key, token) ->
                    token.authorization().equals(sentAuthorization) ? null : token);
        }
        return true;
    }

    private BearerToken fetchToken(RequestTarget target, AuthChallenge challenge, String scope)
            throws IOException {
        String realm = challenge.parameter("realm");
        URI realmUri = parseRealm(target, realm);
        Optional<Credentials> login = login(target);
        String service = challenge.parameter("service");
        LOG.debug("fetching a token for {} from {} with scope {}", target.describe(), realm,
                scope);
        TokenResponse response;
        if (login.isPresent() && login.get().hasIdentityToken()) {
            response = tokenService.send(target, realmUri, null,
                    refreshForm(service, scope, login.get().identityToken()));
        } else {
            URI uri = tokenUri(realmUri, service, scope, login);
            response = tokenService.send(target, uri,
                    login.map(Credentials::basicAuthorization).orElse(null), null);
        }
        if (response.statusCode() != 200) {
            ErrorBody body = ErrorBody.parse(response.body());
            String sender = login.map(Authenticator::describeLogin).orElse(" anonymously");
            String request = " scope '" + scope + "'" + sender + " for " + target.describe()
                    + " with HTTP " + response.statusCode() + body.suffix()
                    + withheldNote(response, login);
            if (response.statusCode() == 401 || response.statusCode() == 403) {
                throw new RegistryUnauthorizedException(target, response.statusCode(),
                        "token service " + realm + " rejected" + request);
            }
            String message = "token service " + realm + " failed to issue a token for" + request;
            throw new UnexpectedStatusException(target, response.statusCode(), body.codes(),
                    message);
        }
        return parseToken(target, realm, response.body());
    }

    /**
     * Returns the credentials for the target's registry. A provider that runs a credential
     * helper reports the helper's failure as an unchecked exception, which this turns into a
     * registry failure that names the request.
     */
    private Optional<Credentials> login(RequestTarget target) throws RegistryException {
        try {
            return credentials.credentialsFor(target.registry());
        } catch (java.io.UncheckedIOException e) {
            throw new RegistryException(target, target.describe() + ": cannot get the"
                    + " credentials for registry " + target.registry() + ": "
                    + e.getCause().getMessage(), e.getCause());
        }
    }

    /**
     * Returns why the token service may not have seen the login: a redirect led to a hop that
     * gets no credentials.
     */
    private static String withheldNote(TokenResponse response, Optional<Credentials> login) {
        if (response.credentialsWithheldFrom() == null || login.isEmpty()) {
            return "";
        }
        return " (the realm redirected the request to " + response.credentialsWithheldFrom()
                + ", which gets no credentials because it is another host or port, or plain"
                + " HTTP after HTTPS)";
    }

    private static String describeLogin(Credentials login) {
        return login.hasIdentityToken() ? " with an identity token"
                : " as user '" + login.username() + "'";
    }

    /**
     * Returns the OAuth 2 form that exchanges an identity token, a refresh token, for an access
     * token with {@code scope}, as Docker clients send it.
     */
    private static String refreshForm(String service, String scope, String identityToken) {
        StringBuilder form = new StringBuilder();
        appendParameter(form, "grant_type", "refresh_token");
        appendParameter(form, "refresh_token", identityToken);
        if (service != null) {
            appendParameter(form, "service", service);
        }
        appendParameter(form, "scope", scope);
        appendParameter(form, "client_id", CLIENT_ID);
        return form.toString();
    }

    private static URI parseRealm(RequestTarget target, String realm) throws RegistryException {
        try {
            URI uri = realm == null ? null : new URI(realm);
            if (uri != null && ("https".equals(uri.getScheme())
                    || "http".equals(uri.getScheme())) && uri.getHost() != null) {
                return uri;
            }
        } catch (java.net.URISyntaxException e) {
            // Reported below with the realm.
        }
        throw new RegistryException(target, target.describe() + ": the registry's bearer"
                + " challenge has an invalid realm '" + realm + "'", null);
    }

    private static URI tokenUri(URI realm, String service, String scope,
            Optional<Credentials> login) {
        StringBuilder query = new StringBuilder();
        if (service != null) {
            appendParameter(query, "service", service);
        }
        for (String single : scope.split(" ")) {
            appendParameter(query, "scope", single);
        }
        login.ifPresent(c -> appendParameter(query, "account", c.username()));
        appendParameter(query, "client_id", CLIENT_ID);
        String base = realm.toString();
        return URI.create(base + (realm.getRawQuery() == null ? "?" : "&") + query);
    }

    private static void appendParameter(StringBuilder query, String name, String value) {
        if (!query.isEmpty()) {
            query.append('&');
        }
        query.append(name).append('=').append(URLEncoder.encode(value, StandardCharsets.UTF_8));
    }

    private BearerToken parseToken(RequestTarget target, String realm, byte[] body)
            throws RegistryException {
        JsonNode json;
        try {
            json = JsonFields.MAPPER.readTree(body);
        } catch (IOException e) {
            // The parser's message may quote the body, which may contain a token.
            throw new RegistryException(target, "invalid response from token service " + realm
                    + " for " + target.describe() + ": the body is not JSON", null);
        }
        try {
            String value = json.path("token").asText("");
            if (value.isEmpty()) {
                value = json.path("access_token").asText("");
            }
            if (value.isEmpty()) {
                throw new IllegalArgumentException("no 'token' or 'access_token' field");
            }
            long seconds = json.path("expires_in").asLong(0);
            Duration lifetime = seconds > 0
                    ? Duration.ofSeconds(Math.min(seconds, BearerToken.MAX_LIFETIME.toSeconds()))
                    : BearerToken.DEFAULT_LIFETIME;
            return BearerToken.issued(value, issuedAt(json), lifetime);
        } catch (IllegalArgumentException | DateTimeException | ArithmeticException e) {
            throw new RegistryException(target, "invalid response from token service " + realm
                    + " for " + target.describe() + ": " + e.getMessage(), null);
        }
    }

    private Instant issuedAt(JsonNode json) {
        String text = json.path("issued_at").asText("");
        return text.isEmpty() ? clock.instant() : Instant.parse(text);
    }
}
