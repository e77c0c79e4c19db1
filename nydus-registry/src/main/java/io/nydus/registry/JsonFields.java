package io.nydus.registry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads the fields of one JSON object with errors that name the document and field, and keeps
 * the fields that were not read so that they survive a rewrite.
 */
final class JsonFields {

    static final ObjectMapper MAPPER = new ObjectMapper();

    private final ObjectNode node;
    private final String where;
    private final Set<String> read = new HashSet<>();

    private JsonFields(ObjectNode node, String where) {
        this.node = node;
        this.where = where;
    }

    /** Parses {@code json} as one JSON object; {@code where} names the document in errors. */
    static JsonFields parse(byte[] json, String where) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(where + ": invalid JSON: "
                    + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException(where + ": unreadable JSON: " + e.getMessage(), e);
        }
        return of(root, where);
    }

    static JsonFields of(JsonNode node, String where) {
        if (!(node instanceof ObjectNode object)) {
            throw new IllegalArgumentException(where + ": expected a JSON object, found "
                    + (node == null ? "nothing" : node.getNodeType()));
        }
        return new JsonFields(object, where);
    }

    String where() {
        return where;
    }

    String string(String name) {
        JsonNode value = take(name);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isTextual()) {
            throw invalid(name, "a string", value);
        }
        return value.textValue();
    }

    String requiredString(String name) {
        String value = string(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException(where + ": missing field '" + name + "'");
        }
        return value;
    }

    long requiredLong(String name) {
        JsonNode value = take(name);
        if (value == null) {
            throw new IllegalArgumentException(where + ": missing field '" + name + "'");
        }
        if (!value.isIntegralNumber() || !value.canConvertToLong()) {
            throw invalid(name, "an integer", value);
        }
        return value.longValue();
    }

    Digest requiredDigest(String name) {
        String text = requiredString(name);
        try {
            return Digest.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": field '" + name + "': "
                    + e.getMessage(), e);
        }
    }

    List<String> strings(String name) {
        JsonNode value = take(name);
        if (value == null || value.isNull()) {
            return List.of();
        }
        if (!value.isArray()) {
            throw invalid(name, "an array of strings", value);
        }
        List<String> result = new ArrayList<>();
        for (JsonNode element : value) {
            if (!element.isTextual()) {
                throw invalid(name, "an array of strings", value);
            }
            result.add(element.textValue());
        }
        return result;
    }

    Map<String, String> stringMap(String name) {
        JsonNode value = take(name);
        if (value == null || value.isNull()) {
            return Map.of();
        }
        if (!value.isObject()) {
            throw invalid(name, "an object of strings", value);
        }
        Map<String, String> result = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : value.properties()) {
            if (!entry.getValue().isTextual()) {
                throw new IllegalArgumentException(where + ": field '" + name + "."
                        + entry.getKey() + "' must be a string");
            }
            result.put(entry.getKey(), entry.getValue().textValue());
        }
        return result;
    }

    <T> T object(String name, Function<JsonFields, T> parser) {
        JsonNode value = take(name);
        if (value == null || value.isNull()) {
            return null;
        }
        return parser.apply(of(value, where + " field '" + name + "'"));
    }

    <T> List<T> objects(String name, Function<JsonFields, T> parser) {
        JsonNode value = take(name);
        if (value == null || value.isNull()) {
            return List.of();
        }
        if (!value.isArray()) {
            throw invalid(name, "an array", value);
        }
        List<T> result = new ArrayList<>();
        for (int i = 0; i < value.size(); i++) {
            result.add(parser.apply(of(value.get(i), where + " " + name + "[" + i + "]")));
        }
        return result;
    }

    /** Returns deep copies of the fields that no getter has read, in document order. */
    Map<String, JsonNode> unread() {
        Map<String, JsonNode> rest = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            if (!read.contains(entry.getKey())) {
                rest.put(entry.getKey(), entry.getValue().deepCopy());
            }
        }
        return rest;
    }

    private JsonNode take(String name) {
        read.add(name);
        return node.get(name);
    }

    private IllegalArgumentException invalid(String name, String expected, JsonNode value) {
        return new IllegalArgumentException(where + ": field '" + name + "' must be " + expected
                + ", found " + value.getNodeType());
    }

    /** Returns a new empty object for writing. */
    static ObjectNode newObject() {
        return JsonNodeFactory.instance.objectNode();
    }

    static void putIfPresent(ObjectNode out, String name, String value) {
        if (value != null) {
            out.put(name, value);
        }
    }

    static void putIfNotEmpty(ObjectNode out, String name, Map<String, String> values) {
        if (!values.isEmpty()) {
            ObjectNode map = out.putObject(name);
            values.forEach(map::put);
        }
    }

    static void putIfNotEmpty(ObjectNode out, String name, List<String> values) {
        if (!values.isEmpty()) {
            ArrayNode array = out.putArray(name);
            values.forEach(array::add);
        }
    }

    static void putOthers(ObjectNode out, Map<String, JsonNode> others) {
        others.forEach((name, value) -> out.set(name, value.deepCopy()));
    }

    static Map<String, JsonNode> copyOthers(Map<String, JsonNode> others) {
        Map<String, JsonNode> copy = new LinkedHashMap<>();
        others.forEach((name, value) -> copy.put(name, value.deepCopy()));
        return Collections.unmodifiableMap(copy);
    }

    static byte[] toBytes(ObjectNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("writing a JSON tree failed", e);
        }
    }
}
