package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An OCI image manifest or a Docker schema 2 manifest.
 *
 * <p>A parsed manifest keeps the fields it does not model, but {@link #toJson()} writes a new
 * document whose bytes, and so digest, may differ from the parsed ones. To copy a manifest
 * unchanged, push the bytes of its {@link ManifestContent}.
 *
 * @param schemaVersion always 2
 * @param mediaType the {@code mediaType} field, which OCI manifests may omit (null then)
 * @param artifactType the artifact type, or null
 * @param config the descriptor of the image config
 * @param layers the layer descriptors, base layer first
 * @param subject the manifest this one refers to, or null
 * @param annotations the manifest annotations, in document order
 * @param otherFields fields this type does not model, kept for rewriting; callers must not
 *     change the nodes
 */
public record Manifest(int schemaVersion, String mediaType, String artifactType,
        Descriptor config, List<Descriptor> layers, Descriptor subject,
        Map<String, String> annotations, Map<String, JsonNode> otherFields) {

    public Manifest {
        if (schemaVersion != 2) {
            throw new IllegalArgumentException("unsupported manifest schemaVersion "
                    + schemaVersion + ": expected 2");
        }
        if (mediaType != null && !MediaTypes.isManifest(mediaType)) {
            throw new IllegalArgumentException("media type '" + mediaType
                    + "' is not an image manifest type");
        }
        if (config == null) {
            throw new IllegalArgumentException("manifest has no config descriptor");
        }
        layers = List.copyOf(layers);
        annotations = Collections.unmodifiableMap(new LinkedHashMap<>(annotations));
        otherFields = JsonFields.copyOthers(otherFields);
    }

    /**
     * Parses a manifest document; {@code source} names it in errors (a reference or file).
     *
     * @throws IllegalArgumentException naming {@code source} and the invalid field
     */
    public static Manifest parse(byte[] json, String source) {
        JsonFields fields = JsonFields.parse(json, "manifest " + source);
        int schemaVersion = Math.clamp(fields.requiredLong("schemaVersion"),
                Integer.MIN_VALUE, Integer.MAX_VALUE);
        String mediaType = fields.string("mediaType");
        String artifactType = fields.string("artifactType");
        Descriptor config = fields.object("config", Descriptor::read);
        List<Descriptor> layers = fields.objects("layers", Descriptor::read);
        Descriptor subject = fields.object("subject", Descriptor::read);
        Map<String, String> annotations = fields.stringMap("annotations");
        try {
            return new Manifest(schemaVersion, mediaType, artifactType, config, layers, subject,
                    annotations, fields.unread());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(fields.where() + ": " + e.getMessage(), e);
        }
    }

    /** Returns the media type to send when pushing: the field, or the OCI type if absent. */
    public String effectiveMediaType() {
        return mediaType != null ? mediaType : MediaTypes.OCI_MANIFEST;
    }

    /** Returns whether this is a Nydus manifest: its last layer is the bootstrap layer. */
    public boolean isNydus() {
        return !layers.isEmpty() && layers.getLast().isNydusBootstrap();
    }

    /** Returns the compact JSON encoding, with the modeled fields first. */
    public byte[] toJson() {
        ObjectNode out = JsonFields.newObject();
        out.put("schemaVersion", schemaVersion);
        JsonFields.putIfPresent(out, "mediaType", mediaType);
        JsonFields.putIfPresent(out, "artifactType", artifactType);
        out.set("config", config.toJsonNode());
        ArrayNode layerArray = out.putArray("layers");
        layers.forEach(layer -> layerArray.add(layer.toJsonNode()));
        if (subject != null) {
            out.set("subject", subject.toJsonNode());
        }
        JsonFields.putIfNotEmpty(out, "annotations", annotations);
        JsonFields.putOthers(out, otherFields);
        return JsonFields.toBytes(out);
    }
}
