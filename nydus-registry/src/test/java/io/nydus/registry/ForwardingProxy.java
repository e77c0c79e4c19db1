package io.nydus.registry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP proxy on 127.0.0.1 in front of a test registry. It acts out what a real registry
 * does not. It responds with 503 to the next requests, or with a status and a Retry-After
 * header for a while. It redirects blob reads elsewhere, shifts requested ranges, opens an
 * upload in place of a cross-repository mount, holds a request until the test releases it, or
 * stops in the middle of a response body until it is closed. It redirects every request, to
 * itself or to another address, as a load balancer in front of a registry does, and records the
 * Authorization header of each request. It handles one request at a time.
 */
public final class ForwardingProxy implements AutoCloseable {

    private static final Set<String> UNFORWARDED = Set.of("host", "connection", "content-length",
            "transfer-encoding", "expect", "upgrade", "keep-alive", "date",
            "proxy-authorization");

    private final HttpServer server;
    private final HttpClient client;
    private final String upstream;
    private final AtomicInteger failuresLeft = new AtomicInteger();
    private volatile int failureStatus = 503;
    private final AtomicInteger methodFailuresLeft = new AtomicInteger();
    private volatile String failingMethod = "";
    private volatile boolean ignoreMounts;
    private volatile boolean locationsWithoutScheme;
    private volatile List<String> challenges = List.of();
    private volatile long maxRequestBytes = Long.MAX_VALUE;
    private volatile String proxyAuthorization;
    private volatile long stallAfterBytes = -1;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final AtomicInteger holdsLeft = new AtomicInteger();
    private volatile String holdingMethod = "";
    private final CountDownLatch released = new CountDownLatch(1);
    private volatile int heldStatus;
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private volatile long rejectUntilNanos = System.nanoTime();
    private volatile int rejectStatus;
    private volatile String rejectRetryAfter = "";
    private volatile String redirectBase = "";
    private volatile String redirectQuery = "";
    private final AtomicInteger shiftsLeft = new AtomicInteger();
    private volatile long rangeShift;
    private final Map<String, Integer> statusRewrites =
            new java.util.concurrent.ConcurrentHashMap<>();
    /** The path prefix under which a proxy that redirects to itself forwards requests. */
    private static final String REDIRECTED_PREFIX = "/redirected";
    private volatile int redirectStatus;
    private volatile String redirectedMethod = "";
    private volatile String everyRequestBase = "";
    private volatile String loginChallenge = "";
    private final List<Received> received = new CopyOnWriteArrayList<>();

    /**
     * One request that the proxy received.
     *
     * @param method the HTTP method
     * @param pathAndQuery the request path with its query
     * @param authorization the Authorization header, or an empty string if there was none
     */
    public record Received(String method, String pathAndQuery, String authorization) {
    }

    private ForwardingProxy(String upstream) throws IOException {
        this.upstream = upstream;
        this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER).build();
        this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    /** Starts a proxy to {@code upstream}, such as {@code http://127.0.0.1:5000}. */
    public static ForwardingProxy start(String upstream) throws IOException {
        return new ForwardingProxy(upstream);
    }

    public String address() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    /** Makes the next {@code count} requests fail with 503 before reaching the registry. */
    public void failNext(int count) {
        failNext(count, 503);
    }

    /**
     * Makes the next {@code count} requests fail with {@code status} before reaching the
     * registry, as a storage service does with 403 once the signature of its URL has expired.
     */
    public void failNext(int count, int status) {
        failureStatus = status;
        failuresLeft.set(count);
    }

    /**
     * Makes the next {@code count} requests with {@code method}, such as {@code PATCH}, fail
     * with 503 before reaching the registry.
     */
    public void failNext(String method, int count) {
        failingMethod = method;
        methodFailuresLeft.set(count);
    }

