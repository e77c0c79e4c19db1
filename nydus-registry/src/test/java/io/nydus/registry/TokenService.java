package io.nydus.registry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.nydus.testkit.Commands;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A token service for a registry with {@code auth.token}: it checks Basic credentials and
 * issues RS256 JWTs signed with a key that {@code openssl} made, granting every requested
 * action. Its certificate goes into the registry's {@code rootcertbundle}.
 */
public final class TokenService implements AutoCloseable {

    public static final String SERVICE = "test-registry";
    public static final String ISSUER = "test-issuer";
    /**
     * How long the registry accepts a token after its {@code exp} claim: distribution 2.8
     * allows this much clock skew.
     */
    private static final long REGISTRY_LEEWAY_SECONDS = 60;

    private final HttpServer server;
    private final PrivateKey key;
    private final String certificateBase64;
    private final Path certificateFile;
    private final String user;
    private final String password;
    private final AtomicInteger requests = new AtomicInteger();
    private final AtomicInteger corruptNext = new AtomicInteger();
    private final List<String> scopes = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final List<String> issued = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile long expiresIn = 300;
    private volatile boolean oauthFields;
    private volatile long realLifetime;
    private volatile int failureStatus;
    private volatile Instant lastTokenRejectedFrom = Instant.EPOCH;
    private volatile String identityToken;
    private volatile Duration responseDelay = Duration.ZERO;
    private volatile int redirectStatus = 302;
    private final AtomicInteger refreshGrants = new AtomicInteger();

