package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
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
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the {@code Authorization} header of registry requests: none until a registry
 * responds with 401, then Basic credentials or a bearer token from the token service that its
 * challenge names.
 * Tokens are cached per registry and scope and fetched again shortly before they expire or
 * when the registry rejects them.
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

    /** The status and body of a token service response. */
    record TokenResponse(int statusCode, byte[] body) {
    }

    private static final Logger LOG = LoggerFactory.getLogger(Authenticator.class);
    private static final String CLIENT_ID = "nydus-registry-client";

    private final CredentialProvider credentials;
    private final Clock clock;
    private final TokenService tokenService;
    private final Map<String, AuthChallenge> challenges = new ConcurrentHashMap<>();
    private final Map<String, BearerToken> tokens = new ConcurrentHashMap<>();

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
        String key = target.registry() + " " + scope;
        BearerToken token = tokens.get(key);
        if (token == null || !token.isFresh(clock.instant())) {
            token = fetchToken(target, challenge, scope);
            tokens.put(key, token);
        }
        return token.authorization();
    }

    /** Drops every cached token, so that the next request fetches one with the credentials. */
    void forgetTokens() {
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
        tokens.remove(target.registry() + " " + scope);
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
                    + " with HTTP " + response.statusCode() + body.suffix();
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
