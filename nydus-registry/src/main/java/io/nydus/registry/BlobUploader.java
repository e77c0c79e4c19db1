package io.nydus.registry;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URLEncoder;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Blob uploads of the distribution API: a POST opens an upload session, then one PUT sends a
 * small blob, or PATCH requests send a large one chunk by chunk before a closing PUT.
 */
final class BlobUploader {

    private static final Logger LOG = LoggerFactory.getLogger(BlobUploader.class);
    private static final String OCTET_STREAM = "application/octet-stream";

    private final HttpTransport transport;
    private final int chunkSize;
    private final RetryPolicy retryPolicy;

    BlobUploader(HttpTransport transport, int chunkSize, RetryPolicy retryPolicy) {
        this.transport = transport;
        this.chunkSize = chunkSize;
        this.retryPolicy = retryPolicy;
    }

    OptionalLong blobSize(Repository repository, Digest digest) throws IOException {
        RequestTarget target = RequestTarget.blob(repository, digest);
        HttpCall call = HttpCall.head(RegistryClient.blobPath(repository, digest),
                HttpCall.pullScope(repository.name()), Map.of());
        HttpResponse<InputStream> response = transport.send(target, call);
        HttpTransport.discard(response);
        if (response.statusCode() == 404) {
            return OptionalLong.empty();
        }
        if (response.statusCode() != 200) {
            throw ErrorBody.parse(new byte[0]).toException(target, "HEAD",
                    response.statusCode());
        }
        OptionalLong size = response.headers().firstValueAsLong("Content-Length");
        if (size.isEmpty()) {
            throw new RegistryException(target, "HEAD " + target.describe()
                    + ": the registry sent no Content-Length", null);
        }
        return size;
    }

    /**
     * Asks the registry to mount a blob of {@code from} into {@code to}.
     *
     * @return empty if it did, else the upload session it opened in place
     */
    Optional<UploadSessions.Session> mount(Repository from, Repository to, Digest digest)
            throws IOException {
        RequestTarget target = new RequestTarget(to.registry(), to.name(),
                "blob " + digest + " mounted from " + from.name());
        String query = "?mount=" + encode(digest.toString()) + "&from=" + encode(from.name());
        HttpCall call = new HttpCall("POST", uploadsPath(to) + query, Map.of(),
                BodyPublishers::noBody,
                HttpCall.pushScope(to.name()) + " " + HttpCall.pullScope(from.name()),
                HttpCall.Resend.AFTER_ANY_FAILURE);
        return UploadSessions.open(this, target, to, none -> {
            HttpResponse<InputStream> response = transport.send(target, call);
            if (response.statusCode() == 201) {
                HttpTransport.discard(response);
                LOG.debug("mounted blob {} from {} into {}", digest, from, to);
                return null;
            }
            if (!opensSession(response.statusCode())) {
                throw RegistryClient.errorOf(transport, target, "POST", response);
            }
            HttpTransport.discard(response);
            return location(target, response);
        });
    }

    /**
     * Returns whether a POST to the uploads path opened a session: the specification names
     * 202, and some registries send 200 or 204, which containerd's pusher accepts as well.
     */
    private static boolean opensSession(int status) {
        return status == 202 || status == 200 || status == 204;
    }

    /** Returns whether a PATCH was accepted: 202 as specified, or 204 from some registries. */
    private static boolean acceptsPart(int status) {
        return status == 202 || status == 204;
    }

    /**
     * Returns whether the PUT that closes an upload succeeded: the specification names 201,
     * and some registries send 200, 202 or 204, which containerd's pusher accepts as well.
     */
    private static boolean commitsBlob(int status) {
        return status == 201 || status == 200 || status == 202 || status == 204;
    }

    /**
     * Checks, after a commit that got a success status other than 201, that the registry
     * stores the blob with its size, so that such a response never passes for a stored blob.
     */
    private void requireStored(RequestTarget target, Repository repository, Digest digest,
            long size, int status) throws IOException {
        OptionalLong stored = blobSize(repository, digest);
        if (stored.isEmpty() || stored.getAsLong() != size) {
            String found = stored.isEmpty() ? "does not have it"
                    : "has " + stored.getAsLong() + " bytes of it, expected " + size;
            throw new RegistryException(target, "PUT " + target.describe() + " returned HTTP "
                    + status + ", but the registry " + found, null);
        }
        LOG.debug("registry {} responded to the commit of {} with HTTP {}, and the blob is"
                + " stored", repository.registry(), digest, status);
    }

