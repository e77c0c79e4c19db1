package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An OCI image index or a Docker manifest list.
 *
 * <p>As with {@link Manifest}, {@link #toJson()} writes a new document; push the bytes of a
 * {@link ManifestContent} to copy an index unchanged.
 *
 * @param schemaVersion always 2
 * @param mediaType the {@code mediaType} field, which OCI indexes may omit (null then)
 * @param artifactType the artifact type, or null
 * @param manifests the listed manifests, usually one per platform
 * @param subject the manifest this one refers to, or null
 * @param annotations the index annotations, in document order
 * @param otherFields fields this type does not model, kept for rewriting; callers must not
 *     change the nodes
 */
public record ImageIndex(int schemaVersion, String mediaType, String artifactType,
        List<Descriptor> manifests, Descriptor subject, Map<String, String> annotations,
        Map<String, JsonNode> otherFields) {

    public ImageIndex {
        if (schemaVersion != 2) {
            throw new IllegalArgumentException("unsupported index schemaVersion "
                    + schemaVersion + ": expected 2");
        }
        if (mediaType != null && !MediaTypes.isIndex(mediaType)) {
            throw new IllegalArgumentException("media type '" + mediaType
                    + "' is not an index type");
        }
        manifests = List.copyOf(manifests);
        annotations = Collections.unmodifiableMap(new LinkedHashMap<>(annotations));
        otherFields = JsonFields.copyOthers(otherFields);
    }

    /**
     * Parses an index document; {@code source} names it in errors (a reference or file).
     *
     * @throws IllegalArgumentException naming {@code source} and the invalid field
     */
    public static ImageIndex parse(byte[] json, String source) {
        JsonFields fields = JsonFields.parse(json, "index " + source);
        int schemaVersion = Math.clamp(fields.requiredLong("schemaVersion"),
                Integer.MIN_VALUE, Integer.MAX_VALUE);
        String mediaType = fields.string("mediaType");
        String artifactType = fields.string("artifactType");
        List<Descriptor> manifests = fields.objects("manifests", Descriptor::read);
        Descriptor subject = fields.object("subject", Descriptor::read);
        Map<String, String> annotations = fields.stringMap("annotations");
        try {
            return new ImageIndex(schemaVersion, mediaType, artifactType, manifests, subject,
                    annotations, fields.unread());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(fields.where() + ": " + e.getMessage(), e);
        }
    }

    /** Returns the media type to send when pushing: the field, or the OCI type if absent. */
    public String effectiveMediaType() {
        return mediaType != null ? mediaType : MediaTypes.OCI_INDEX;
    }

    /** Returns the compact JSON encoding, with the modeled fields first. */
    public byte[] toJson() {
        ObjectNode out = JsonFields.newObject();
        out.put("schemaVersion", schemaVersion);
        JsonFields.putIfPresent(out, "mediaType", mediaType);
        JsonFields.putIfPresent(out, "artifactType", artifactType);
        ArrayNode manifestArray = out.putArray("manifests");
        manifests.forEach(manifest -> manifestArray.add(manifest.toJsonNode()));
        if (subject != null) {
            out.set("subject", subject.toJsonNode());
        }
        JsonFields.putIfNotEmpty(out, "annotations", annotations);
        JsonFields.putOthers(out, otherFields);
        return JsonFields.toBytes(out);
    }
}
