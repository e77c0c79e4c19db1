package io.nydus.storage.backend;

import io.nydus.registry.ContentCoding;
import io.nydus.registry.ContentRange;
import io.nydus.registry.IdleTimeoutSubscriber;
import io.nydus.registry.RedirectCredentials;
import io.nydus.registry.RetryAfter;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;

/**
 * One HTTP Range GET into a buffer, for the endpoints that {@code RegistryClient} cannot reach:
 * mirrors with their own headers, a proxy, and a registry with a preset bearer token.
 */
final class RangeRequest {
    /** Runs the idle checks of response bodies, which the JDK client does not time out. */
    private static final ScheduledExecutorService IDLE_CHECKS =
            Executors.newSingleThreadScheduledExecutor(
                    Thread.ofPlatform().daemon().name("range-read-timeout").factory());

    /**
     * The status of a response that was not 206, so that callers can react to 401, and the
     * wait that its {@code Retry-After} header requested.
     */
    static final class StatusException extends IOException {
        private static final long serialVersionUID = 1L;
        private final int status;
        private final Duration retryAfter;
        private final boolean redirected;

        StatusException(String message, int status, Optional<Duration> retryAfter,
                boolean redirected) {
            super(message);
            this.status = status;
            this.retryAfter = retryAfter.orElse(null);
            this.redirected = redirected;
        }

        int status() {
            return status;
        }

        /**
         * Returns whether another host sent the status, one that a redirect named, such as a
         * storage service whose signed URL expired.
         */
        boolean redirected() {
            return redirected;
        }

        Optional<Duration> retryAfter() {
            return Optional.ofNullable(retryAfter);
        }
    }

    private static final int MAX_REDIRECTS = 10;
    private static final Set<Integer> REDIRECTS = Set.of(301, 302, 303, 307, 308);

    private RangeRequest() {
    }

    /** Fetches {@code target.remaining()} bytes from {@code offset} of {@code uri}. */
    static void fetch(HttpClient client, URI uri, Map<String, String> headers, long offset,
            ByteBuffer target, Duration timeout) throws IOException {
        HttpRequest.Builder request = rangeRequest(uri, offset, target.remaining(), timeout);
        headers.forEach(request::header);
        HttpResponse<InputStream> response = send(client, request.build(), timeout, uri);
        readRange(uri, response, offset, target, otherOrigin(uri, response));
    }

    /**
     * Fetches like {@link #fetch} with {@code authorization}, following redirects itself on a
     * client that follows none, and returns the URL that served the range. The header goes
     * only to the hops that {@link RedirectCredentials} allows, so a registry that redirects
     * from plain HTTP to HTTPS on its own host keeps it, which the JDK client's own redirects
     * drop.
     */
    static URI fetchAuthorized(HttpClient client, URI uri, String authorization, long offset,
            ByteBuffer target, Duration timeout) throws IOException {
        HttpResponse<InputStream> response = sendFollowing(client, uri, authorization,
                hop -> rangeRequest(hop, offset, target.remaining(), timeout), timeout);
        readRange(uri, response, offset, target, foreignOrigin(uri, response));
        return response.uri();
    }

    private static HttpRequest.Builder rangeRequest(URI uri, long offset, int length,
            Duration timeout) {
        long last = offset + length - 1;
        return HttpRequest.newBuilder(uri).timeout(timeout).GET()
                .header("Range", "bytes=" + offset + "-" + last);
    }

    /**
     * Sends the request that {@code request} builds for each hop, from {@code origin} on
     * through at most {@link #MAX_REDIRECTS} redirects, and returns the last response.
     */
    private static HttpResponse<InputStream> sendFollowing(HttpClient client, URI origin,
            String authorization, Function<URI, HttpRequest.Builder> request, Duration timeout)
            throws IOException {
        URI hop = origin;
        URI previous = origin;
        boolean credentialsKept = true;
        for (int redirects = 0; ; redirects++) {
            credentialsKept = credentialsKept && RedirectCredentials.mayCarry(origin, hop)
                    && !RedirectCredentials.isDowngrade(previous, hop);
            HttpRequest.Builder builder = request.apply(hop);
            if (credentialsKept) {
                builder.header("Authorization", authorization);
            }
            HttpResponse<InputStream> response = send(client, builder.build(), timeout, hop);
            Optional<String> location = response.headers().firstValue("Location");
            if (!REDIRECTS.contains(response.statusCode()) || location.isEmpty()) {
                return response;
            }
            response.body().close();
            if (redirects == MAX_REDIRECTS) {
                throw new IOException("GET " + origin + ": more than " + MAX_REDIRECTS
                        + " redirects");
            }
            previous = hop;
            hop = redirectTarget(origin, hop, location.get());
        }
    }

    /** Returns the absolute HTTP or HTTPS URL that a redirect from {@code from} names. */
    private static URI redirectTarget(URI origin, URI from, String location) throws IOException {
        try {
            URI resolved = from.resolve(new URI(location));
            String scheme = resolved.getScheme();
            if (resolved.getHost() != null && ("http".equals(scheme) || "https".equals(scheme))) {
                return resolved;
            }
        } catch (URISyntaxException e) {
            // Reported below with the location.
        }
        // A signature in the query grants access, so the query is left out.
        int query = location.indexOf('?');
        String redacted = query < 0 ? location : location.substring(0, query) + "?...";
        throw new IOException("GET " + origin + ": invalid redirect location '" + redacted
                + "': not an HTTP or HTTPS URL");
    }