    /**
     * Makes every request in the next {@code window} fail with {@code status} and the header
     * {@code Retry-After: retryAfter} (left out when empty), as a registry does that sheds
     * load for a while.
     */
    public void rejectFor(Duration window, int status, String retryAfter) {
        rejectStatus = status;
        rejectRetryAfter = retryAfter;
        rejectUntilNanos = System.nanoTime() + window.toNanos();
    }

    /**
     * Makes each GET of a blob respond with a 307 redirect to the same path on {@code base},
     * such as {@code http://127.0.0.1:5000}, as a registry does that serves blobs from
     * separate storage.
     */
    public void redirectBlobsTo(String base) {
        redirectBlobsTo(base, "");
    }

    /**
     * Makes each GET of a blob redirect like {@link #redirectBlobsTo(String)}, with
     * {@code query} such as {@code ?signature=...} added, as a storage service's signed URL has.
     */
    public void redirectBlobsTo(String base, String query) {
        redirectQuery = query;
        redirectBase = base;
    }

    /**
     * Moves the Range header of the next {@code count} requests that have one by {@code delta}
     * bytes before forwarding them, so that the registry returns another range than the
     * client requested, with a Content-Range that names it, as a broken cache in front of a
     * registry does.
     */
    public void shiftNextRanges(int count, long delta) {
        rangeShift = delta;
        shiftsLeft.set(count);
    }

    /**
     * Makes the next request with {@code method} wait, before it reaches the registry, until
     * {@link #release} or {@link #close}. {@link #requests} lists it as soon as it arrives.
     */
    public void holdNext(String method) {
        holdingMethod = method;
        holdsLeft.set(1);
    }

    /** Forwards the request that {@link #holdNext} stopped to the registry. */
    public void release() {
        released.countDown();
    }

    /** Responds to the request that {@link #holdNext} stopped with {@code status}. */
    public void failHeld(int status) {
        heldStatus = status;
        released.countDown();
    }

    /**
     * Makes each response body larger than {@code bytes} stop after its first {@code bytes}
     * bytes until the proxy is closed, as a registry does that hangs in the middle of a layer.
     */
    public void stallBodiesAfter(long bytes) {
        stallAfterBytes = bytes;
    }

    /** Makes mount requests start a plain upload, as a registry does that cannot mount. */
    void ignoreMounts(boolean value) {
        ignoreMounts = value;
    }

    /**
     * Makes every response of the registry with status {@code from} to a {@code method}
     * request reach the client with status {@code to}. Some registries send such another
     * success status to an upload than the distribution specification names.
     */
    public void rewriteStatus(String method, int from, int to) {
        statusRewrites.put(method + " " + from, to);
    }

    /**
     * Makes each {@code Location} header that the registry sends as a path name the proxy's
     * host and port without a scheme, such as {@code 127.0.0.1:5000/v2/app/blobs/uploads/1},
     * as some registries send it.
     */
    public void locationsWithoutScheme(boolean value) {
        locationsWithoutScheme = value;
    }

    /**
     * Makes each 401 response carry {@code values} as its {@code WWW-Authenticate} headers in
     * place of the registry's, as registries and proxies do that format challenges otherwise.
     */
    public void replaceChallenges(List<String> values) {
        challenges = List.copyOf(values);
    }

    /**
     * Makes the proxy reject each request whose body has more than {@code bytes} bytes with
     * 413 and an HTML page, as nginx does past its {@code client_max_body_size}.
     */
    public void maxRequestBytes(long bytes) {
        maxRequestBytes = bytes;
    }

