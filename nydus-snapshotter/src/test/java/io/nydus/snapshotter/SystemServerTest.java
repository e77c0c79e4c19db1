package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.handler.codec.http.HttpResponseStatus;
import io.nydus.registry.CredentialProvider;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Routing of the system API, without a socket or daemons. */
class SystemServerTest {
    private final SystemServer server = new SystemServer(Path.of("/nonexistent/system.sock"),
            new NydusdManager(SnapshotterConfig.defaults(), DaemonConfigs.load(
                    Path.of("/nonexistent/template.json"), Path.of("/nonexistent/cache"),
                    new CredentialStore(CredentialProvider.anonymous())), new Metrics()));

    SystemServerTest() throws Exception {
    }

    @Test
    void prefetchListIsAccepted() {
        SystemServer.Reply reply = server.route("PUT", "/api/v1/prefetch",
                "[{\"image\": \"nginx\", \"prefetch\": \"/etc/nydus/nginx.list\"}]");

        assertEquals(HttpResponseStatus.OK, reply.status());
        assertEquals(Map.of("images", 1), reply.body());
    }

    @Test
    void badPrefetchBodyIsBadRequest() {
        SystemServer.Reply reply = server.route("PUT", "/api/v1/prefetch", "{}");

        assertEquals(HttpResponseStatus.BAD_REQUEST, reply.status());
        assertTrue(reply.body().toString().contains("JSON array"), reply.body().toString());
    }

    @Test
    void prefetchNeedsPut() {
        SystemServer.Reply reply = server.route("GET", "/api/v1/prefetch", "");

        assertEquals(HttpResponseStatus.METHOD_NOT_ALLOWED, reply.status());
    }
}
