package io.nydus.registry;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URLEncoder;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
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
            if (response.statusCode() != 202) {
                throw RegistryClient.errorOf(target, "POST", response);
            }
            HttpTransport.discard(response);
            return location(target, response);
        });
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
                if (!e.isTransient() || !source.reopenable()
                        || !retryPolicy.allows(attempt + 1, elapsed)) {
                    throw e;
                }
                waitBeforeRestart(target, attempt + 1, e);
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
            if (response.statusCode() != 202) {
                throw RegistryClient.errorOf(target, "POST", response);
            }
            HttpTransport.discard(response);
            return location(target, response);
        }).orElseThrow();
    }

    private void uploadOnce(RequestTarget target, Repository repository, Digest digest,
            long size, BlobSource source, UploadSessions.Session session) throws IOException {
        try (HashingInputStream data = new HashingInputStream(source.open())) {
            if (size <= chunkSize) {
                session.commit(location -> {
                    putWhole(target, repository, digest, size, data, location);
                    return location;
                });
            } else {
                patchChunks(target, repository, size, data, session);
                requireDigest(target, digest, size, data);
                session.commit(location -> {
                    closeSession(target, repository, digest, location);
                    return location;
                });
            }
        }
    }

    private void putWhole(RequestTarget target, Repository repository, Digest digest, long size,
            HashingInputStream data, String location) throws IOException {
        HttpCall call = new HttpCall("PUT", withDigest(location, digest),
                Map.of("Content-Type", OCTET_STREAM),
                () -> BodyPublishers.fromPublisher(BodyPublishers.ofInputStream(() -> data),
                        size),
                HttpCall.pushScope(repository.name()), HttpCall.Resend.NEVER);
        HttpTransport.BufferedResponse response;
        try {
            response = transport.sendBuffered(target, call, 1 << 16);
        } catch (RegistryException e) {
            requireSize(target, size, data, e);
            throw e;
        }
        if (response.statusCode() == 201) {
            return;
        }
        requireSize(target, size, data, null);
        requireDigest(target, digest, size, data);
        throw ErrorBody.parse(response.body()).toException(target, "PUT",
                response.statusCode());
    }

    /**
     * Sends the data in chunks, moving {@code session} to the location the registry names
     * after each. Each chunk is streamed from {@code data}, so a chunk is never held in memory
     * as a whole.
     */
    private void patchChunks(RequestTarget target, Repository repository, long size,
            HashingInputStream data, UploadSessions.Session session) throws IOException {
        for (long offset = 0; offset < size; offset += chunkSize) {
            long start = offset;
            long length = Math.min(chunkSize, size - offset);
            session.send(location -> patch(target, repository, location, start, length, data,
                    size));
        }
        if (data.read() != -1) {
            throw new RegistryException(target, "PATCH " + target.describe() + ": the blob"
                    + " source has more than " + size + " bytes", null);
        }
    }

    /**
     * Sends the next {@code length} bytes of {@code data} as the bytes from {@code offset} on
     * with one PATCH request, and returns the upload location that the registry gives for the
     * next request.
     *
     * @param size the size of the whole blob for messages, or -1 if it is not known yet
     */
    String patch(RequestTarget target, Repository repository, String location, long offset,
            long length, InputStream data, long size) throws IOException {
        long last = offset + length - 1;
        Slice slice = new Slice(data, length);
        HttpCall call = new HttpCall("PATCH", location, Map.of("Content-Type", OCTET_STREAM,
                "Content-Range", offset + "-" + last),
                () -> BodyPublishers.fromPublisher(BodyPublishers.ofInputStream(() -> slice),
                        length),
                HttpCall.pushScope(repository.name()), HttpCall.Resend.NEVER);
        HttpResponse<InputStream> response;
        try {
            response = transport.send(target, call);
        } catch (RegistryException e) {
            requireWholeSlice(target, size, offset, length, slice, e);
            throw e;
        }
        requireWholeSlice(target, size, offset, length, slice, null);
        if (response.statusCode() != 202) {
            throw RegistryClient.errorOf(target, "PATCH", response);
        }
        HttpTransport.discard(response);
        LOG.debug("sent bytes {}-{} of {}", offset, last, target.describe());
        return location(target, response);
    }

    /** Throws a non-transient error if the source ended inside the chunk {@code slice}. */
    private static void requireWholeSlice(RequestTarget target, long size, long offset,
            long length, Slice slice, Throwable cause) throws RegistryException {
        if (slice.sourceEnded()) {
            long sent = offset + length - slice.remaining();
            String of = size < 0 ? "" : " of " + size;
            throw new RegistryException(target, "PATCH " + target.describe() + ": the blob"
                    + " source ended after " + sent + of + " bytes", cause);
        }
    }

    /**
     * Commits an upload session with a PUT that names the blob's digest. The PUT has no body,
     * so a PUT rejected with 401 goes again with a new token. Other failures are not retried:
     * the session ends when the registry stores the blob, so a second PUT after a lost
     * response would fail with 404.
     */
    void closeSession(RequestTarget target, Repository repository, Digest digest,
            String location) throws IOException {
        HttpCall call = new HttpCall("PUT", withDigest(location, digest),
                Map.of("Content-Type", OCTET_STREAM), BodyPublishers::noBody,
                HttpCall.pushScope(repository.name()), HttpCall.Resend.AFTER_UNAUTHORIZED);
        HttpResponse<InputStream> response = transport.send(target, call);
        if (response.statusCode() != 201) {
            throw RegistryClient.errorOf(target, "PUT", response);
        }
        HttpTransport.discard(response);
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
    private static void requireSize(RequestTarget target, long size, HashingInputStream data,
            Throwable cause) throws RegistryException {
        if (data.count() != size) {
            throw new RegistryException(target, "PUT " + target.describe() + ": the blob source"
                    + " supplied " + data.count() + " bytes, expected " + size, cause);
        }
    }

    private static void requireDigest(RequestTarget target, Digest digest, long size,
            HashingInputStream data) throws DigestMismatchException {
        Digest actual = data.digest();
        if (!actual.equals(digest)) {
            throw new DigestMismatchException(target, digest, actual, size);
        }
    }

    private void waitBeforeRestart(RequestTarget target, int attempt, RegistryException cause)
            throws InterruptedIOException {
        Duration delay = retryPolicy.delayBefore(attempt);
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
        return HttpTransport.resolveLocation(response, location);
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

    /**
     * The next {@code length} bytes of a stream, the body of one PATCH request. The HTTP
     * client closes it after sending, which leaves the underlying stream open.
     */
    private static final class Slice extends InputStream {

        private final InputStream in;
        private volatile long remaining;
        private volatile boolean sourceEnded;

        Slice(InputStream in, long length) {
            this.in = in;
            this.remaining = length;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) == 1 ? one[0] & 0xff : -1;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (remaining == 0) {
                return -1;
            }
            int n = in.read(buffer, offset, (int) Math.min(length, remaining));
            if (n < 0) {
                sourceEnded = true;
                return -1;
            }
            remaining -= n;
            return n;
        }

        @Override
        public void close() {
        }

        long remaining() {
            return remaining;
        }

        /** Returns whether the underlying stream ended before this slice's last byte. */
        boolean sourceEnded() {
            return sourceEnded;
        }
    }

    /** Counts and hashes the bytes read through it. */
    private static final class HashingInputStream extends FilterInputStream {

        private final MessageDigest sha256 = Digest.newSha256();
        private long count;

        HashingInputStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                sha256.update((byte) b);
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = in.read(buffer, offset, length);
            if (n > 0) {
                sha256.update(buffer, offset, n);
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) {
            return 0;
        }

        long count() {
            return count;
        }

        Digest digest() {
            return Digest.fromHash(sha256.digest());
        }
    }
}