    private static HttpResponse<InputStream> send(HttpClient client, HttpRequest request,
            Duration timeout, URI uri) throws IOException {
        try {
            return client.send(request, bodyHandler(timeout));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while fetching " + uri);
        }
    }

    /**
     * Reads the range from {@code response} into {@code target}. {@code foreign} is the origin
     * of a host other than the registry that sent it, after a redirect.
     */
    private static void readRange(URI uri, HttpResponse<InputStream> response, long offset,
            ByteBuffer target, Optional<String> foreign) throws IOException {
        int length = target.remaining();
        long last = offset + length - 1;
        try (InputStream body = response.body()) {
            if (response.statusCode() != 206) {
                throw new StatusException("GET " + uri + " bytes " + offset + "-" + last
                        + " returned HTTP " + response.statusCode()
                        + foreign.map(o -> " from " + o + ", where it was redirected")
                                .orElse("")
                        + ", expected 206", response.statusCode(), retryAfter(response),
                        foreign.isPresent());
            }
            Optional<String> mismatch = ContentRange.mismatch(
                    response.headers().firstValue("Content-Range"), offset, last);
            if (mismatch.isPresent()) {
                throw new IOException("GET " + uri + " " + mismatch.get());
            }
            Optional<String> coding = ContentCoding.of(response.headers());
            if (coding.isPresent()) {
                // The JDK client decodes nothing, so the body is not the blob's bytes.
                throw new IOException("GET " + uri + " bytes " + offset + "-" + last
                        + " returned a body with Content-Encoding " + coding.get()
                        + ", which was not requested");
            }
            byte[] bytes = new byte[length];
            int count = readBody(body, bytes, "GET " + uri + " bytes " + offset + "-" + last);
            if (count != length) {
                throw new IOException("GET " + uri + " bytes " + offset + "-" + last
                        + " returned " + count + " of " + length + " bytes");
            }
            target.put(bytes);
        }
    }

    /**
     * Returns {@code scheme://authority} of the host that sent {@code response} if a redirect
     * led away from the host of {@code requested}.
     */
    private static Optional<String> otherOrigin(URI requested, HttpResponse<?> response) {
        URI sender = response.uri();
        boolean same = sender.getScheme().equals(requested.getScheme())
                && sender.getRawAuthority().equals(requested.getRawAuthority());
        return same ? Optional.empty()
                : Optional.of(sender.getScheme() + "://" + sender.getRawAuthority());
    }

    /**
     * Returns {@code scheme://authority} of the host that sent {@code response} if it gets no
     * credentials meant for {@code requested}.
     */
    private static Optional<String> foreignOrigin(URI requested, HttpResponse<?> response) {
        URI sender = response.uri();
        return RedirectCredentials.mayCarry(requested, sender) ? Optional.empty()
                : Optional.of(sender.getScheme() + "://" + sender.getRawAuthority());
    }

    private static Optional<Duration> retryAfter(HttpResponse<?> response) {
        return RetryAfter.parse(response.headers().firstValue("Retry-After"), Instant.now());
    }

    /** Reads until {@code bytes} is full or the body ends; returns the count read. */
    private static int readBody(InputStream body, byte[] bytes, String request)
            throws IOException {
        int count = 0;
        try {
            while (count < bytes.length) {
                int read = body.read(bytes, count, bytes.length - count);
                if (read < 0) {
                    break;
                }
                count += read;
            }
            return count;
        } catch (IOException e) {
            // The JDK's body stream reports a failure as "closed", with the reason as the cause.
            Throwable reason = e.getCause() != null ? e.getCause() : e;
            throw new IOException(request + " failed after " + count + " of " + bytes.length
                    + " bytes: " + reason.getMessage(), e);
        }
    }

    /**
     * Returns a handler whose body fails after {@code timeout} without data: the request's
     * timeout covers only the wait for the response headers.
     */
    private static HttpResponse.BodyHandler<InputStream> bodyHandler(Duration timeout) {
        return IdleTimeoutSubscriber.handler(timeout, IDLE_CHECKS);
    }

    /**
     * Returns the Content-Length of a HEAD of {@code uri} with {@code authorization}, which
     * must return 200. Redirects are followed as {@link #fetchAuthorized} follows them.
     */
    static long sizeAuthorized(HttpClient client, URI uri, String authorization,
            Duration timeout) throws IOException {
        HttpResponse<InputStream> response = sendFollowing(client, uri, authorization,
                hop -> HttpRequest.newBuilder(hop).timeout(timeout)
                        .method("HEAD", HttpRequest.BodyPublishers.noBody()), timeout);
        response.body().close();
        if (response.statusCode() != 200) {
            throw new StatusException("HEAD " + uri + " returned HTTP " + response.statusCode()
                    + ", expected 200", response.statusCode(), retryAfter(response),
                    foreignOrigin(uri, response).isPresent());
        }
        return response.headers().firstValueAsLong("Content-Length").orElseThrow(() ->
                new IOException("HEAD " + uri + " returned no Content-Length"));
    }

    /** Returns whether a GET of {@code uri} returns a 2xx status. */
    static boolean ping(HttpClient client, URI uri, Duration timeout) {
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(timeout).GET().build();
        try {
            HttpResponse<InputStream> response = client.send(request, bodyHandler(timeout));
            response.body().close();
            return response.statusCode() / 100 == 2;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
