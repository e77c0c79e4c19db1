package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An OCI content descriptor: the type, digest and size of a blob or manifest.
 *
 * @param mediaType the media type of the referenced content
 * @param digest the digest of the referenced content
 * @param size the size of the referenced content in bytes
 * @param urls alternative download locations, usually empty
 * @param annotations the annotations, in document order
 * @param platform the platform of a manifest listed in an index, or null
 * @param artifactType the artifact type, which marks Nydus manifests in an index, or null
 * @param otherFields fields this type does not model (such as {@code data}), kept for
 *     rewriting; callers must not change the nodes
 */
public record Descriptor(String mediaType, Digest digest, long size, List<String> urls,
        Map<String, String> annotations, Platform platform, String artifactType,
        Map<String, JsonNode> otherFields) {

    public Descriptor {
        if (mediaType == null || mediaType.isEmpty()) {
            throw new IllegalArgumentException("descriptor of " + digest + " has no media type");
        }
        if (digest == null) {
            throw new IllegalArgumentException("descriptor of type " + mediaType
                    + " has no digest");
        }
        if (size < 0) {
            throw new IllegalArgumentException("descriptor of " + digest + " has negative size "
                    + size);
        }
        urls = List.copyOf(urls);
        annotations = Collections.unmodifiableMap(new LinkedHashMap<>(annotations));
        otherFields = JsonFields.copyOthers(otherFields);
    }

    /** Returns a descriptor with only a media type, digest and size. */
    public static Descriptor of(String mediaType, Digest digest, long size) {
        return new Descriptor(mediaType, digest, size, List.of(), Map.of(), null, null, Map.of());
    }

    /** Returns a copy with {@code newAnnotations} in place of the annotations. */
    public Descriptor withAnnotations(Map<String, String> newAnnotations) {
        return new Descriptor(mediaType, digest, size, urls, newAnnotations, platform,
                artifactType, otherFields);
    }

    /** Returns whether this layer descriptor is the Nydus bootstrap layer. */
    public boolean isNydusBootstrap() {
        return "true".equals(annotations.get(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP));
    }

    /**
     * Returns whether this index entry is a Nydus manifest, marked by its artifact type or, in
     * images from old converters, by the {@code nydus.remoteimage.v1} os feature.
     */
    public boolean isNydusManifest() {
        return MediaTypes.NYDUS_MANIFEST_ARTIFACT.equals(artifactType)
                || (platform != null
                        && platform.osFeatures().contains(MediaTypes.NYDUS_LEGACY_OS_FEATURE));
    }

    static Descriptor read(JsonFields fields) {
        String mediaType = fields.requiredString("mediaType");
        Digest digest = fields.requiredDigest("digest");
        long size = fields.requiredLong("size");
        List<String> urls = fields.strings("urls");
        Map<String, String> annotations = fields.stringMap("annotations");
        Platform platform = fields.object("platform", Platform::read);
        String artifactType = fields.string("artifactType");
        try {
            return new Descriptor(mediaType, digest, size, urls, annotations, platform,
                    artifactType, fields.unread());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(fields.where() + ": " + e.getMessage(), e);
        }
    }

    ObjectNode toJsonNode() {
        ObjectNode out = JsonFields.newObject();
        out.put("mediaType", mediaType);
        JsonFields.putIfPresent(out, "artifactType", artifactType);
        out.put("digest", digest.toString());
        out.put("size", size);
        JsonFields.putIfNotEmpty(out, "urls", urls);
        JsonFields.putIfNotEmpty(out, "annotations", annotations);
        if (platform != null) {
            out.set("platform", platform.toJsonNode());
        }
        JsonFields.putOthers(out, otherFields);
        return out;
    }
}