    /**
     * Makes the proxy return 407 to each request without {@code Proxy-Authorization: Basic}
     * of {@code user} and {@code password}, as a proxy with authentication does.
     */
    public void requireProxyLogin(String user, String password) {
        proxyAuthorization = "Basic " + java.util.Base64.getEncoder().encodeToString(
                (user + ":" + password).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /**
     * Makes each request, of any method, respond with a redirect with {@code status} to the
     * same path and query on the proxy under another prefix, from where it is forwarded. So
     * every request, including each PATCH and PUT of an upload, goes through one redirect.
     */
    public void redirectEachRequest(int status) {
        redirectEachRequest(status, "");
    }

    /**
     * Makes each request with {@code method}, or of any method if it is empty, respond with a
     * redirect like {@link #redirectEachRequest(int)}.
     */
    public void redirectEachRequest(int status, String method) {
        redirectStatus = status;
        redirectedMethod = method;
        everyRequestBase = "http://" + address() + REDIRECTED_PREFIX;
    }

    /**
     * Makes each request, of any method, respond with a redirect with {@code status} to the
     * same path and query on {@code base}, such as {@code http://127.0.0.1:5000}.
     */
    public void redirectEachRequestTo(String base, int status) {
        redirectStatus = status;
        everyRequestBase = base;
    }

    /**
     * Makes each request without an Authorization header respond with 401 and
     * {@code challenge} as its WWW-Authenticate header, as a registry with authentication does.
     */
    public void challengeWithoutAuthorization(String challenge) {
        loginChallenge = challenge;
    }

    /** Returns every request received with its Authorization header. */
    public List<Received> received() {
        return List.copyOf(received);
    }

    /** Returns {@code METHOD path} of every request received, including failed ones. */
    public List<String> requests() {
        return List.copyOf(requests);
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String method = exchange.getRequestMethod();
            String pathAndQuery = exchange.getRequestURI().getRawPath()
                    + (exchange.getRequestURI().getRawQuery() == null ? ""
                            : "?" + exchange.getRequestURI().getRawQuery());
            String required = proxyAuthorization;
            if (required != null && !required.equals(
                    exchange.getRequestHeaders().getFirst("Proxy-Authorization"))) {
                exchange.getRequestBody().readAllBytes();
                exchange.getResponseHeaders().set("Proxy-Authenticate", "Basic realm=\"proxy\"");
                exchange.sendResponseHeaders(407, -1);
                return;
            }
            requests.add(method + " " + pathAndQuery);
            String authorization = exchange.getRequestHeaders().getFirst("Authorization");
            received.add(new Received(method, pathAndQuery,
                    authorization == null ? "" : authorization));
            if (!loginChallenge.isEmpty() && authorization == null) {
                exchange.getRequestBody().readAllBytes();
                exchange.getResponseHeaders().set("WWW-Authenticate", loginChallenge);
                exchange.sendResponseHeaders(401, -1);
                return;
            }
            if (pathAndQuery.startsWith(REDIRECTED_PREFIX + "/")) {
                pathAndQuery = pathAndQuery.substring(REDIRECTED_PREFIX.length());
            } else if (!everyRequestBase.isEmpty()
                    && (redirectedMethod.isEmpty() || redirectedMethod.equals(method))) {
                // The whole body is read first, as a load balancer does before it responds.
                exchange.getRequestBody().readAllBytes();
                exchange.getResponseHeaders().set("Location", everyRequestBase + pathAndQuery);
                exchange.sendResponseHeaders(redirectStatus, -1);
                return;
            }
            boolean failing = failuresLeft.getAndUpdate(n -> Math.max(n - 1, 0)) > 0;
            if (failing || (method.equals(failingMethod)
                    && methodFailuresLeft.getAndUpdate(n -> Math.max(n - 1, 0)) > 0)) {
                exchange.getRequestBody().readAllBytes();
                exchange.sendResponseHeaders(failing ? failureStatus : 503, -1);
                return;
            }
            if (System.nanoTime() - rejectUntilNanos < 0) {
                reject(exchange);
                return;
            }
            if (!redirectBase.isEmpty() && method.equals("GET")
                    && pathAndQuery.contains("/blobs/sha256:")) {
                exchange.getResponseHeaders().set("Location",
                        redirectBase + pathAndQuery + redirectQuery);
                exchange.sendResponseHeaders(307, -1);
                return;
            }
            if (method.equals(holdingMethod)
                    && holdsLeft.getAndUpdate(n -> Math.max(n - 1, 0)) > 0) {
                await(released);
                if (heldStatus != 0) {
                    exchange.getRequestBody().readAllBytes();
                    exchange.sendResponseHeaders(heldStatus, -1);
                    return;
                }
            }
            if (ignoreMounts && pathAndQuery.contains("mount=")) {
                pathAndQuery = pathAndQuery.substring(0, pathAndQuery.indexOf('?'));
            }
            forward(exchange, method, pathAndQuery, shiftedRange(exchange));
        }
    }

    private void reject(HttpExchange exchange) throws IOException {
        exchange.getRequestBody().readAllBytes();
        if (!rejectRetryAfter.isEmpty()) {
            exchange.getResponseHeaders().set("Retry-After", rejectRetryAfter);
        }
        exchange.sendResponseHeaders(rejectStatus, -1);
    }

    /** Returns the Range header to send in place of the request's, or null to keep it. */
    private String shiftedRange(HttpExchange exchange) {
        String range = exchange.getRequestHeaders().getFirst("Range");
        if (range == null || shiftsLeft.getAndUpdate(n -> Math.max(n - 1, 0)) == 0) {
            return null;
        }
        String[] bounds = range.substring("bytes=".length()).split("-");
        long delta = rangeShift;
        return "bytes=" + (Long.parseLong(bounds[0]) + delta) + "-"
                + (Long.parseLong(bounds[1]) + delta);
    }

    private void forward(HttpExchange exchange, String method, String pathAndQuery,
            String range) throws IOException {
        byte[] body = exchange.getRequestBody().readAllBytes();
        if (body.length > maxRequestBytes) {
            byte[] page = ("<html><head><title>413 Request Entity Too Large</title></head>"
                    + "<body><h1>413 Request Entity Too Large</h1></body></html>")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/html");
            exchange.sendResponseHeaders(413, page.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(page);
            }
            return;
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(upstream + pathAndQuery))
                .method(method, body.length == 0 ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        for (Map.Entry<String, List<String>> header : exchange.getRequestHeaders().entrySet()) {
            if (!UNFORWARDED.contains(header.getKey().toLowerCase())) {
                header.getValue().forEach(value -> request.header(header.getKey(), value));
            }
        }
        if (range != null) {
            request.setHeader("Range", range);
        }
        HttpResponse<byte[]> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        response.headers().map().forEach((name, values) -> {
            if (!UNFORWARDED.contains(name.toLowerCase()) || (method.equals("HEAD")
                    && name.equalsIgnoreCase("content-length"))) {
                exchange.getResponseHeaders().put(name, values);
            }
        });
        if (response.statusCode() == 401 && !challenges.isEmpty()) {
            exchange.getResponseHeaders().put("WWW-Authenticate", challenges);
        }
        String location = response.headers().firstValue("Location").orElse("");
        if (locationsWithoutScheme && location.startsWith("/")) {
            exchange.getResponseHeaders().set("Location", address() + location);
        }
        byte[] responseBody = response.body();
        int status = statusRewrites.getOrDefault(method + " " + response.statusCode(),
                response.statusCode());
        boolean noBody = method.equals("HEAD") || responseBody.length == 0 || status == 204;
        exchange.sendResponseHeaders(status, noBody ? -1 : responseBody.length);
        if (noBody) {
            return;
        }
        long stallAfter = stallAfterBytes;
        try (OutputStream out = exchange.getResponseBody()) {
            if (stallAfter >= 0 && responseBody.length > stallAfter) {
                out.write(responseBody, 0, (int) stallAfter);
                out.flush();
                await(closed);
                return;
            }
            out.write(responseBody);
        }
    }

    private static void await(CountDownLatch latch) throws IOException {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public void close() {
        closed.countDown();
        released.countDown();
        server.stop(0);
        client.close();
    }
}
