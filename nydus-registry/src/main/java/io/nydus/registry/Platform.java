package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Map;

/**
 * The platform of a manifest listed in an index.
 *
 * @param architecture the CPU architecture, such as {@code amd64}
 * @param os the operating system, such as {@code linux}
 * @param osVersion the {@code os.version} field, or null
 * @param osFeatures the {@code os.features} field, which marks legacy Nydus manifests
 * @param variant the CPU variant, such as {@code v8}, or null
 * @param otherFields fields this type does not model, kept for rewriting; callers must not
 *     change the nodes
 */
public record Platform(String architecture, String os, String osVersion, List<String> osFeatures,
        String variant, Map<String, JsonNode> otherFields) {

    public Platform {
        if (architecture == null || architecture.isEmpty() || os == null || os.isEmpty()) {
            throw new IllegalArgumentException("platform needs an architecture and an os, found '"
                    + os + "/" + architecture + "'");
        }
        osFeatures = List.copyOf(osFeatures);
        otherFields = JsonFields.copyOthers(otherFields);
    }

    /** Returns a platform of {@code os} and {@code architecture} with no other fields. */
    public static Platform of(String os, String architecture) {
        return new Platform(architecture, os, null, List.of(), null, Map.of());
    }

    static Platform read(JsonFields fields) {
        String architecture = fields.string("architecture");
        String os = fields.string("os");
        String osVersion = fields.string("os.version");
        List<String> osFeatures = fields.strings("os.features");
        String variant = fields.string("variant");
        try {
            return new Platform(architecture, os, osVersion, osFeatures, variant,
                    fields.unread());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(fields.where() + ": " + e.getMessage(), e);
        }
    }

    ObjectNode toJsonNode() {
        ObjectNode out = JsonFields.newObject();
        out.put("architecture", architecture);
        out.put("os", os);
        JsonFields.putIfPresent(out, "os.version", osVersion);
        JsonFields.putIfNotEmpty(out, "os.features", osFeatures);
        JsonFields.putIfPresent(out, "variant", variant);
        JsonFields.putOthers(out, otherFields);
        return out;
    }

    /** Returns {@code os/architecture[/variant]}. */
    @Override
    public String toString() {
        return os + "/" + architecture + (variant == null ? "" : "/" + variant);
    }
}
