package io.nydus.storage.backend;

import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.Digest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryNotFoundException;
import io.nydus.registry.RegistryUnauthorizedException;
import io.nydus.registry.Repository;
import io.nydus.registry.RetryPolicy;
import io.nydus.registry.SchemeUpgrades;
import io.nydus.registry.TransportMode;
import io.nydus.registry.UnexpectedStatusException;
import io.nydus.storage.BlobBackend;
import io.nydus.storage.config.MirrorConfig;
import io.nydus.storage.config.ProxyConfig;
import io.nydus.storage.config.RegistryConfig;
import io.nydus.storage.config.RuntimeSettings;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Blobs in an OCI registry, read with HTTP Range requests. Each read tries the proxy, then the
 * mirrors, then the registry, and the whole sequence is retried {@code retry_limit} times with
 * exponential backoff. Authentication (Basic or bearer tokens, refreshed on 401 and before they
 * expire) is {@link RegistryClient}'s; a preset {@code registry_token} is sent until the
 * registry rejects it.
 */
public final class RegistryBackend implements BlobBackend {
    private static final Logger LOG = LoggerFactory.getLogger(RegistryBackend.class);
    private static final Duration FIRST_BACKOFF = Duration.ofMillis(100);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(2);

    private final RegistryConfig config;
    private final BackendMetrics metrics;
    private final RegistryClient client;
    private final Repository repository;
    private final String baseUrl;
    private final HttpClient directClient;
    /**
     * The client for requests with the preset token. It follows no redirects itself, so that
     * the token goes only to the hops that {@link io.nydus.registry.RedirectCredentials} allows.
     */
    private final HttpClient presetClient;
    /**
     * The origin that reads with the preset token go to: {@link #baseUrl}, or the HTTPS origin
     * on the same host that the registry redirected plain HTTP to, which saves each read that
     * redirect.
     */
    private final AtomicReference<String> presetBase;
    private final Optional<Endpoint> proxy;
    private final List<Endpoint> mirrors;
    private final AtomicBoolean presetTokenValid;
    /** The credentials set through the daemon's API, which replace the configured ones. */
    private final Supplier<Optional<Credentials>> replacement;
    private final AtomicReference<Optional<Credentials>> lastReplacement;

    private RegistryBackend(RegistryConfig config, BackendMetrics metrics, RegistryClient client,
            HttpClient directClient, HttpClient presetClient, Optional<Endpoint> proxy,
            List<Endpoint> mirrors, Supplier<Optional<Credentials>> replacement) {
        this.config = config;
        this.metrics = metrics;
        this.client = client;
        this.repository = new Repository(config.host(), config.repo());
        this.baseUrl = (config.scheme().equals("http") ? "http" : "https") + "://"
                + config.host();
        this.directClient = directClient;
        this.presetClient = presetClient;
        this.proxy = proxy;
        this.mirrors = mirrors;
        this.presetTokenValid = new AtomicBoolean(config.registryToken().isPresent());
        this.presetBase = new AtomicReference<>(baseUrl);
        this.replacement = replacement;
        this.lastReplacement = new AtomicReference<>(replacement.get());
    }

    /**
     * Opens a backend for {@code config}.
     *
     * @throws IOException if a CA certificate file cannot be read
     */
    public static RegistryBackend open(RegistryConfig config, BackendMetrics metrics)
            throws IOException {
        return open(config, metrics, Clock.systemUTC());
    }

    /**
     * Opens a backend for {@code config} whose cached bearer tokens expire by {@code clock}.
     *
     * @throws IOException if a CA certificate file cannot be read
     */
    public static RegistryBackend open(RegistryConfig config, BackendMetrics metrics,
            Clock clock) throws IOException {
        return open(config, metrics, clock, Optional::empty);
    }