    private TokenService(Path dir, String user, String password) throws Exception {
        Path keyFile = dir.resolve("token.key");
        certificateFile = dir.resolve("token.crt");
        Commands.run(List.of("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", keyFile.toString(), "-out", certificateFile.toString(),
                "-subj", "/CN=token-signer", "-days", "2"), Duration.ofSeconds(60));
        key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(
                pemBody(Files.readString(keyFile))));
        byte[] der = CertificateFactory.getInstance("X.509")
                .generateCertificate(Files.newInputStream(certificateFile)).getEncoded();
        certificateBase64 = Base64.getEncoder().encodeToString(der);
        this.user = user;
        this.password = password;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/token", this::handle);
        server.createContext("/redirect", exchange -> redirect(exchange, "/token"));
        server.createContext("/loop", exchange -> redirect(exchange, "/loop"));
        server.createContext("/elsewhere", exchange -> redirect(exchange,
                "http://localhost:" + server.getAddress().getPort() + "/token"));
        // Concurrent token requests are handled in parallel, as a real token service does.
        server.setExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
        server.start();
    }

    /** Starts a service in {@code dir} that accepts {@code user} and {@code password}. */
    public static TokenService start(Path dir, String user, String password) throws Exception {
        return new TokenService(dir, user, password);
    }

    public String realm() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/token";
    }

    /** Returns a realm on this service that redirects with 302 to {@link #realm()}. */
    public String redirectingRealm() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/redirect";
    }

    /** Returns a realm on this service that redirects with 302 to itself, without end. */
    public String loopingRealm() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/loop";
    }

    /**
     * Returns a realm that redirects with 302 to this service under the host name
     * {@code localhost}, which a client takes for another host than {@code 127.0.0.1}.
     */
    public String otherHostRealm() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/elsewhere";
    }

    /** Makes the redirecting realms respond with {@code status}, such as 307. */
    public void redirectStatus(int status) {
        redirectStatus = status;
    }

    /** Returns the registry config section that trusts this service. */
    public String authSection() {
        return """
                auth:
                  token:
                    realm: %s
                    service: %s
                    issuer: %s
                    rootcertbundle: %s
                """.formatted(realm(), SERVICE, ISSUER, certificateFile);
    }

    /** Returns how many token requests the service has received. */
    public int requests() {
        return requests.get();
    }

    /** Returns the scope parameters of every request, in order. */
    public List<String> scopes() {
        return List.copyOf(scopes);
    }

    /** Returns every token the service has issued, in order. */
    public List<String> issuedTokens() {
        return List.copyOf(issued);
    }

    /** Sets the {@code expires_in} of the next tokens; 0 leaves the field out. */
    public void expiresIn(long seconds) {
        expiresIn = seconds;
    }

    /**
     * Makes responses name the token {@code access_token} and add {@code issued_at}, as OAuth 2
     * token services do, in place of the {@code token} field.
     */
    public void oauthFields(boolean value) {
        oauthFields = value;
    }

    /**
     * Makes the registry reject the next tokens once {@code seconds} have passed since the
     * start of the second they were issued in, while {@code expires_in} still reports the
     * lifetime set by {@link #expiresIn}. This acts out a token service whose tokens expire
     * early, or a registry that revokes tokens. 0 restores the default lifetime.
     */
    public void realLifetime(long seconds) {
        realLifetime = seconds;
    }

    /** Returns when the registry starts to reject the token issued last. */
    public Instant lastTokenRejectedFrom() {
        return lastTokenRejectedFrom;
    }

    /**
     * Makes the service reject every token request with 401 while {@code value} is true, as
     * for an account that was disabled after its first token.
     */
    public void rejectRequests(boolean value) {
        failureStatus = value ? 401 : 0;
    }

    /**
     * Makes the service respond to every token request with the server error {@code status}, as
     * a token service whose database is down does. 0 restores normal responses.
     */
    public void failRequests(int status) {
        failureStatus = status;
    }

    /**
     * Makes the service accept {@code token} as an OAuth 2 refresh token, an identity token,
     * in a POST with {@code grant_type=refresh_token}, as it accepts the user's password.
     */
    public void identityToken(String token) {
        identityToken = token;
    }

    /** Returns how many tokens the service has issued for an identity token. */
    public int refreshGrants() {
        return refreshGrants.get();
    }

    /**
     * Makes the service wait {@code delay} before it responds to each token request, as a busy
     * token service does, so that requests which start together overlap.
     */
    public void delayResponses(Duration delay) {
        responseDelay = delay;
    }

    /** Makes the next {@code count} tokens carry a broken signature, which the registry rejects. */
    public void corruptNext(int count) {
        corruptNext.set(count);
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            requests.incrementAndGet();
            Thread.sleep(responseDelay);
            int failure = failureStatus;
            if (failure == 401) {
                respond(exchange, 401, "{\"errors\":[{\"code\":\"DENIED\","
                        + "\"message\":\"the account is disabled\"}]}");
                return;
            }
            if (failure != 0) {
                respond(exchange, failure, "{\"errors\":[{\"code\":\"UNAVAILABLE\","
                        + "\"message\":\"token store unavailable\"}]}");
                return;
            }
            List<String> requested;
            if (exchange.getRequestMethod().equals("POST")) {
                String form = new String(exchange.getRequestBody().readAllBytes(),
                        StandardCharsets.UTF_8);
                if (!refreshGranted(form)) {
                    respond(exchange, 401, "{\"error\":\"invalid_grant\"}");
                    return;
                }
                refreshGrants.incrementAndGet();
                requested = new ArrayList<>();
                for (String scope : queryValues(form, "scope")) {
                    requested.addAll(List.of(scope.split(" ")));
                }
            } else if (authorized(exchange.getRequestHeaders().getFirst("Authorization"))) {
                requested = queryValues(exchange.getRequestURI().getRawQuery(), "scope");
            } else {
                respond(exchange, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\","
                        + "\"message\":\"invalid credentials\"}]}");
                return;
            }
            scopes.add(String.join(" ", requested));
            String token = jwt(requested);
            if (corruptNext.getAndUpdate(n -> Math.max(n - 1, 0)) > 0) {
                token = token.substring(0, token.length() - 4) + "AAAA";
            }
            issued.add(token);
            long lifetime = expiresIn;
            String expiry = lifetime > 0 ? ",\"expires_in\":" + lifetime : "";
            String fields = oauthFields
                    ? "\"access_token\":\"" + token + "\",\"issued_at\":\"" + Instant.now()
                            + "\""
                    : "\"token\":\"" + token + "\"";
            respond(exchange, 200, "{" + fields + expiry + "}");
        } catch (Exception e) {
            throw new IOException("token service failed", e);
        }
    }

    /** Redirects to {@code path} with the request's query, as a CDN in front of a realm does. */
    private void redirect(HttpExchange exchange, String path) throws IOException {
        try (exchange) {
            String query = exchange.getRequestURI().getRawQuery();
            exchange.getRequestBody().readAllBytes();
            exchange.getResponseHeaders().set("Location",
                    query == null ? path : path + "?" + query);
            exchange.sendResponseHeaders(redirectStatus, -1);
        }
    }

    private boolean refreshGranted(String form) {
        String expected = identityToken;
        return expected != null && queryValues(form, "grant_type").equals(List.of("refresh_token"))
                && queryValues(form, "refresh_token").equals(List.of(expected));
    }

    private boolean authorized(String header) {
        String expected = "Basic " + Base64.getEncoder().encodeToString(
                (user + ":" + password).getBytes(StandardCharsets.UTF_8));
        return expected.equals(header);
    }

    private String jwt(List<String> requested) throws Exception {
        long now = Instant.now().getEpochSecond();
        long expiry = now + jwtLifetimeSeconds();
        lastTokenRejectedFrom = Instant.ofEpochSecond(expiry + REGISTRY_LEEWAY_SECONDS);
        String header = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5c\":[\"" + certificateBase64
                + "\"]}";
        String claims = "{\"iss\":\"" + ISSUER + "\",\"sub\":\"" + user + "\",\"aud\":\""
                + SERVICE + "\",\"exp\":" + expiry + ",\"nbf\":" + (now - 60)
                + ",\"iat\":" + now + ",\"jti\":\"" + UUID.randomUUID() + "\",\"access\":["
                + String.join(",", access(requested)) + "]}";
        String signingInput = base64Url(header) + "." + base64Url(claims);
        Signature signature = Signature.getInstance("SHA256withRSA");
        signature.initSign(key);
        signature.update(signingInput.getBytes(StandardCharsets.US_ASCII));
        return signingInput + "."
                + Base64.getUrlEncoder().withoutPadding().encodeToString(signature.sign());
    }

    /**
     * Returns the lifetime written into tokens: by default the advertised {@code expires_in}
     * plus a minute, so that a token the client uses just before its refresh time is still
     * valid however slow the test machine is. Refreshes are tested with a client clock that
     * tests move by hand. A {@link #realLifetime} is shortened by the registry's leeway, and
     * may be negative.
     */
    private long jwtLifetimeSeconds() {
        if (realLifetime > 0) {
            return realLifetime - REGISTRY_LEEWAY_SECONDS;
        }
        return (expiresIn > 0 ? expiresIn : 60) + 60;
    }

    private static List<String> access(List<String> requested) {
        List<String> entries = new ArrayList<>();
        for (String scope : requested) {
            String[] parts = scope.split(":");
            String actions = String.join("\",\"", parts[2].split(","));
            entries.add("{\"type\":\"" + parts[0] + "\",\"name\":\"" + parts[1]
                    + "\",\"actions\":[\"" + actions + "\"]}");
        }
        return entries;
    }

    private static List<String> queryValues(String query, String name) {
        List<String> values = new ArrayList<>();
        if (query == null) {
            return values;
        }
        for (String pair : query.split("&")) {
            int equals = pair.indexOf('=');
            if (equals > 0 && pair.substring(0, equals).equals(name)) {
                values.add(URLDecoder.decode(pair.substring(equals + 1), StandardCharsets.UTF_8));
            }
        }
        return values;
    }

    private static String base64Url(String json) {
        return Base64.getUrlEncoder().withoutPadding()
                .encodeToString(json.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] pemBody(String pem) {
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return Base64.getDecoder().decode(body);
    }

    private static void respond(HttpExchange exchange, int status, String body)
            throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
