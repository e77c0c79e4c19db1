package io.nydus.cli;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.nydus.storage.config.BackendConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;

/**
 * The storage backend of a nydusd configuration file, in the forms upstream's nydus-image
 * reads with -C/--config: version 2 in JSON or TOML ({@code backend.type} and the backend's
 * settings under the type's name), or version 1 JSON ({@code device.backend}). Only the
 * backend is used. The cache and RAFS settings are ignored because the commands that read the
 * file here read no file data through a cache.
 */
final class BackendConfigFile {
    private static final Set<String> SUPPORTED_TYPES = Set.of("registry", "localfs");
    private static final String EXAMPLE = "{\"version\": 2, \"backend\": {\"type\": \"localfs\","
            + " \"localfs\": {\"dir\": \"/var/lib/nydus/blobs\"}}}";

    private BackendConfigFile() {
    }

    /**
     * Reads the backend of the configuration in {@code file}.
     *
     * @throws IllegalArgumentException naming the file and the field if the configuration is
     *     invalid or names a backend type other than registry or localfs
     */
    static BackendConfig read(Path file) throws IOException {
        String source = "configuration " + file;
        JsonNode root = parse(BlobCacheEntry.readText(file, source), source);
        if (root.has("version")) {
            BlobCacheEntry v2 = BlobCacheEntry.fromV2(root, source, "");
            return backend(v2.backendType(), v2.backendConfig(), source, v2.backendField());
        }
        JsonNode v1 = root.path("device").path("backend");
        if (!v1.isObject() || !v1.path("config").isObject()) {
            throw new IllegalArgumentException(source + " has neither a version 2 backend nor"
                    + " a version 1 device.backend with a config object; write it as "
                    + EXAMPLE);
        }
        return backend(v1.path("type").asText(""), v1.get("config"), source,
                "device.backend.config");
    }

    /** Parses JSON when the text starts with '{', as a JSON file does, and TOML otherwise. */
    private static JsonNode parse(String text, String source) {
        if (text.strip().startsWith("{")) {
            return BackendBlobs.parseObject(text, source, EXAMPLE);
        }
        try {
            return new TomlMapper().readTree(text);
        } catch (JacksonException e) {
            throw new IllegalArgumentException(source + " is neither a JSON object nor valid"
                    + " TOML: " + e.getOriginalMessage(), e);
        }
    }

    private static BackendConfig backend(String type, JsonNode config, String source,
            String field) {
        if (!SUPPORTED_TYPES.contains(type)) {
            throw new IllegalArgumentException(source + ": backend type '" + type + "' is not"
                    + " supported: this nydus-image reads blobs from registry and localfs"
                    + " backends only. The backend serves only to read a bootstrap inlined in a"
                    + " data blob, so give the bootstrap file, or the data blob file, instead");
        }
        return BackendBlobs.backend(type, config, source, field);
    }
}