    /**
     * Opens a backend for {@code config} whose credentials {@code replacement} may replace
     * while it runs. It is asked at every authentication, and a change drops the cached tokens.
     *
     * @throws IOException if a CA certificate file cannot be read
     */
    public static RegistryBackend open(RegistryConfig config, BackendMetrics metrics,
            Clock clock, Supplier<Optional<Credentials>> replacement) throws IOException {
        CredentialProvider configured = credentials(config);
        CredentialProvider current = registry -> replacement.get()
                .filter(found -> registry.equals(config.host()))
                .or(() -> configured.credentialsFor(registry));
        RegistryClient client = RegistryClient.builder().transportMode(mode(config))
                .caCertificateFile(caFile(config.caCertFiles()))
                .credentials(current)
                .connectTimeout(config.connectTimeout()).requestTimeout(config.timeout())
                .readTimeout(config.timeout()).retryPolicy(RetryPolicy.NONE).clock(clock).build();
        // Mirrors trust what the registry's client trusts, ca_cert_files included, as in
        // upstream's nydusd, so that a mirror signed by a private CA serves reads.
        HttpClient direct = HttpClient.newBuilder().connectTimeout(config.connectTimeout())
                .sslContext(client.sslContext())
                .followRedirects(HttpClient.Redirect.NORMAL).build();
        Optional<Endpoint> proxy = config.proxy().map(p -> proxyEndpoint(p, config));
        List<Endpoint> mirrors = new ArrayList<>();
        for (MirrorConfig mirror : config.mirrors()) {
            mirrors.add(new Endpoint("mirror " + mirror.host(), direct, mirror.host(),
                    mirror.headers(), mirror.pingUrl(), mirror.failureLimit(),
                    mirror.healthCheckInterval()));
        }
        HttpClient preset = HttpClient.newBuilder().connectTimeout(config.connectTimeout())
                .sslContext(client.sslContext())
                .followRedirects(HttpClient.Redirect.NEVER).build();
        return new RegistryBackend(config, metrics, client, direct, preset, proxy,
                List.copyOf(mirrors), replacement);
    }

    private static TransportMode mode(RegistryConfig config) {
        if (config.scheme().equals("http")) {
            return TransportMode.PLAIN_HTTP;
        }
        // An empty scheme falls back to plain HTTP only together with skip_verify, because
        // the fallback mode also skips certificate checks.
        return config.skipVerify() ? TransportMode.INSECURE : TransportMode.HTTPS;
    }

    /**
     * Returns one PEM file with every configured CA, joined in a temporary file if needed.
     *
     * @throws IOException naming the key and the file that cannot be read
     */
    private static Path caFile(List<Path> files) throws IOException {
        for (Path file : files) {
            if (!Files.isReadable(file)) {
                throw new IOException("cannot read the CA certificate file " + file + " of"
                        + " device.backend.config.ca_cert_files: " + (Files.exists(file)
                        ? "permission denied" : "no such file"));
            }
        }
        if (files.size() <= 1) {
            return files.isEmpty() ? null : files.getFirst();
        }
        Path joined = Files.createTempFile("nydus-ca-", ".pem");
        joined.toFile().deleteOnExit();
        for (Path file : files) {
            Files.write(joined, Files.readAllBytes(file),
                    java.nio.file.StandardOpenOption.APPEND);
            Files.writeString(joined, "\n", java.nio.file.StandardOpenOption.APPEND);
        }
        return joined;
    }

    private static CredentialProvider credentials(RegistryConfig config) {
        if (config.auth().isEmpty()) {
            return CredentialProvider.anonymous();
        }
        Credentials credentials = RuntimeSettings.decodeAuth(config.auth().get(),
                "device.backend.config.auth");
        return CredentialProvider.of(Map.of(config.host(), credentials));
    }

    private static Endpoint proxyEndpoint(ProxyConfig p, RegistryConfig config) {
        int port = p.url().getPort() > 0 ? p.url().getPort()
                : "https".equals(p.url().getScheme()) ? 443 : 80;
        HttpClient proxied = HttpClient.newBuilder().connectTimeout(config.connectTimeout())
                .proxy(ProxySelector.of(new InetSocketAddress(p.url().getHost(), port)))
                .followRedirects(HttpClient.Redirect.NORMAL).build();
        String scheme = p.useHttp() || config.scheme().equals("http") ? "http" : "https";
        return new Endpoint("proxy " + p.url(), proxied,
                URI.create(scheme + "://" + config.host()), Map.of(), p.pingUrl(), 1,
                p.checkInterval());
    }

