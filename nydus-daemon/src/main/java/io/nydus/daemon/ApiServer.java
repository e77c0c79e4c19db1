package io.nydus.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.fuse.InflightRequest;
import io.nydus.posix.UnixSockets;
import io.nydus.storage.ErrorEvents;
import io.nydus.storage.config.RuntimeSettings;
import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The management API: HTTP/1.1 with JSON bodies on a unix socket, under upstream's paths, and
 * the same figures in Prometheus' text format at {@code /metrics}.
 */
public final class ApiServer implements Closeable {
    /** The value that {@code GET /api/v1/config} shows in place of credentials. */
    static final String MASKED = "<set>";
    /** Upstream's settings that this daemon does not apply, which it rejects. */
    private static final Set<String> UNSUPPORTED_SETTINGS =
            Set.of("proxy_url", "dragonfly_scheduler_endpoint");
    private static final Logger LOG = LoggerFactory.getLogger(ApiServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> LOG_LEVELS = List.of("trace", "debug", "info", "warn",
            "error");

    private final Path socket;
    private final Daemon daemon;
    private final String version;
    private final Consumer<String> logLevel;
    private final ServerSocketChannel server;
    private final Thread acceptor;
    private final Map<String, Endpoint> endpoints = endpoints();

    private ApiServer(Path socket, Daemon daemon, String version, Consumer<String> logLevel,
            ServerSocketChannel server) {
        this.socket = socket;
        this.daemon = daemon;
        this.version = version;
        this.logLevel = logLevel;
        this.server = server;
        this.acceptor = Thread.ofPlatform().name("nydusd-api").daemon().unstarted(this::accept);
    }

    /**
     * Listens on {@code socket}, replacing a stale socket file left by an earlier daemon.
     *
     * @param logLevel changes the daemon's log level ({@code PUT /api/v1/daemon})
     * @throws IOException if {@code socket} names a file that is not a socket, which is kept
     */
    public static ApiServer start(Path socket, Daemon daemon, String version,
            Consumer<String> logLevel) throws IOException {
        UnixSockets.deleteStale(socket, "API socket");
        if (socket.getParent() != null) {
            Files.createDirectories(socket.getParent());
        }
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            server.close();
            throw new IOException("cannot listen on API socket " + socket + ": "
                    + e.getMessage(), e);
        }
        ApiServer api = new ApiServer(socket, daemon, version, logLevel, server);
        api.acceptor.start();
        LOG.info("API listening on {}", socket);
        return api;
    }

