package io.nydus.registry;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of the OCI distribution API: manifests and blobs, pulled and pushed.
 *
 * <p>Requests start anonymous. When a registry responds with 401, the client follows its
 * challenge with Basic credentials or a bearer token (see {@link Authenticator}). A request
 * whose token the registry rejects, as after an early expiry, goes once more with a new token
 * if its body can be created again, which blob data can only if its source can be reopened.
 * Idempotent requests are retried on 5xx and 429 responses and connection failures as the
 * {@link RetryPolicy} allows, and uploads from a {@link BlobSource} that can be reopened restart
 * from the beginning. Instances are thread-safe.
 */
public final class RegistryClient implements AutoCloseable {

    /** The largest manifest accepted, as in the distribution registry. */
    public static final int MAX_MANIFEST_BYTES = 4 << 20;
    private static final int MAX_ERROR_BODY_BYTES = 64 << 10;
    private static final String ACCEPT_MANIFESTS = String.join(", ", MediaTypes.MANIFEST_TYPES);
    private static final String OCTET_STREAM = "application/octet-stream";
    private static final Logger LOG = LoggerFactory.getLogger(RegistryClient.class);

    private final HttpTransport transport;
    private final BlobUploader uploader;
    private final RetryPolicy retryPolicy;
    private final int chunkSize;

    private RegistryClient(HttpTransport transport, int chunkSize, RetryPolicy retryPolicy) {
        this.transport = transport;
        this.retryPolicy = retryPolicy;
        this.chunkSize = chunkSize;
        this.uploader = new BlobUploader(transport, chunkSize, retryPolicy);
    }

    /** Returns the largest body of one upload request, as {@link Builder#chunkSize} set it. */
    public int chunkSize() {
        return chunkSize;
    }

    /**
     * Drops the cached bearer tokens, so that the next request that needs one fetches it with
     * the credentials the provider returns then. Call it when the credentials change.
     */
    public void forgetTokens() {
        transport.forgetTokens();
    }

    /**
     * Returns the TLS context of this client's connections: the certificates it trusts, or
     * every certificate in insecure mode. Other clients of the same registry, such as those of
     * its mirrors, use it to trust the same CA files.
     */
    public SSLContext sslContext() {
        return transport.sslContext();
    }

    /** Returns a builder with HTTPS, anonymous access and the default retry policy. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Fetches a manifest or index, sending every manifest and index type in {@code Accept}.
     *
     * @throws RegistryNotFoundException if the repository or manifest does not exist
     * @throws DigestMismatchException if the content does not match the digest of {@code
     *     reference} or the digest header of the registry
     */
    public ManifestContent getManifest(ImageReference reference) throws IOException {
        RequestTarget target = RequestTarget.manifest(reference);
        HttpCall call = HttpCall.get(manifestPath(reference),
                HttpCall.pullScope(reference.repository()), Map.of("Accept", ACCEPT_MANIFESTS));
        HttpTransport.BufferedResponse response =
                transport.sendBuffered(target, call, MAX_MANIFEST_BYTES);
        if (response.statusCode() != 200) {
            throw ErrorBody.parse(response.body()).toException(target, "GET",
                    response.statusCode());
        }
        String mediaType = mediaTypeOf(response.header("Content-Type"), response.body());
        ManifestContent content = new ManifestContent(response.body(), mediaType);
        if (reference.digest() != null && !reference.digest().equals(content.digest())) {
            throw new DigestMismatchException(target, reference.digest(), content.digest(),
                    content.size());
        }
        Optional<Digest> announced = sha256Header(response.header("Docker-Content-Digest"));
        if (announced.isPresent() && !announced.get().equals(content.digest())) {
            throw new DigestMismatchException(target, announced.get(), content.digest(),
                    content.size());
        }
        return content;
    }

