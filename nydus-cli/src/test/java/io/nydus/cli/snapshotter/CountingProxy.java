package io.nydus.cli.snapshotter;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.function.Predicate;

/**
 * A read-only HTTP proxy on 127.0.0.1 in front of a test registry that records every request,
 * so that a test can count what a pull fetched, and can fail chosen requests with 500.
 */
final class CountingProxy implements AutoCloseable {
    private static final Set<String> FORWARDED = Set.of("authorization", "accept", "range",
            "user-agent");
    private static final Set<String> UNRETURNED = Set.of("content-length", "transfer-encoding",
            "connection", "date", "keep-alive");

    /** One request: method, path, Range header (or empty), status and body bytes sent. */
    record Request(String method, String path, String range, int status, long bytes) {
    }

    private final HttpServer server;
    private final HttpClient client = HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NEVER).connectTimeout(Duration.ofSeconds(10))
            .build();
    private final String upstream;
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private volatile Predicate<String> failing = path -> false;

    CountingProxy(String upstreamAddress) throws IOException {
        this.upstream = "http://" + upstreamAddress;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
    }

    String address() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    List<Request> requests() {
        return List.copyOf(requests);
    }

    void clear() {
        requests.clear();
    }

    /** Makes requests whose path matches {@code paths} fail with 500 from now on. */
    void failPaths(Predicate<String> paths) {
        failing = paths;
    }

    private void handle(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getRawPath();
        String query = exchange.getRequestURI().getRawQuery();
        String range = exchange.getRequestHeaders().getFirst("Range");
        try (exchange) {
            if (failing.test(path)) {
                requests.add(new Request(exchange.getRequestMethod(), path,
                        range == null ? "" : range, 500, 0));
                exchange.sendResponseHeaders(500, -1);
                return;
            }
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(upstream + path
                    + (query == null ? "" : "?" + query))).timeout(Duration.ofSeconds(60))
                    .method(exchange.getRequestMethod(), HttpRequest.BodyPublishers.noBody());
            exchange.getRequestHeaders().forEach((name, values) -> {
                if (FORWARDED.contains(name.toLowerCase())) {
                    values.forEach(v -> request.header(name, v));
                }
            });
            HttpResponse<InputStream> response = client.send(request.build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            response.headers().map().forEach((name, values) -> {
                if (!UNRETURNED.contains(name.toLowerCase()) && !name.startsWith(":")) {
                    exchange.getResponseHeaders().put(name, values);
                }
            });
            long length = response.headers().firstValueAsLong("content-length").orElse(0);
            boolean head = exchange.getRequestMethod().equals("HEAD");
            if (head || length == 0) {
                response.headers().firstValue("content-length").ifPresent(v ->
                        exchange.getResponseHeaders().set("Content-Length", v));
                exchange.sendResponseHeaders(response.statusCode(), -1);
                response.body().close();
                requests.add(new Request(exchange.getRequestMethod(), path,
                        range == null ? "" : range, response.statusCode(), 0));
                return;
            }
            exchange.sendResponseHeaders(response.statusCode(), length);
            long sent;
            try (InputStream body = response.body(); OutputStream out =
                    exchange.getResponseBody()) {
                sent = body.transferTo(out);
            }
            requests.add(new Request(exchange.getRequestMethod(), path,
                    range == null ? "" : range, response.statusCode(), sent));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.stop(0);
        client.close();
    }
}
