package io.nydus.daemon;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The parts of upstream's v1 JSON configuration that the file system side reads; the
 * {@code device} section and the prefetch tuning are read by the storage side from
 * {@link #json()}.
 *
 * @param json the whole configuration
 * @param rafs how the mount answers
 * @param prefetch whether {@code fs_prefetch.enable} is set
 * @param prefetchAll whether {@code fs_prefetch.prefetch_all} is set
 */
public record DaemonConfig(ObjectNode json, RafsOptions rafs, boolean prefetch,
        boolean prefetchAll) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Parses a configuration.
     *
     * @param source where the text came from, for messages
     * @throws IllegalArgumentException naming the source and key of a bad value
     */
    public static DaemonConfig parse(String source, String text) {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + " is not valid JSON: "
                    + e.getOriginalMessage());
        }
        if (!(root instanceof ObjectNode object)) {
            throw new IllegalArgumentException(source + " must hold a JSON object");
        }
        if (root.path("version").asInt(1) != 1) {
            throw new IllegalArgumentException(source + ": configuration version "
                    + root.path("version") + " is not supported; write the v1 JSON form");
        }
        String mode = text(source, root, "mode", "direct");
        if (!mode.equals("direct")) {
            throw new IllegalArgumentException(source + ": mode '" + mode + "' is not"
                    + " supported by RAFS v6 images; use \"direct\"");
        }
        RafsOptions rafs = new RafsOptions(bool(source, root, "enable_xattr", true),
                bool(source, root, "iostats_files", false),
                bool(source, root, "access_pattern", false),
                bool(source, root, "latest_read_files", false),
                RafsOptions.DEFAULT_TIMEOUT_SECONDS);
        JsonNode prefetch = root.path("fs_prefetch");
        return new DaemonConfig(object, rafs, bool(source, prefetch, "enable", false),
                bool(source, prefetch, "prefetch_all", true));
    }

    private static boolean bool(String source, JsonNode parent, String key, boolean fallback) {
        JsonNode value = parent.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isBoolean()) {
            throw new IllegalArgumentException(source + ": \"" + key + "\" must be true or"
                    + " false, not " + value);
        }
        return value.booleanValue();
    }

    private static String text(String source, JsonNode parent, String key, String fallback) {
        JsonNode value = parent.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isTextual()) {
            throw new IllegalArgumentException(source + ": \"" + key + "\" must be a string,"
                    + " not " + value);
        }
        return value.textValue();
    }
}