    /**
     * Returns the descriptor of a manifest from a HEAD request, or empty if the registry
     * responds with 404. For a registry that sends no digest header, the client sends a GET.
     */
    public Optional<Descriptor> headManifest(ImageReference reference) throws IOException {
        RequestTarget target = RequestTarget.manifest(reference);
        HttpCall call = HttpCall.head(manifestPath(reference),
                HttpCall.pullScope(reference.repository()), Map.of("Accept", ACCEPT_MANIFESTS));
        HttpResponse<InputStream> response = transport.send(target, call);
        HttpTransport.discard(response);
        if (response.statusCode() == 404) {
            return Optional.empty();
        }
        if (response.statusCode() != 200) {
            throw ErrorBody.parse(new byte[0]).toException(target, "HEAD",
                    response.statusCode());
        }
        Optional<Digest> digest = sha256Header(
                response.headers().firstValue("Docker-Content-Digest"))
                .or(() -> Optional.ofNullable(reference.digest()));
        OptionalLong size = response.headers().firstValueAsLong("Content-Length");
        Optional<String> type = response.headers().firstValue("Content-Type")
                .map(RegistryClient::withoutParameters);
        if (digest.isEmpty() || size.isEmpty() || type.isEmpty()
                || !MediaTypes.MANIFEST_TYPES.contains(type.get())) {
            return Optional.of(getManifest(reference).descriptor());
        }
        return Optional.of(Descriptor.of(type.get(), digest.get(), size.getAsLong()));
    }

    /**
     * Pushes a manifest or index under {@code reference}'s tag or digest.
     *
     * @param mediaType the manifest's media type, sent as {@code Content-Type}
     * @return the digest of {@code bytes}
     * @throws IllegalArgumentException if {@code reference} has a digest other than that of
     *     {@code bytes}
     */
    public Digest putManifest(ImageReference reference, byte[] bytes, String mediaType)
            throws IOException {
        if (mediaType == null || mediaType.isEmpty()) {
            throw new IllegalArgumentException("manifest for " + reference
                    + " needs a media type");
        }
        byte[] body = bytes.clone();
        Digest digest = Digest.of(body);
        if (reference.digest() != null && !reference.digest().equals(digest)) {
            throw new IllegalArgumentException("manifest content has digest " + digest
                    + ", not the digest of reference " + reference);
        }
        RequestTarget target = RequestTarget.manifest(reference);
        HttpCall call = new HttpCall("PUT", manifestPath(reference),
                Map.of("Content-Type", mediaType), () -> BodyPublishers.ofByteArray(body),
                HttpCall.pushScope(reference.repository()), HttpCall.Resend.AFTER_ANY_FAILURE);
        HttpTransport.BufferedResponse response =
                transport.sendBuffered(target, call, MAX_ERROR_BODY_BYTES);
        if (response.statusCode() / 100 != 2) {
            throw ErrorBody.parse(response.body()).toException(target, "PUT",
                    response.statusCode());
        }
        Optional<Digest> stored = sha256Header(response.header("Docker-Content-Digest"));
        if (stored.isPresent() && !stored.get().equals(digest)) {
            throw new DigestMismatchException(target, digest, stored.get(), body.length);
        }
        LOG.debug("pushed {} as {}", target.describe(), digest);
        return digest;
    }

    /** Pushes {@code content} under {@code reference}'s tag or digest, keeping its bytes. */
    public Digest putManifest(ImageReference reference, ManifestContent content)
            throws IOException {
        return putManifest(reference, content.bytes(), content.mediaType());
    }

    /**
     * Opens a blob as a stream that verifies its SHA-256 digest and, if the registry sends
     * {@code Content-Length}, its size: reading past the end throws
     * {@link DigestMismatchException} or a {@link RegistryException} for a short stream. If
     * the connection fails mid-body, the stream requests the rest with a Range request, as
     * often as the retry policy allows.
     */
    public InputStream getBlob(Repository repository, Digest digest) throws IOException {
        return getBlob(repository, digest, -1);
    }

    /**
     * Opens a blob like {@link #getBlob(Repository, Digest)} and also checks that it has
     * {@code expectedSize} bytes, such as the size of its descriptor (-1 if unknown).
     */
    public InputStream getBlob(Repository repository, Digest digest, long expectedSize)
            throws IOException {
        RequestTarget target = RequestTarget.blob(repository, digest);
        HttpCall call = HttpCall.get(blobPath(repository, digest),
                HttpCall.pullScope(repository.name()), Map.of());
        HttpResponse<InputStream> response = transport.send(target, call);
        if (response.statusCode() != 200) {
            throw errorOf(transport, target, "GET", response);
        }
        requireIdentityEncoding(target, response);
        long size = expectedSize;
        OptionalLong announced = response.headers().firstValueAsLong("Content-Length");
        if (size < 0 && announced.isPresent()) {
            size = announced.getAsLong();
        }
        InputStream body = new ResumingInputStream(response.body(), target,
                offset -> openBlobFrom(target, repository, digest, offset), retryPolicy);
        return new VerifyingInputStream(body, target, digest, size);
    }