    @Override
    public void read(String blobId, long offset, ByteBuffer target) throws IOException {
        Digest digest = digestOf(blobId);
        forgetTokensOnNewCredentials();
        long start = System.nanoTime();
        int position = target.position();
        IOException last = null;
        int attempts = 0;
        while (attempts <= config.retryLimit()) {
            if (attempts > 0) {
                metrics.recordRetry();
                Duration delay = delayBefore(attempts, last);
                LOG.warn("retrying blob {} bytes {}+{} from {} in {} ms ({} of {}): {}", blobId,
                        offset, target.remaining(), describe(), delay.toMillis(), attempts,
                        config.retryLimit(), message(last));
                sleep(delay);
            }
            attempts++;
            try {
                target.position(position);
                readOnce(blobId, digest, offset, target);
                metrics.recordRead(target.position() - position, System.nanoTime() - start);
                return;
            } catch (RegistryNotFoundException | RegistryUnauthorizedException e) {
                last = e;
                break;
            } catch (IOException e) {
                last = e;
                if (outsideBlob(e)) {
                    break;
                }
            }
        }
        metrics.recordError(target.limit() - position, System.nanoTime() - start);
        throw new IOException("reading blob " + blobId + " bytes " + offset + "+"
                + (target.limit() - position) + " from " + describe() + " failed after "
                + attempts + (attempts == 1 ? " attempt: " : " attempts: ") + message(last),
                last);
    }

    /**
     * Returns whether the registry rejected the range as outside the blob (416): the blob is
     * shorter than the image records, and asking again cannot help.
     */
    private static boolean outsideBlob(IOException failure) {
        return failure instanceof UnexpectedStatusException status && status.statusCode() == 416;
    }

    /**
     * Returns the pause before retry {@code attempt}: the exponential backoff, or the
     * registry's {@code Retry-After} where that is longer. The configured {@code timeout} caps
     * the wait, so that a registry that requests minutes cannot hold a reader that long.
     */
    private Duration delayBefore(int attempt, IOException failure) {
        Duration backoff = backoff(attempt);
        Optional<Duration> requested = retryAfter(failure);
        if (requested.isEmpty() || requested.get().compareTo(backoff) <= 0) {
            return backoff;
        }
        Duration timeout = config.timeout();
        return requested.get().compareTo(timeout) > 0 ? timeout : requested.get();
    }

    private static Optional<Duration> retryAfter(IOException failure) {
        return switch (failure) {
            case UnexpectedStatusException status -> status.retryAfter();
            case RangeRequest.StatusException status -> status.retryAfter();
            case null, default -> Optional.empty();
        };
    }

    /**
     * Drops the tokens fetched with the former credentials once the API replaced them, so
     * that the new ones take effect at once and not when the tokens expire.
     */
    private void forgetTokensOnNewCredentials() {
        Optional<Credentials> now = replacement.get();
        Optional<Credentials> before = lastReplacement.get();
        if (!now.equals(before) && lastReplacement.compareAndSet(before, now)) {
            client.forgetTokens();
            LOG.info("registry credentials for {} replaced through the API (user {}), cached"
                    + " tokens dropped", describe(), now.map(Credentials::username)
                    .orElse("from the configuration"));
        }
    }