    /**
     * Uploads a blob, restarting from a new session after a transient failure if
     * {@code source} can be reopened.
     *
     * @param opened an upload session to use for the first attempt, or null to open one
     */
    void upload(Repository repository, Digest digest, long size, BlobSource source,
            UploadSessions.Session opened) throws IOException {
        RequestTarget target = RequestTarget.blob(repository, digest);
        long start = System.nanoTime();
        UploadSessions.Session first = opened;
        for (int attempt = 1; ; attempt++) {
            try (UploadSessions.Session session =
                    first != null ? first : openSession(target, repository)) {
                first = null;
                uploadOnce(target, repository, digest, size, source, session);
                return;
            } catch (RegistryException e) {
                Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
                Duration delay = retryPolicy.delayBefore(attempt + 1, requestedWait(e));
                if (!e.isTransient() || !source.reopenable()
                        || !retryPolicy.allows(attempt + 1, elapsed, delay)) {
                    throw e;
                }
                waitBeforeRestart(target, attempt + 1, e, delay);
            }
        }
    }

    UploadSessions.Session openSession(RequestTarget target, Repository repository)
            throws IOException {
        HttpCall call = new HttpCall("POST", uploadsPath(repository), Map.of(),
                BodyPublishers::noBody, HttpCall.pushScope(repository.name()),
                HttpCall.Resend.AFTER_ANY_FAILURE);
        return UploadSessions.open(this, target, repository, none -> {
            HttpResponse<InputStream> response = transport.send(target, call);
            if (!opensSession(response.statusCode())) {
                throw RegistryClient.errorOf(transport, target, "POST", response);
            }
            HttpTransport.discard(response);
            return location(target, response);
        }).orElseThrow();
    }

    private void uploadOnce(RequestTarget target, Repository repository, Digest digest,
            long size, BlobSource source, UploadSessions.Session session) throws IOException {
        try (SourceReader data = new SourceReader(target, source)) {
            try {
                sendData(target, repository, digest, size, data, session);
            } catch (RegistryException e) {
                IOException sourceFailure = data.sourceFailure();
                if (sourceFailure == null) {
                    throw e;
                }
                // Another attempt would read the same data, so the upload stops here.
                throw new RegistryException(target, "reading the data of " + target.describe()
                        + " failed: " + sourceFailure.getMessage(), sourceFailure);
            }
        }
    }

    private void sendData(RequestTarget target, Repository repository, Digest digest, long size,
            SourceReader data, UploadSessions.Session session) throws IOException {
        if (size <= chunkSize) {
            session.commit(location -> {
                putWhole(target, repository, digest, size, data, location);
                return location;
            });
        } else {
            patchChunks(target, repository, size, data, session);
            requireDigest(target, digest, size, data);
            session.commit(location -> {
                closeSession(target, repository, digest, size, location);
                return location;
            });
        }
    }

    private void putWhole(RequestTarget target, Repository repository, Digest digest, long size,
            SourceReader data, String location) throws IOException {
        BlobSource whole = data.nextPart();
        HttpTransport.BufferedResponse response;
        try (PartBody body = new PartBody(target, whole, size, false)) {
            HttpCall call = new HttpCall("PUT", withDigest(location, digest),
                    Map.of("Content-Type", OCTET_STREAM), body,
                    HttpCall.pushScope(repository.name()), body.resend());
            response = transport.sendBuffered(target, call, 1 << 16);
        } catch (RegistryException e) {
            requireSize(target, size, data, e);
            throw e;
        }
        if (response.statusCode() == 201) {
            return;
        }
        if (commitsBlob(response.statusCode())) {
            requireStored(target, repository, digest, size, response.statusCode());
            return;
        }
        requireSize(target, size, data, null);
        requireDigest(target, digest, size, data);
        RegistryException error = ErrorBody.parse(response.body()).toException(target, "PUT",
                response.statusCode());
        throw withReadOnceHint(target, error, whole);
    }