    /** Opens a blob from byte {@code offset} with a Range request, which must return 206. */
    private InputStream openBlobFrom(RequestTarget target, Repository repository, Digest digest,
            long offset) throws IOException {
        HttpCall call = HttpCall.get(blobPath(repository, digest),
                HttpCall.pullScope(repository.name()), Map.of("Range", "bytes=" + offset + "-"));
        HttpResponse<InputStream> response = transport.send(target, call);
        if (response.statusCode() != 206) {
            if (response.statusCode() == 200) {
                HttpTransport.discard(response);
                throw new UnexpectedStatusException(target, 200, List.of(), "GET "
                        + target.describe() + " from byte " + offset
                        + ": the registry ignored the Range header (HTTP 200), so the"
                        + " download cannot resume");
            }
            throw errorOf(transport, target, "GET", response);
        }
        String contentRange = response.headers().firstValue("Content-Range").orElse("");
        if (!contentRange.startsWith("bytes " + offset + "-")) {
            HttpTransport.discard(response);
            throw new RegistryException(target, "GET " + target.describe() + " from byte "
                    + offset + ": unexpected Content-Range '" + contentRange + "'", null);
        }
        requireIdentityEncoding(target, response);
        return response.body();
    }

    /**
     * Reads {@code length} bytes of a blob from {@code offset} with an HTTP Range request.
     * Range reads cannot be checked against the blob digest; callers verify their content.
     *
     * @throws UnexpectedStatusException if the registry responds with a status other than 206
     */
    public byte[] getBlobRange(Repository repository, Digest digest, long offset, int length)
            throws IOException {
        if (offset < 0 || length <= 0) {
            throw new IllegalArgumentException("invalid range of blob " + digest + ": offset "
                    + offset + ", length " + length);
        }
        long last = Math.addExact(offset, length - 1L);
        RequestTarget target = new RequestTarget(repository.registry(), repository.name(),
                "blob " + digest + " bytes " + offset + "-" + last);
        HttpCall call = HttpCall.get(blobPath(repository, digest),
                HttpCall.pullScope(repository.name()),
                Map.of("Range", "bytes=" + offset + "-" + last));
        return transport.exchangeReusingRedirect(target, call,
                response -> readRange(target, response, offset, length));
    }

    private byte[] readRange(RequestTarget target, HttpResponse<InputStream> response,
            long offset, int length) throws IOException {
        if (response.statusCode() == 200) {
            HttpTransport.discard(response);
            throw new UnexpectedStatusException(target, 200, List.of(), "GET "
                    + target.describe() + ": the registry ignored the Range header (HTTP 200)");
        }
        if (response.statusCode() != 206) {
            throw errorOf(transport, target, "GET", response);
        }
        // A cache or proxy that mixes up ranges returns another part of the blob. Its bytes
        // would fail the chunk digests, but this check names the cause and lets a retry help.
        Optional<String> mismatch = ContentRange.mismatch(
                response.headers().firstValue("Content-Range"), offset, offset + length - 1);
        if (mismatch.isPresent()) {
            HttpTransport.discard(response);
            throw new RegistryException(target, "GET " + target.describe() + " "
                    + mismatch.get(), null);
        }
        requireIdentityEncoding(target, response);
        try (InputStream body = response.body()) {
            byte[] bytes = body.readNBytes(length);
            if (bytes.length != length || body.read() != -1) {
                throw new RegistryException(target, "GET " + target.describe() + " returned "
                        + (bytes.length < length ? bytes.length + " of " : "more than ")
                        + length + " bytes", null);
            }
            return bytes;
        }
    }

    /**
     * Throws if the response body is content-coded, such as gzip from a CDN. The client asks
     * for no coding and the JDK client does not decode one, so the body would not be the
     * blob's bytes and a Range would count bytes of the coded form.
     */
    private static void requireIdentityEncoding(RequestTarget target,
            HttpResponse<InputStream> response) throws RegistryException {
        Optional<String> coding = ContentCoding.of(response.headers());
        if (coding.isPresent()) {
            HttpTransport.discard(response);
            throw new RegistryException(target, "GET " + target.describe() + " returned a body"
                    + " with Content-Encoding " + coding.get() + ", which the client did not"
                    + " request; a proxy or CDN in front of the registry must send blobs"
                    + " unchanged", null);
        }
    }

    /** Returns whether {@code repository} has the blob, with a HEAD request. */
    public boolean blobExists(Repository repository, Digest digest) throws IOException {
        return blobSize(repository, digest).isPresent();
    }

