package io.nydus.nydusify;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.registry.Digest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rewrites an image config for the converted image: {@code rootfs.diff_ids} lists the new
 * layers and {@code history} gains an entry for the bootstrap layer, or loses it when a Nydus
 * image is converted back to OCI. Every other top-level
 * field keeps its exact bytes, so fields this code does not know, and the escaping of the
 * writer that produced the config, survive the conversion.
 */
final class ConfigRewriter {
    static final String HISTORY_CREATED_BY = "Nydus Converter";
    static final String HISTORY_COMMENT = "Nydus Bootstrap Layer";

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonFactory FACTORY = MAPPER.getFactory();

    private ConfigRewriter() {
    }

    /** The byte range of one top-level member's value. */
    private record Span(int start, int end) {
    }

    /**
     * Checks that {@link #rewrite} accepts {@code config}, so that a conversion fails before it
     * builds and pushes any layer.
     *
     * @throws IllegalArgumentException as {@link #rewrite} does
     */
    static void check(byte[] config, String where, int sourceLayers) {
        rewrite(config, where, sourceLayers, List.of());
    }

    /**
     * Returns the rewritten config.
     *
     * @param config the source config bytes
     * @param where names the config in errors, such as its digest
     * @param sourceLayers the number of layers of the source manifest, which the source
     *     {@code diff_ids} must match
     * @param diffIds the diff ids of the converted image, bootstrap layer last
     * @throws IllegalArgumentException if the config is not a JSON object with a rootfs of
     *     {@code sourceLayers} diff ids
     */
    static byte[] rewrite(byte[] config, String where, int sourceLayers, List<Digest> diffIds) {
        Map<String, Span> members = members(config, where);
        List<Splice> splices = new ArrayList<>();
        splices.add(rootfsSplice(config, members, where, sourceLayers, diffIds));
        splices.add(historySplice(config, members.get("history"), where));
        splices.sort(Comparator.comparingInt(splice -> splice.span().start()));
        return apply(config, splices);
    }

    /**
     * Returns the config of an image converted back from Nydus to OCI: {@code diff_ids} lists
     * {@code diffIds}, and the history entries that a Nydus converter adds for the bootstrap
     * layer are removed. The other history entries keep their bytes.
     *
     * @param nydusLayers the number of layers of the Nydus manifest, bootstrap layer included,
     *     which the source {@code diff_ids} must match
     * @throws IllegalArgumentException as {@link #rewrite} does
     */
    static byte[] reverse(byte[] config, String where, int nydusLayers, List<Digest> diffIds) {
        Map<String, Span> members = members(config, where);
        List<Splice> splices = new ArrayList<>();
        splices.add(rootfsSplice(config, members, where, nydusLayers, diffIds));
        Span history = members.get("history");
        if (history != null && read(config, history, where).isArray()) {
            splices.add(new Splice(history, historyWithoutBootstrap(config, history, where)));
        }
        splices.sort(Comparator.comparingInt(splice -> splice.span().start()));
        return apply(config, splices);
    }

    private static Splice rootfsSplice(byte[] config, Map<String, Span> members, String where,
            int sourceLayers, List<Digest> diffIds) {
        Span rootfs = members.get("rootfs");
        if (rootfs == null) {
            throw new IllegalArgumentException("config " + where + " has no rootfs field");
        }
        return new Splice(rootfs, rootfs(read(config, rootfs, where), where, sourceLayers,
                diffIds));
    }