    /**
     * Sends the data in chunks, moving {@code session} to the location the registry names
     * after each. Each chunk is streamed from {@code data}, so a chunk is never held in memory
     * as a whole.
     */
    private void patchChunks(RequestTarget target, Repository repository, long size,
            SourceReader data, UploadSessions.Session session) throws IOException {
        for (long offset = 0; offset < size; offset += chunkSize) {
            long start = offset;
            long length = Math.min(chunkSize, size - offset);
            BlobSource chunk = data.nextPart();
            session.send(location -> patch(target, repository, location, start, length, chunk,
                    size));
        }
        if (data.read() != -1) {
            throw new RegistryException(target, "PATCH " + target.describe() + ": the blob"
                    + " source has more than " + size + " bytes", null);
        }
    }

    /**
     * Sends {@code part}, {@code length} bytes, as the bytes from {@code offset} on with one
     * PATCH request, and returns the upload location that the registry gives for the next
     * request. If the registry rejects the token and {@code part} can be reopened, the PATCH
     * goes once more with a new token and the part read again.
     *
     * @param size the size of the whole blob for messages, or -1 if it is not known yet
     */
    String patch(RequestTarget target, Repository repository, String location, long offset,
            long length, BlobSource part, long size) throws IOException {
        long last = offset + length - 1;
        HttpResponse<InputStream> response;
        try (PartBody body = new PartBody(target, part, length, true)) {
            HttpCall call = new HttpCall("PATCH", location, Map.of("Content-Type", OCTET_STREAM,
                    "Content-Range", offset + "-" + last), body,
                    HttpCall.pushScope(repository.name()), body.resend());
            try {
                response = transport.send(target, call);
            } catch (RegistryException e) {
                requireWholePart(target, size, offset, body, e);
                throw e;
            }
            requireWholePart(target, size, offset, body, null);
        }
        if (!acceptsPart(response.statusCode())) {
            RegistryException error =
                    RegistryClient.errorOf(transport, target, "PATCH", response);
            throw withReadOnceHint(target, error, part);
        }
        HttpTransport.discard(response);
        LOG.debug("sent bytes {}-{} of {}", offset, last, target.describe());
        // Without a Location header the session stays where it is, as Docker's client does.
        if (response.headers().firstValue("Location").filter(l -> !l.isEmpty()).isEmpty()) {
            return location;
        }
        return location(target, response);
    }

    /** Throws a non-transient error if the stream of the part in {@code body} ended early. */
    private static void requireWholePart(RequestTarget target, long size, long offset,
            PartBody body, Throwable cause) throws RegistryException {
        if (body.sourceEnded()) {
            long sent = offset + body.bytesRead();
            String of = size < 0 ? "" : " of " + size;
            throw new RegistryException(target, "PATCH " + target.describe() + ": the blob"
                    + " source ended after " + sent + of + " bytes", cause);
        }
    }

    /**
     * Returns {@code error}, with a hint added if it is a 401 to a request whose data can be
     * read only once: a new token cannot help it, so the blob must be pushed again.
     */
    private static RegistryException withReadOnceHint(RequestTarget target,
            RegistryException error, BlobSource part) {
        if (!(error instanceof RegistryUnauthorizedException unauthorized)
                || unauthorized.statusCode() != 401 || part.reopenable()) {
            return error;
        }
        return new RegistryUnauthorizedException(target, 401, error.getMessage()
                + "; the request cannot go again with a new token because its data comes from a"
                + " stream that can be read only once, so push the blob again from a source that"
                + " can be reopened, such as a file");
    }