    /** Returns the size of a blob from a HEAD request, or empty if the registry returns 404. */
    public OptionalLong blobSize(Repository repository, Digest digest) throws IOException {
        return uploader.blobSize(repository, digest);
    }

    /**
     * Pushes a blob read from {@code data}, unless the repository has it already. The upload
     * cannot restart after a failure because the stream cannot be read again.
     */
    public BlobPushResult pushBlob(Repository repository, Digest digest, long size,
            InputStream data) throws IOException {
        return pushBlob(repository, digest, size, BlobSource.once(data));
    }

    /**
     * Pushes a blob unless the repository has it already (checked with HEAD). Blobs up to the
     * chunk size go in one PUT; larger ones in PATCH requests of the chunk size.
     *
     * @throws DigestMismatchException if the data does not have {@code digest}
     */
    public BlobPushResult pushBlob(Repository repository, Digest digest, long size,
            BlobSource source) throws IOException {
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size + " of blob " + digest);
        }
        if (blobExists(repository, digest)) {
            LOG.debug("blob {} exists in {}, not pushed", digest, repository);
            return BlobPushResult.EXISTED;
        }
        uploader.upload(repository, digest, size, source, null);
        return BlobPushResult.UPLOADED;
    }

    /**
     * Opens an upload session in {@code repository} for a blob that is sent in parts while it
     * is produced, before its digest is known.
     */
    public BlobUpload startUpload(Repository repository) throws IOException {
        RequestTarget target = new RequestTarget(repository.registry(), repository.name(),
                "new blob");
        return new BlobUpload(uploader, repository, target,
                uploader.openSession(target, repository));
    }

    /**
     * Returns whether {@code repository} has a tag, from its tag list; false if the registry
     * does not know the repository.
     */
    public boolean hasTags(Repository repository) throws IOException {
        RequestTarget target = new RequestTarget(repository.registry(), repository.name(),
                "tag list");
        HttpCall call = HttpCall.get("/v2/" + repository.name() + "/tags/list?n=1",
                HttpCall.pullScope(repository.name()), Map.of("Accept", "application/json"));
        HttpTransport.BufferedResponse response =
                transport.sendBuffered(target, call, MAX_MANIFEST_BYTES);
        if (response.statusCode() == 404) {
            return false;
        }
        if (response.statusCode() != 200) {
            throw ErrorBody.parse(response.body()).toException(target, "GET",
                    response.statusCode());
        }
        try {
            var tags = JsonFields.MAPPER.readTree(response.body()).path("tags");
            return tags.isArray() && !tags.isEmpty();
        } catch (IOException e) {
            throw new RegistryException(target, "GET " + target.describe() + ": the tag list"
                    + " is not JSON: " + e.getMessage(), e);
        }
    }

    /**
     * Links a blob of {@code from} into {@code to} in the same registry. If the registry starts
     * an upload in place of the mount (HTTP 202), the blob is copied through this client.
     */
    public BlobPushResult mountBlob(Repository from, Repository to, Digest digest)
            throws IOException {
        if (!from.registry().equals(to.registry())) {
            throw new IllegalArgumentException("cannot mount blob " + digest + " from " + from
                    + " into " + to + ": the registries differ");
        }
        if (blobExists(to, digest)) {
            return BlobPushResult.EXISTED;
        }
        Optional<UploadSessions.Session> opened = uploader.mount(from, to, digest);
        if (opened.isEmpty()) {
            return BlobPushResult.MOUNTED;
        }
        long size;
        try {
            size = blobSize(from, digest).orElseThrow(() -> new RegistryNotFoundException(
                    RequestTarget.blob(from, digest), List.of(), "cannot copy blob " + digest
                            + " into " + to + ": it is not in " + from));
        } catch (IOException | RuntimeException e) {
            opened.get().cancel();
            throw e;
        }
        LOG.info("registry {} did not mount blob {} from {}; copying it into {}",
                to.registry(), digest, from.name(), to.name());
        BlobSource copy = () -> getBlob(from, digest, size);
        uploader.upload(to, digest, size, copy, opened.get());
        return BlobPushResult.UPLOADED;
    }

    static String manifestPath(ImageReference reference) {
        return "/v2/" + reference.repository() + "/manifests/" + reference.manifestReference();
    }

    static String blobPath(Repository repository, Digest digest) {
        return "/v2/" + repository.name() + "/blobs/" + digest;
    }

    static RegistryException errorOf(HttpTransport transport, RequestTarget target,
            String method, HttpResponse<InputStream> response) {
        ErrorBody parsed = ErrorBody.parse(readErrorBody(target, response));
        int status = response.statusCode();
        Optional<Duration> retryAfter = RetryAfter.parse(
                response.headers().firstValue("Retry-After"), Instant.now());
        Optional<String> storage = transport.foreignOrigin(target, response);
        String note = storage.map(origin -> " from " + origin + ", where the registry"
                + " redirected the request").orElse("")
                + retryAfter.filter(wait -> status == 429 || status >= 500)
                        .map(wait -> " (Retry-After " + wait.toSeconds() + " s)").orElse("")
                + (status == 416 ? outsideRangeNote(response) : "");
        RegistryException error;
        if (storage.isPresent() && (status == 401 || status == 403)) {
            // The registry granted access, so this is no login failure: a new redirect, with
            // a new signed URL, may pass.
            error = new UnexpectedStatusException(target, status, parsed.codes(), method + " "
                    + target.describe() + " failed with HTTP " + status + note
                    + parsed.suffix());
        } else {
            error = parsed.toException(target, method, status, note);
        }
        if (error instanceof UnexpectedStatusException unexpected) {
            unexpected.setRetryAfter(retryAfter);
        }
        return error;
    }

    /**
     * Reads up to {@link #MAX_ERROR_BODY_BYTES} of an error response, keeping what arrived
     * when the body fails. The status alone decides the error, and a registry that keeps the
     * blob's Content-Length on a short error body, as the distribution registry 2.8.2 does on
     * 416, would otherwise turn it into a failed read that is retried.
     */
    private static byte[] readErrorBody(RequestTarget target,
            HttpResponse<InputStream> response) {
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        try (InputStream in = response.body()) {
            int n;
            while (body.size() < MAX_ERROR_BODY_BYTES
                    && (n = in.read(buffer, 0, Math.min(buffer.length,
                            MAX_ERROR_BODY_BYTES - body.size()))) > 0) {
                body.write(buffer, 0, n);
            }
        } catch (IOException e) {
            LOG.debug("reading the error body of HTTP {} for {} failed after {} bytes: {}",
                    response.statusCode(), target.describe(), body.size(), e.toString());
        }
        return body.toByteArray();
    }

    /** Returns the note for a 416 response, with the blob size that its Content-Range names. */
    private static String outsideRangeNote(HttpResponse<?> response) {
        String range = response.headers().firstValue("Content-Range").orElse("").strip();
        if (!range.matches("bytes \\*/\\d{1,18}")) {
            return " (range not satisfiable)";
        }
        return " (range not satisfiable: the blob has " + range.substring("bytes */".length())
                + " bytes)";
    }

    private static Optional<Digest> sha256Header(Optional<String> header) {
        return header.map(String::strip).filter(value -> value.startsWith(Digest.SHA256_PREFIX))
                .map(Digest::parse);
    }

    /**
     * Returns the media type of a manifest: the {@code Content-Type} if it is specific, else
     * the document's {@code mediaType} field, else an OCI index or manifest by its fields.
     */
    private static String mediaTypeOf(Optional<String> contentType, byte[] body) {
        String type = contentType.map(RegistryClient::withoutParameters).orElse("");
        if (!type.isEmpty() && !type.equals("application/json") && !type.equals("text/plain")) {
            return type;
        }
        try {
            var json = JsonFields.MAPPER.readTree(body);
            String field = json.path("mediaType").asText("");
            if (!field.isEmpty()) {
                return field;
            }
            return json.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
        } catch (IOException e) {
            return type.isEmpty() ? OCTET_STREAM : type;
        }
    }

    private static String withoutParameters(String contentType) {
        int semicolon = contentType.indexOf(';');
        String type = semicolon < 0 ? contentType : contentType.substring(0, semicolon);
        return type.strip().toLowerCase(Locale.ROOT);
    }

    @Override
    public void close() {
        // The shutdown hook of a stopping JVM may still cancel upload sessions with it.
        if (!UploadSessions.isStopping()) {
            transport.close();
        }
    }

    /** Settings of a {@link RegistryClient}. */
    public static final class Builder {

        private TransportMode mode = TransportMode.HTTPS;
        private Path caCertificateFile;
        private CredentialProvider credentials = CredentialProvider.anonymous();
        private Duration connectTimeout = Duration.ofSeconds(30);
        private Duration requestTimeout = Duration.ofMinutes(5);
        private Duration readTimeout = Duration.ofMinutes(1);
        private RetryPolicy retryPolicy = RetryPolicy.DEFAULT;
        private int chunkSize = 128 << 20;
        private Clock clock = Clock.systemUTC();
        private String userAgent = "nydus-java";

        private Builder() {
        }

        /** Sets how to connect: HTTPS (the default), insecure HTTPS or plain HTTP. */
        public Builder transportMode(TransportMode value) {
            mode = Objects.requireNonNull(value, "transportMode");
            return this;
        }

        /** Trusts the PEM certificates in {@code file} besides the system trust store. */
        public Builder caCertificateFile(Path file) {
            caCertificateFile = file;
            return this;
        }

        /** Sets where credentials come from; by default every request is anonymous. */
        public Builder credentials(CredentialProvider value) {
            credentials = Objects.requireNonNull(value, "credentials");
            return this;
        }

        /** Sets the time allowed to open a connection (default 30 s). */
        public Builder connectTimeout(Duration value) {
            connectTimeout = requirePositive(value, "connectTimeout");
            return this;
        }

        /** Sets the time allowed until response headers arrive (default 5 min). */
        public Builder requestTimeout(Duration value) {
            requestTimeout = requirePositive(value, "requestTimeout");
            return this;
        }

        /**
         * Sets the time a response body may send nothing while the client waits for data
         * (default 1 min).
         */
        public Builder readTimeout(Duration value) {
            readTimeout = requirePositive(value, "readTimeout");
            return this;
        }

        /** Sets the retries of failed idempotent requests and uploads. */
        public Builder retryPolicy(RetryPolicy value) {
            retryPolicy = Objects.requireNonNull(value, "retryPolicy");
            return this;
        }

        /**
         * Sets the upload chunk size in bytes (default 128 MiB). A blob up to this size goes in
         * one PUT request, a larger one in PATCH requests of this size. Each request streams
         * its part from the blob source. Every request must finish within the request timeout.
         */
        public Builder chunkSize(int bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("chunk size must be positive, found " + bytes);
            }
            chunkSize = bytes;
            return this;
        }

        /** Sets the clock that decides when cached tokens expire. */
        public Builder clock(Clock value) {
            clock = Objects.requireNonNull(value, "clock");
            return this;
        }

        /** Sets the {@code User-Agent} header. */
        public Builder userAgent(String value) {
            userAgent = Objects.requireNonNull(value, "userAgent");
            return this;
        }

        /**
         * Builds the client. Requests go through the proxies that {@code HTTPS_PROXY},
         * {@code HTTP_PROXY} and {@code NO_PROXY} of the environment name, as in Go programs.
         *
         * @throws IOException if the CA certificate file cannot be read
         * @throws IllegalArgumentException if a proxy variable is not an HTTP proxy URL
         */
        public RegistryClient build() throws IOException {
            HttpTransport.Settings settings = new HttpTransport.Settings(mode, sslContext(),
                    connectTimeout, requestTimeout, readTimeout, retryPolicy, userAgent,
                    EnvironmentProxySelector.from(System.getenv()));
            return new RegistryClient(new HttpTransport(settings, credentials, clock), chunkSize,
                    retryPolicy);
        }

        /**
         * Returns the TLS context: every certificate in insecure mode, else the system trust
         * store plus the CA file and the certificates that {@code SSL_CERT_FILE} and
         * {@code SSL_CERT_DIR} name, which pipelines set for Go tools such as upstream's. In
         * plain HTTP mode without a CA file it is the system trust store alone.
         */
        private SSLContext sslContext() throws IOException {
            if (mode == TransportMode.INSECURE) {
                return TlsContexts.trustingAll();
            }
            if (caCertificateFile != null) {
                return TlsContexts.trusting(caCertificateFile,
                        TlsContexts.environmentCertificates(System.getenv()));
            }
            if (mode == TransportMode.PLAIN_HTTP) {
                // Only a token service can use TLS then. Reading the variables' certificates
                // would cost each process 0.3 to 0.4 s for a registry without TLS.
                return TlsContexts.system();
            }
            return TlsContexts.environment(System.getenv());
        }

        private static Duration requirePositive(Duration value, String name) {
            if (value == null || value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException(name + " must be positive, found " + value);
            }
            return value;
        }
    }
}
