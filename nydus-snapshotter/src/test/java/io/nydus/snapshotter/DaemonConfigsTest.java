package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.ImageReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The nydusd config of each image: registry backend, credentials and cache directory. */
class DaemonConfigsTest {
    private static final String IMAGE = "registry.example.com:5000/team/app:v1";

    private final CredentialStore credentials = new CredentialStore(CredentialProvider.of(
            Map.of("registry.example.com:5000", new Credentials("fallback", "from-file"))));

    private JsonNode backend(Map<String, String> labels) throws Exception {
        DaemonConfigs configs = DaemonConfigs.load(Path.of("/nonexistent/template.json"),
                Path.of("/var/cache/nydus"), credentials);
        NydusImage image = new NydusImage(7, Path.of("/boot"), ImageReference.parse(IMAGE),
                List.of(), labels);
        JsonNode config = new ObjectMapper().readTree(configs.imageConfig(image));
        assertEquals("/var/cache/nydus", config.at("/device/cache/config/work_dir").asText());
        return config.at("/device/backend/config");
    }

    private static String basic(String user, String password) {
        return Base64.getEncoder().encodeToString((user + ":" + password)
                .getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void backendNamesRegistryAndRepository() throws Exception {
        JsonNode backend = backend(Map.of());

        assertEquals("https", backend.path("scheme").asText());
        assertEquals("registry.example.com:5000", backend.path("host").asText());
        assertEquals("team/app", backend.path("repo").asText());
    }

    @Test
    void fallbackCredentialsApply() throws Exception {
        assertEquals(basic("fallback", "from-file"), backend(Map.of()).path("auth").asText());
    }

    @Test
    void criAuthFieldWins() throws Exception {
        credentials.rememberCriAuth(IMAGE, "", "", basic("kubelet", "pull-secret"), "", "");

        assertEquals(basic("kubelet", "pull-secret"), backend(Map.of()).path("auth").asText());
    }

    @Test
    void criRegistryTokenIsBearer() throws Exception {
        credentials.rememberCriAuth(IMAGE, "", "", "", "bearer-123", "");

        JsonNode backend = backend(Map.of());

        assertEquals("bearer-123", backend.path("registry_token").asText());
        assertTrue(backend.path("auth").isMissingNode());
    }

    @Test
    void invalidCriAuthIsIgnored() throws Exception {
        credentials.rememberCriAuth(IMAGE, "", "", "not base64!", "", "");

        assertEquals(basic("fallback", "from-file"), backend(Map.of()).path("auth").asText());
    }

    @Test
    void pullSecretLabelsWin() throws Exception {
        credentials.rememberCriAuth(IMAGE, "kubelet", "pull-secret", "", "", "");

        JsonNode backend = backend(Map.of(SnapshotLabels.PULL_USERNAME, "labelled",
                SnapshotLabels.PULL_SECRET, "label-secret"));

        assertEquals(basic("labelled", "label-secret"), backend.path("auth").asText());
    }
}