    /**
     * Commits an upload session with a PUT that names the blob's digest. The PUT has no body,
     * so a PUT rejected with 401 goes again with a new token. Other failures are not retried:
     * the session ends when the registry stores the blob, so a second PUT after a lost
     * response would fail with 404.
     *
     * @param size the blob's size, checked with a HEAD request after a success status other
     *     than 201
     */
    void closeSession(RequestTarget target, Repository repository, Digest digest, long size,
            String location) throws IOException {
        HttpCall call = new HttpCall("PUT", withDigest(location, digest),
                Map.of("Content-Type", OCTET_STREAM), BodyPublishers::noBody,
                HttpCall.pushScope(repository.name()), HttpCall.Resend.AFTER_UNAUTHORIZED);
        HttpResponse<InputStream> response = transport.send(target, call);
        int status = response.statusCode();
        if (!commitsBlob(status)) {
            throw RegistryClient.errorOf(transport, target, "PUT", response);
        }
        HttpTransport.discard(response);
        if (status != 201) {
            requireStored(target, repository, digest, size, status);
        }
    }

    /**
     * Ends an upload session without storing its data. A registry also drops sessions left
     * open after a while, so a failure is logged and not retried: a cancel must not hold up
     * the error that made the caller cancel. Only a rejected token gets a second request, with
     * a new token.
     */
    void cancelSession(RequestTarget target, Repository repository, String location) {
        HttpCall call = new HttpCall("DELETE", location, Map.of(), BodyPublishers::noBody,
                HttpCall.cancelScope(repository.name()), HttpCall.Resend.AFTER_UNAUTHORIZED);
        try {
            HttpResponse<InputStream> response = transport.send(target, call);
            HttpTransport.discard(response);
            int status = response.statusCode();
            if (status != 204 && status != 202 && status != 200 && status != 404) {
                LOG.warn("cannot cancel the upload session of {}: DELETE returned HTTP {}; the"
                        + " registry keeps its data until it purges old sessions",
                        target.describe(), status);
            }
        } catch (IOException e) {
            LOG.warn("cannot cancel the upload session of {}: {}; the registry keeps its data"
                    + " until it purges old sessions", target.describe(), e.getMessage());
        }
    }

    /** Throws a non-transient error if the source did not supply {@code size} bytes. */
    private static void requireSize(RequestTarget target, long size, SourceReader data,
            Throwable cause) throws RegistryException {
        if (data.count() != size) {
            throw new RegistryException(target, "PUT " + target.describe() + ": the blob source"
                    + " supplied " + data.count() + " bytes, expected " + size, cause);
        }
    }

    private static void requireDigest(RequestTarget target, Digest digest, long size,
            SourceReader data) throws DigestMismatchException {
        Digest actual = data.digest();
        if (!actual.equals(digest)) {
            throw new DigestMismatchException(target, digest, actual, size);
        }
    }

    /** Returns the wait that the {@code Retry-After} of a failed response requested. */
    private static Optional<Duration> requestedWait(RegistryException failure) {
        return failure instanceof UnexpectedStatusException status ? status.retryAfter()
                : Optional.empty();
    }

    private void waitBeforeRestart(RequestTarget target, int attempt, RegistryException cause,
            Duration delay) throws InterruptedIOException {
        LOG.warn("restarting the upload of {} after: {}: attempt {} of {} in {} ms",
                target.describe(), cause.getMessage(), attempt, retryPolicy.maxAttempts(),
                delay.toMillis());
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to upload "
                    + target.describe());
        }
    }

    private static String location(RequestTarget target, HttpResponse<?> response)
            throws RegistryException {
        String location = response.headers().firstValue("Location").orElse(null);
        if (location == null || location.isEmpty()) {
            throw new RegistryException(target, "upload of " + target.describe() + ": HTTP "
                    + response.statusCode() + " without a Location header", null);
        }
        try {
            return HttpTransport.resolveLocation(response, location);
        } catch (IllegalArgumentException e) {
            throw new RegistryException(target, "upload of " + target.describe() + ": HTTP "
                    + response.statusCode() + " with an invalid Location header '" + location
                    + "': " + e.getMessage(), e);
        }
    }

    private static String uploadsPath(Repository repository) {
        return "/v2/" + repository.name() + "/blobs/uploads/";
    }

    private static String withDigest(String location, Digest digest) {
        String separator = location.contains("?") ? "&" : "?";
        return location + separator + "digest=" + encode(digest.toString());
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