    private void accept() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                Thread.ofVirtual().name("nydusd-api-client").start(() -> serve(client));
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                LOG.warn("API socket {}: accept failed: {}", socket, e.getMessage());
            }
        }
    }

    private void serve(SocketChannel client) {
        try (client; InputStream in = new BufferedInputStream(Channels.newInputStream(client));
                OutputStream out = Channels.newOutputStream(client)) {
            while (true) {
                ApiRequest request;
                try {
                    request = ApiRequest.read(in);
                } catch (ApiException e) {
                    Reply reply = new Reply(e.status(), error(e.code(), e.getMessage()));
                    respond(out, reply, true);
                    return;
                }
                if (request == null) {
                    return;
                }
                boolean close = "close".equalsIgnoreCase(request.headers().get("connection"));
                Reply reply = handle(request);
                respond(out, reply, close);
                if (close) {
                    return;
                }
            }
        } catch (IOException e) {
            LOG.debug("API connection ended: {}", e.getMessage());
        }
    }

    /** A response: status, a body that is JSON, text or nothing, and extra header fields. */
    record Reply(int status, Object body, Map<String, String> headers) {

        Reply {
            headers = Map.copyOf(headers);
        }

        Reply(int status, Object body) {
            this(status, body, Map.of());
        }
    }

    /** The handler of one method on one path. */
    @FunctionalInterface
    private interface Endpoint {
        Reply handle(ApiRequest request) throws IOException;
    }

    Reply handle(ApiRequest request) {
        try {
            return route(request);
        } catch (ApiException e) {
            return new Reply(e.status(), error(e.code(), e.getMessage()));
        } catch (IllegalArgumentException e) {
            return new Reply(400, error("InvalidArgument", e.getMessage()));
        } catch (IllegalStateException e) {
            return new Reply(409, error("InvalidState", e.getMessage()));
        } catch (IOException | RuntimeException e) {
            LOG.error("API {} {} failed", request.method(), request.path(), e);
            return new Reply(500, error("InternalError", String.valueOf(e.getMessage())));
        } catch (OutOfMemoryError e) {
            // A mount decodes the whole bootstrap, so a large image can exceed the heap. The
            // failed mount's objects are garbage then, and the daemon serves on.
            LOG.error("API {} {} ran out of heap memory (maximum {} MiB)", request.method(),
                    request.path(), Runtime.getRuntime().maxMemory() >> 20);
            return new Reply(500, error("OutOfMemory", "the daemon ran out of heap memory ("
                    + (Runtime.getRuntime().maxMemory() >> 20) + " MiB); start it with a larger"
                    + " -Xmx in NYDUS_MEMORY_OPTS"));
        }
    }

    /** Returns the handlers by "METHOD PATH", under upstream's paths. */
    private Map<String, Endpoint> endpoints() {
        Map<String, Endpoint> routes = new LinkedHashMap<>();
        routes.put("GET /api/v1/daemon", request -> ok(daemon.info(version)));
        routes.put("PUT /api/v1/daemon", this::setLogLevel);
        routes.put("GET /api/v1/daemon/backend", request -> ok(backend(request)));
        routes.put("GET /api/v1/daemon/events", request -> ok(events()));
        routes.put("GET /api/v1/config", request -> ok(settings(request)));
        routes.put("PUT /api/v1/config", this::setSettings);
        routes.put("PUT /api/v1/daemon/exit", request -> exit());
        routes.put("PUT /api/v1/daemon/fuse/sendfd", request -> fuse(FuseService::sendStates));
        routes.put("PUT /api/v1/daemon/fuse/takeover", request -> fuse(FuseService::takeover));
        routes.put("PUT /api/v1/daemon/start", request -> fuse(FuseService::start));
        routes.put("POST /api/v1/mount", request -> mount(request, false));
        routes.put("PUT /api/v1/mount", request -> mount(request, true));
        routes.put("DELETE /api/v1/mount", this::umount);
        routes.put("GET /api/v1/metrics", request -> ok(image(request).metrics().global()));
        routes.put("GET /api/v1/metrics/files", request -> ok(files(request)));
        routes.put("GET /api/v1/metrics/pattern",
                request -> ok(image(request).metrics().pattern()));
        routes.put("GET /api/v1/metrics/backend",
                request -> ok(image(request).data().backendMetrics()));
        routes.put("GET /api/v1/metrics/blobcache",
                request -> ok(image(request).data().cacheMetrics()));
        routes.put("GET /api/v1/metrics/inflight", request -> inflight());
        routes.put("GET /metrics", request -> new Reply(200, Prometheus.render(daemon)));
        return Collections.unmodifiableMap(routes);
    }

    private Reply route(ApiRequest request) throws IOException {
        Endpoint endpoint = endpoints.get(request.method() + " " + request.path());
        if (endpoint != null) {
            return endpoint.handle(request);
        }
        List<String> allowed = endpoints.keySet().stream()
                .filter(key -> key.endsWith(" " + request.path()))
                .map(key -> key.substring(0, key.indexOf(' ')))
                .toList();
        if (allowed.isEmpty()) {
            throw new ApiException(404, "NotFound", "no API endpoint at " + request.path());
        }
        String methods = String.join(", ", allowed);
        return new Reply(405, error("MethodNotAllowed", request.path() + " does not accept "
                + request.method() + "; it accepts " + methods), Map.of("Allow", methods));
    }

    private static Reply ok(Object body) {
        return new Reply(200, body);
    }

    private MountedImage image(ApiRequest request) {
        return daemon.image(request.param("id"));
    }

    /**
     * Returns the per-file figures, or with {@code latest=true} the files read since the last
     * such request, which that request clears.
     */
    private Object files(ApiRequest request) {
        FsMetrics metrics = image(request).metrics();
        // Upstream takes only the exact text "true", so "TRUE" or "1" return the figures.
        if ("true".equals(request.param("latest"))) {
            return metrics.latestReadFiles();
        }
        return metrics.files();
    }

    /** Returns the latest data path errors with upstream's keys. */
    private static Map<String, Object> events() {
        ErrorEvents.Snapshot events = ErrorEvents.DAEMON.snapshot();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("max_errors", events.maxErrors());
        body.put("total_errors", events.totalErrors());
        body.put("max_size", events.maxSize());
        body.put("total_size", events.totalSize());
        body.put("errors", events.errors());
        return body;
    }

    /** Returns the FUSE requests in flight, or status 204 without a body when there are none. */
    private Reply inflight() {
        List<Map<String, Object>> requests = new ArrayList<>();
        for (InflightRequest inflight : daemon.inflight()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("inode", inflight.nodeId());
            entry.put("opcode", inflight.opcode());
            entry.put("unique", inflight.unique());
            entry.put("timestamp_secs", inflight.startedEpochSecond());
            requests.add(entry);
        }
        return requests.isEmpty() ? new Reply(204, null) : ok(requests);
    }

    private Object backend(ApiRequest request) {
        MountedImage image = daemon.image(request.param("mountpoint"));
        return Map.of("mountpoint", image.mountpoint(), "backend", image.data().backend());
    }

    private Reply setLogLevel(ApiRequest request) throws ApiException {
        JsonNode body = json(request);
        String levels = String.join(", ", LOG_LEVELS);
        String expected = "; send {\"log_level\": LEVEL} with LEVEL one of " + levels;
        if (!body.isObject()) {
            throw new ApiException(400, "InvalidArgument", "the body of PUT /api/v1/daemon is"
                    + " not a JSON object" + expected);
        }
        JsonNode value = body.get("log_level");
        if (value == null) {
            List<String> fields = body.properties().stream().map(Map.Entry::getKey).toList();
            String found = fields.isEmpty() ? "" : " (its fields: " + String.join(", ", fields)
                    + ")";
            throw new ApiException(400, "InvalidArgument", "the body of PUT /api/v1/daemon has"
                    + " no \"log_level\" field" + found + expected);
        }
        String level = value.asText("");
        if (!value.isTextual() || !LOG_LEVELS.contains(level)) {
            throw new ApiException(400, "InvalidArgument", "log_level " + value
                    + " must be one of " + levels);
        }
        logLevel.accept(level);
        LOG.info("log level set to {}", level);
        return new Reply(204, null);
    }

    /** Returns the settings of {@code ?id}, or all of them, with credentials masked. */
    private Map<String, String> settings(ApiRequest request) throws ApiException {
        String id = request.param("id");
        if (id != null && !id.isEmpty()) {
            checkMounted(id);
        }
        Map<String, String> values = new LinkedHashMap<>();
        daemon.settings().list(id == null || id.isEmpty() ? null : id).forEach((name, value) ->
                values.put(name,
                name.endsWith(RuntimeSettings.Key.REGISTRY_AUTH.apiName()) ? MASKED : value));
        return values;
    }

    /**
     * Applies the settings in the body, an object of strings, to mount {@code ?id} (default:
     * the only mount). Every key is checked before any is set.
     */
    private Reply setSettings(ApiRequest request) throws ApiException {
        String id = request.param("id");
        if (id == null || id.isEmpty()) {
            id = daemon.image(null).mountpoint();
        } else {
            checkMounted(id);
        }
        JsonNode body = json(request);
        if (!body.isObject()) {
            throw new ApiException(400, "InvalidArgument", "the body of PUT /api/v1/config"
                    + " must be a JSON object of strings, such as {\"registry_auth\": BASE64}");
        }
        Map<RuntimeSettings.Key, String> changes = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : body.properties()) {
            changes.put(settingKey(field.getKey()), settingValue(field));
        }
        RuntimeSettings checked = new RuntimeSettings();
        try {
            changes.forEach((key, value) -> checked.set("", key, value));
        } catch (IllegalArgumentException e) {
            throw new ApiException(400, "InvalidArgument", e.getMessage());
        }
        for (Map.Entry<RuntimeSettings.Key, String> change : changes.entrySet()) {
            daemon.settings().set(id, change.getKey(), change.getValue());
        }
        LOG.info("settings of mount {} changed through the API: {}", id, changes.keySet()
                .stream().map(RuntimeSettings.Key::apiName).toList());
        return new Reply(204, null);
    }

    /**
     * Rejects an id that no image is mounted at: settings of a mount that is gone would apply
     * to the next image mounted there.
     */
    private void checkMounted(String id) throws ApiException {
        if (!daemon.mounts().containsKey(id)) {
            throw new ApiException(404, "NotFound", "no image is mounted at " + id
                    + "; mounted: " + daemon.mounts().keySet());
        }
    }

    private static RuntimeSettings.Key settingKey(String name) throws ApiException {
        Optional<RuntimeSettings.Key> key = RuntimeSettings.Key.of(name);
        if (key.isPresent()) {
            return key.get();
        }
        String known = RuntimeSettings.Key.REGISTRY_AUTH.apiName();
        if (UNSUPPORTED_SETTINGS.contains(name)) {
            throw new ApiException(400, "InvalidArgument", "setting '" + name + "' is not"
                    + " supported by this nydusd; supported: " + known);
        }
        throw new ApiException(400, "InvalidArgument", "unknown setting '" + name
                + "'; supported: " + known);
    }

    private static String settingValue(Map.Entry<String, JsonNode> field) throws ApiException {
        if (!field.getValue().isTextual()) {
            throw new ApiException(400, "InvalidArgument", "setting '" + field.getKey()
                    + "' must be a string");
        }
        return field.getValue().asText();
    }

    /**
     * Stops the daemon. Once a supervisor has the mount's descriptor, the mount stays for a
     * successor. Otherwise the daemon unmounts, since no process could serve the mount again.
     * Upstream's daemon leaves the mount on this request in both cases.
     */
    private Reply exit() {
        FuseService fuse = daemon.fuseService();
        if (fuse != null && fuse.handedOver()) {
            LOG.info("exit requested through the API; the mount stays for a successor");
            daemon.requestExitForSuccessor();
        } else {
            LOG.info("exit requested through the API");
            daemon.requestExit();
        }
        return new Reply(204, null);
    }

    /** One step of a handover to or from a supervisor. */
    @FunctionalInterface
    private interface HandoverStep {
        void run(FuseService fuse) throws IOException;
    }

    private Reply fuse(HandoverStep step) throws IOException {
        FuseService fuse = daemon.fuseService();
        if (fuse == null) {
            throw new IllegalStateException("this daemon serves no FUSE mount of its own");
        }
        step.run(fuse);
        return new Reply(204, null);
    }

    private Reply mount(ApiRequest request, boolean replace) throws IOException {
        String mountpoint = required(request, "mountpoint");
        requireServing(replace ? "remount " + mountpoint : "mount " + mountpoint);
        JsonNode body = json(request);
        String fsType = body.path("fs_type").asText("rafs");
        if (!fsType.equals("rafs")) {
            throw new ApiException(400, "InvalidArgument", "fs_type '" + fsType + "' is not"
                    + " supported: this nydusd serves only RAFS images and cannot share a host"
                    + " directory as upstream's passthrough_fs does; use fs_type rafs");
        }
        String source = body.path("source").asText("");
        if (source.isEmpty()) {
            throw new ApiException(400, "InvalidArgument", "the body needs \"source\", the"
                    + " bootstrap path");
        }
        if (!Files.exists(Path.of(source))) {
            throw new ApiException(400, "InvalidArgument", "bootstrap " + source
                    + " not found");
        }
        if (!Files.isRegularFile(Path.of(source))) {
            throw new ApiException(400, "InvalidArgument", "bootstrap " + source
                    + " is not a regular file");
        }
        DaemonConfig config = DaemonConfig.parse("the config of mount " + mountpoint,
                body.path("config").asText("{}"));
        List<String> prefetch = new ArrayList<>();
        body.path("prefetch_files").forEach(file -> prefetch.add(file.asText()));
        if (replace) {
            daemon.remount(mountpoint, Path.of(source), config, prefetch);
        } else {
            daemon.mount(mountpoint, Path.of(source), config, prefetch);
        }
        return new Reply(204, null);
    }

    private Reply umount(ApiRequest request) throws IOException {
        String mountpoint = required(request, "mountpoint");
        requireServing("unmount " + mountpoint);
        daemon.umount(mountpoint);
        return new Reply(204, null);
    }

    /**
     * Rejects a change of the mounted images while a daemon started with --upgrade has not
     * taken its mount over and started: the images it restores keep their Vfs slots, which a
     * new image must not take.
     */
    private void requireServing(String action) throws ApiException {
        Daemon.State state = daemon.state();
        if (state == Daemon.State.INIT || state == Daemon.State.READY) {
            throw new ApiException(409, "InvalidState", "cannot " + action + ": the daemon is "
                    + state + " and changes its images only once it serves its mount");
        }
    }

    private static String required(ApiRequest request, String name) throws ApiException {
        String value = request.param(name);
        if (value == null || value.isEmpty()) {
            throw new ApiException(400, "InvalidArgument", request.method() + " "
                    + request.path() + " needs ?" + name + "=");
        }
        return value;
    }

    private static JsonNode json(ApiRequest request) throws ApiException {
        if (request.body().length == 0) {
            return JSON.createObjectNode();
        }
        try {
            return JSON.readTree(request.body());
        } catch (IOException e) {
            throw new ApiException(400, "InvalidArgument", "the body of " + request.method()
                    + " " + request.path() + " is not valid JSON");
        }
    }

    private static Map<String, Object> error(String code, String message) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("code", code);
        body.put("message", message);
        return body;
    }

    private static void respond(OutputStream out, Reply reply, boolean close)
            throws IOException {
        Object body = reply.body();
        byte[] bytes;
        String type;
        if (body == null) {
            bytes = new byte[0];
            type = null;
        } else if (body instanceof String text) {
            bytes = text.getBytes(StandardCharsets.UTF_8);
            type = "text/plain; version=0.0.4";
        } else {
            bytes = JSON.writeValueAsBytes(body);
            type = "application/json";
        }
        StringBuilder head = new StringBuilder("HTTP/1.1 ").append(reply.status()).append(' ')
                .append(reason(reply.status())).append("\r\n");
        reply.headers().forEach((name, value) ->
                head.append(name).append(": ").append(value).append("\r\n"));
        if (type != null) {
            head.append("Content-Type: ").append(type).append("\r\n");
        }
        head.append("Content-Length: ").append(bytes.length).append("\r\n");
        if (close) {
            head.append("Connection: close\r\n");
        }
        head.append("\r\n");
        out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.write(bytes);
        out.flush();
    }

    private static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 204 -> "No Content";
            case 400 -> "Bad Request";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 409 -> "Conflict";
            case 411 -> "Length Required";
            case 413 -> "Content Too Large";
            case 431 -> "Request Header Fields Too Large";
            default -> status >= 500 ? "Internal Server Error" : "Error";
        };
    }

    public Path socket() {
        return socket;
    }

    @Override
    public void close() throws IOException {
        server.close();
        Files.deleteIfExists(socket);
    }
}
