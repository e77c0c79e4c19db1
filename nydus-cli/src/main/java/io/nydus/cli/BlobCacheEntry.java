package io.nydus.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A blob cache entry of upstream's configuration: the JSON object that names a bootstrap and
 * the storage backend of its blobs, which {@code nydus-image export -C} reads. Both forms are
 * read: {@code config_v2} with {@code backend.type} and the backend's object under its type's
 * name, and the older {@code config} with {@code backend_type} and {@code backend_config}. The
 * cache settings of the entry are not used, because export reads every blob once.
 *
 * @param metadataPath the bootstrap the entry names, or null
 * @param backendType the backend's type, such as registry or localfs
 * @param backendConfig the backend's configuration object
 * @param backendField the path of {@code backendConfig} in the entry, for messages
 */
record BlobCacheEntry(Path metadataPath, String backendType, JsonNode backendConfig,
        String backendField) {

    /** The size limit of an entry file, as upstream rejects larger ones. */
    private static final long MAX_FILE_BYTES = 0x100000;
    private static final String EXAMPLE = "{\"type\": \"bootstrap\", \"id\": \"image\","
            + " \"config_v2\": {\"version\": 2, \"backend\": {\"type\": \"registry\","
            + " \"registry\": {\"host\": \"127.0.0.1:5000\", \"repo\": \"app\"}}}}";

    BlobCacheEntry {
        Objects.requireNonNull(backendType, "backendType");
        Objects.requireNonNull(backendConfig, "backendConfig");
        Objects.requireNonNull(backendField, "backendField");
    }

    /**
     * Reads the entry in {@code file}.
     *
     * @throws IllegalArgumentException naming the file and the field if the entry is invalid
     */
    static BlobCacheEntry read(Path file) throws IOException {
        String source = "blob cache entry " + file;
        JsonNode root = BackendBlobs.parseObject(readText(file, source), source, EXAMPLE);
        String type = text(root, "type", source);
        if (!type.equals("bootstrap")) {
            throw new IllegalArgumentException(source + ": type is '" + type + "', expected"
                    + " bootstrap");
        }
        if (root.hasNonNull("config_v2")) {
            return fromV2(root.get("config_v2"), source + ": config_v2", "config_v2.");
        }
        if (root.hasNonNull("config")) {
            return fromLegacy(root.get("config"), source + ": config");
        }
        throw new IllegalArgumentException(source + " has neither config_v2 nor config; it"
                + " must name the backend, as in " + EXAMPLE);
    }

    /**
     * Reads a configuration file of at most 1 MiB, the limit of upstream's configuration files.
     *
     * @param source names the file in errors, such as "blob cache entry FILE"
     * @throws IllegalArgumentException naming {@code source} if the file is larger
     */
    static String readText(Path file, String source) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) {
            throw new IllegalArgumentException(source + " has " + size
                    + " bytes, more than the limit of " + MAX_FILE_BYTES);
        }
        return Files.readString(file);
    }

    /**
     * Reads a version 2 configuration object, the entry's {@code config_v2}.
     *
     * @param source names the object in errors
     * @param fieldPrefix the path of the object in its file, such as "config_v2.", which
     *     {@link #backendField} starts with
     * @throws IllegalArgumentException naming {@code source} and the field if it is invalid
     */
    static BlobCacheEntry fromV2(JsonNode config, String source, String fieldPrefix) {
        requireObject(config, source);
        JsonNode version = config.get("version");
        if (version == null || !version.isInt() || version.intValue() != 2) {
            throw new IllegalArgumentException(source + ": version is " + version
                    + ", expected 2");
        }
        JsonNode backend = config.get("backend");
        requireObject(backend, source + ": backend");
        String type = text(backend, "type", source + ": backend");
        JsonNode settings = backend.get(type);
        requireObject(settings, source + ": backend." + type);
        return new BlobCacheEntry(path(config, source), type, settings,
                fieldPrefix + "backend." + type);
    }

    private static BlobCacheEntry fromLegacy(JsonNode config, String source) {
        requireObject(config, source);
        String type = text(config, "backend_type", source);
        JsonNode settings = config.get("backend_config");
        requireObject(settings, source + ": backend_config");
        return new BlobCacheEntry(path(config, source), type, settings, "config.backend_config");
    }

    private static Path path(JsonNode config, String source) {
        if (!config.hasNonNull("metadata_path")) {
            return null;
        }
        return Path.of(text(config, "metadata_path", source));
    }

    private static String text(JsonNode node, String field, String source) {
        JsonNode value = node.get(field);
        if (value == null || !value.isTextual() || value.asText().isEmpty()) {
            throw new IllegalArgumentException(source + ": " + field + " is missing or not a"
                    + " string");
        }
        return value.asText();
    }

    private static void requireObject(JsonNode node, String source) {
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(source + " is missing or not a JSON object");
        }
    }
}