    /** Returns the exception's message, or its class name for those without one. */
    private static String message(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private void readOnce(String blobId, Digest digest, long offset, ByteBuffer target)
            throws IOException {
        int position = target.position();
        String path = "/v2/" + config.repo() + "/blobs/" + digest;
        if (proxy.isPresent() && proxy.get().usable(config.timeout())) {
            if (tryEndpoint(proxy.get(), path, offset, target)) {
                return;
            }
            if (!config.proxy().get().fallback()) {
                throw new IOException(proxy.get().name() + " failed and fallback is disabled");
            }
            target.position(position);
        }
        for (Endpoint mirror : mirrors) {
            if (mirror.usable(config.timeout())) {
                if (tryEndpoint(mirror, path, offset, target)) {
                    return;
                }
                target.position(position);
            }
        }
        if (presetTokenValid.get() && readWithPresetToken(path, offset, target)) {
            return;
        }
        target.position(position);
        target.put(client.getBlobRange(repository, digest, offset, target.remaining()));
    }

    private boolean tryEndpoint(Endpoint endpoint, String path, long offset, ByteBuffer target) {
        try {
            RangeRequest.fetch(endpoint.client(), endpoint.base().resolve(path),
                    endpoint.headers(), offset, target, config.timeout());
            endpoint.succeeded();
            return true;
        } catch (IOException e) {
            boolean skipped = endpoint.failed();
            LOG.warn("{} failed for {}{}: {}", endpoint.name(), path,
                    skipped ? ", skipping it for now" : "", message(e));
            return false;
        }
    }

    private boolean readWithPresetToken(String path, long offset, ByteBuffer target)
            throws IOException {
        try {
            fetchWithPresetToken(path, offset, target);
            return true;
        } catch (RangeRequest.StatusException e) {
            if (rejectsPresetToken(e)) {
                rejectPresetToken(e.status());
                return false;
            }
            throw e;
        }
    }

    /**
     * Fetches a range with the preset token from {@link #presetBase}, and records an upgrade
     * of the registry to HTTPS. When the HTTPS origin of an earlier upgrade is gone
     * ({@link #originGone}), as when the proxy that upgraded stopped, the read goes to
     * {@link #baseUrl} again.
     */
    private void fetchWithPresetToken(String path, long offset, ByteBuffer target)
            throws IOException {
        String base = presetBase.get();
        int position = target.position();
        URI requested = URI.create(base + path);
        URI served;
        try {
            served = RangeRequest.fetchAuthorized(presetClient, requested,
                    "Bearer " + config.registryToken().get(), offset, target, config.timeout());
        } catch (IOException e) {
            if (!originGone(e) || base.equals(baseUrl)
                    || !presetBase.compareAndSet(base, baseUrl)) {
                throw e;
            }
            LOG.warn("registry {} failed on {}, which it redirected plain HTTP to before ({});"
                    + " reading from {} again", config.host(), base, e.toString(), baseUrl);
            target.position(position);
            requested = URI.create(baseUrl + path);
            served = RangeRequest.fetchAuthorized(presetClient, requested,
                    "Bearer " + config.registryToken().get(), offset, target, config.timeout());
        }
        rememberPresetUpgrade(requested, served);
    }

    /**
     * Returns whether a read failed because its origin is gone: no connection, no TLS, or a
     * connection closed before the reply, as a pooled connection to a stopped server is. An
     * error status or a timeout does not mean that the origin is gone.
     */
    private static boolean originGone(IOException e) {
        return !(e instanceof RangeRequest.StatusException)
                && !(e instanceof HttpTimeoutException) && !(e instanceof InterruptedIOException);
    }

    private void rememberPresetUpgrade(URI requested, URI served) {
        if (!SchemeUpgrades.isUpgrade(requested, served)) {
            return;
        }
        String upgraded = "https://" + served.getRawAuthority();
        if (presetBase.compareAndSet(baseUrl, upgraded)) {
            LOG.info("registry {} redirected plain HTTP to {}, so reads with the preset"
                    + " registry_token go there first", config.host(), upgraded);
        }
    }

    /**
     * Returns whether the registry rejected the preset token. A storage service that a
     * redirect named never saw the token, and its 403 means an expired signed URL, which the
     * next attempt replaces with a new redirect.
     */
    private static boolean rejectsPresetToken(RangeRequest.StatusException e) {
        return (e.status() == 401 || e.status() == 403) && !e.redirected();
    }

    private void rejectPresetToken(int status) {
        LOG.warn("registry {} rejected the preset registry_token (HTTP {}), requesting tokens"
                + " from its token service from now on", config.host(), status);
        presetTokenValid.set(false);
    }

    @Override
    public long blobSize(String blobId) throws IOException {
        if (presetTokenValid.get()) {
            String path = "/v2/" + config.repo() + "/blobs/" + digestOf(blobId);
            try {
                return RangeRequest.sizeAuthorized(presetClient, URI.create(baseUrl + path),
                        "Bearer " + config.registryToken().get(), config.timeout());
            } catch (RangeRequest.StatusException e) {
                if (!rejectsPresetToken(e)) {
                    throw e;
                }
                rejectPresetToken(e.status());
            }
        }
        OptionalLong size = client.blobSize(repository, digestOf(blobId));
        if (size.isEmpty()) {
            throw new NoSuchFileException(blobId, null, "blob not found in " + describe());
        }
        return size.getAsLong();
    }

    private static Digest digestOf(String blobId) throws IOException {
        try {
            return new Digest(blobId);
        } catch (IllegalArgumentException e) {
            throw new IOException("blob id '" + blobId + "' is not a sha256 digest, which a"
                    + " registry backend needs", e);
        }
    }

    private static Duration backoff(int attempt) {
        Duration delay = FIRST_BACKOFF.multipliedBy(1L << Math.min(attempt - 1, 20));
        return delay.compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : delay;
    }

    private static void sleep(Duration delay) throws InterruptedIOException {
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry");
        }
    }

    @Override
    public String describe() {
        return "registry " + repository;
    }

    @Override
    public void close() {
        client.close();
        directClient.close();
        presetClient.close();
        proxy.ifPresent(p -> p.client().close());
    }
}