    /** Returns the history array without the bootstrap layer's entries, as JSON bytes. */
    private static byte[] historyWithoutBootstrap(byte[] config, Span history, String where) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(history.end() - history.start());
        out.write('[');
        boolean first = true;
        for (Span element : elements(config, history, where)) {
            JsonNode entry = read(config, element, where);
            if (isBootstrapHistory(entry)) {
                continue;
            }
            if (!first) {
                out.write(',');
            }
            out.write(config, element.start(), element.end() - element.start());
            first = false;
        }
        out.write(']');
        return out.toByteArray();
    }

    private static boolean isBootstrapHistory(JsonNode entry) {
        return entry.isObject()
                && HISTORY_CREATED_BY.equals(entry.path("created_by").asText(null))
                && HISTORY_COMMENT.equals(entry.path("comment").asText(null));
    }

    /** Returns the byte ranges of the elements of the JSON array at {@code array}. */
    private static List<Span> elements(byte[] config, Span array, String where) {
        byte[] bytes = Arrays.copyOfRange(config, array.start(), array.end());
        List<Span> spans = new ArrayList<>();
        try (JsonParser parser = FACTORY.createParser(bytes)) {
            parser.nextToken();
            while (parser.nextToken() != JsonToken.END_ARRAY) {
                int start = (int) parser.currentTokenLocation().getByteOffset();
                parser.skipChildren();
                parser.finishToken();
                int end = (int) parser.currentLocation().getByteOffset();
                spans.add(new Span(array.start() + start, array.start() + end));
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("config " + where + " is invalid JSON at byte "
                    + array.start() + ": " + e.getMessage(), e);
        }
        return spans;
    }

    /** Bytes that replace a range of the original config; an empty range inserts them. */
    private record Splice(Span span, byte[] bytes) {
    }

    /**
     * Returns the splice that appends the bootstrap layer's history entry: inserted before the
     * closing bracket of an existing array, so the entries before it keep their bytes.
     */
    private static Splice historySplice(byte[] config, Span history, String where) {
        String entry = "{\"created_by\":\"" + HISTORY_CREATED_BY + "\",\"comment\":\""
                + HISTORY_COMMENT + "\"}";
        if (history == null) {
            int close = lastIndexOf(config, (byte) '}');
            return new Splice(new Span(close, close), utf8(",\"history\":[" + entry + "]"));
        }
        JsonNode node = read(config, history, where);
        if (node.isNull()) {
            return new Splice(history, utf8("[" + entry + "]"));
        }
        if (!node.isArray()) {
            throw new IllegalArgumentException("config " + where + ": history must be an"
                    + " array, found " + node.getNodeType());
        }
        int close = history.end() - 1;
        String insert = node.isEmpty() ? entry : "," + entry;
        return new Splice(new Span(close, close), utf8(insert));
    }

    private static byte[] apply(byte[] config, List<Splice> splices) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(config.length + 512);
        int at = 0;
        for (Splice splice : splices) {
            out.write(config, at, splice.span().start() - at);
            out.writeBytes(splice.bytes());
            at = splice.span().end();
        }
        out.write(config, at, config.length - at);
        return out.toByteArray();
    }

    /** Returns the byte ranges of the top-level members' values, by name. */
    private static Map<String, Span> members(byte[] config, String where) {
        Map<String, Span> spans = new LinkedHashMap<>();
        try (JsonParser parser = FACTORY.createParser(config)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new IllegalArgumentException("config " + where + " is not a JSON object");
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                parser.nextToken();
                int start = (int) parser.currentTokenLocation().getByteOffset();
                parser.skipChildren();
                parser.finishToken();
                int end = (int) parser.currentLocation().getByteOffset();
                if (spans.put(name, new Span(start, end)) != null) {
                    throw new IllegalArgumentException("config " + where
                            + " has field '" + name + "' twice");
                }
            }
            if (parser.currentToken() != JsonToken.END_OBJECT || parser.nextToken() != null) {
                throw new IllegalArgumentException("config " + where
                        + " has content after its JSON object");
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("config " + where + " is invalid JSON: "
                    + e.getMessage(), e);
        }
        return spans;
    }

    private static JsonNode read(byte[] config, Span span, String where) {
        try {
            return MAPPER.readTree(config, span.start(), span.end() - span.start());
        } catch (IOException e) {
            throw new IllegalArgumentException("config " + where + " is invalid JSON at byte "
                    + span.start() + ": " + e.getMessage(), e);
        }
    }

    private static byte[] rootfs(JsonNode node, String where, int sourceLayers,
            List<Digest> diffIds) {
        if (!(node instanceof ObjectNode source)) {
            throw new IllegalArgumentException("config " + where + ": rootfs must be an object");
        }
        JsonNode ids = source.get("diff_ids");
        int count = ids == null || !ids.isArray() ? -1 : ids.size();
        if (count != sourceLayers) {
            throw new IllegalArgumentException("config " + where + " lists "
                    + (count < 0 ? "no" : String.valueOf(count)) + " rootfs.diff_ids for "
                    + sourceLayers + " layers in the manifest");
        }
        ObjectNode rootfs = source.deepCopy();
        ArrayNode array = rootfs.putArray("diff_ids");
        diffIds.forEach(id -> array.add(id.toString()));
        return toBytes(rootfs);
    }

    private static byte[] toBytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (IOException e) {
            throw new IllegalStateException("writing a JSON tree failed", e);
        }
    }

    private static int lastIndexOf(byte[] bytes, byte value) {
        for (int i = bytes.length - 1; i >= 0; i--) {
            if (bytes[i] == value) {
                return i;
            }
        }
        throw new IllegalStateException("no '" + (char) value + "' in a parsed JSON object");
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
