package io.nydus.nydusify;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.MediaTypes;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

/**
 * Validates the manifest and config of a Nydus image: an OCI (or Docker schema 2) manifest
 * whose last layer is the RAFS v6 bootstrap layer and whose other layers are Nydus blobs, and
 * a config equal to the source config except for {@code rootfs.diff_ids} and the history entry
 * the conversion appends.
 */
final class ManifestCheck {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ManifestCheck() {
    }

    /** Returns whether the manifest has a bootstrap layer to read, whatever else is wrong. */
    static boolean hasBootstrap(Manifest target) {
        return !target.layers().isEmpty() && target.layers().getLast().isNydusBootstrap();
    }

    /** Returns one line per problem of the manifest's layout. */
    static List<String> checkManifest(Manifest target) {
        List<String> problems = new ArrayList<>();
        // convert --docker-v2-format writes the Docker schema 2 form, with a Docker layer type
        // for the bootstrap layer.
        boolean docker = MediaTypes.DOCKER_MANIFEST.equals(target.mediaType());
        if (!docker && !MediaTypes.OCI_MANIFEST.equals(target.mediaType())) {
            String mediaType = target.mediaType() == null ? "(missing)" : target.mediaType();
            problems.add("manifest: media type is " + mediaType + ", expected "
                    + MediaTypes.OCI_MANIFEST + " or " + MediaTypes.DOCKER_MANIFEST);
        }
        List<Descriptor> layers = target.layers();
        if (layers.isEmpty()) {
            problems.add("manifest: has no layers, expected Nydus blobs and a bootstrap layer");
            return problems;
        }
        Descriptor bootstrap = layers.getLast();
        String bootstrapType = docker ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP;
        if (!bootstrapType.equals(bootstrap.mediaType())) {
            problems.add("manifest: bootstrap layer " + bootstrap.digest() + " has media type "
                    + bootstrap.mediaType() + ", expected " + bootstrapType);
        }
        checkAnnotation(problems, bootstrap, "bootstrap layer",
                MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true");
        checkAnnotation(problems, bootstrap, "bootstrap layer",
                MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "6");
        for (int i = 0; i < layers.size() - 1; i++) {
            Descriptor blob = layers.get(i);
            String name = "layer " + i;
            if (!MediaTypes.NYDUS_BLOB.equals(blob.mediaType())) {
                problems.add("manifest: " + name + " " + blob.digest() + " has media type "
                        + blob.mediaType() + ", expected " + MediaTypes.NYDUS_BLOB);
            }
            checkAnnotation(problems, blob, name, MediaTypes.ANNOTATION_NYDUS_BLOB, "true");
        }
        return problems;
    }

    private static void checkAnnotation(List<String> problems, Descriptor layer, String name,
            String key, String expected) {
        String value = layer.annotations().get(key);
        if (!expected.equals(value)) {
            problems.add("manifest: " + name + " " + layer.digest() + " has annotation " + key
                    + " = " + (value == null ? "(missing)" : "\"" + value + "\"")
                    + ", expected \"" + expected + "\"");
        }
    }

    /**
     * Returns one line per problem of the target config: a diff id count other than the
     * layer count, a last history entry other than the conversion's, or any other field that
     * differs from the source config.
     */
    static List<String> checkConfig(byte[] sourceConfig, byte[] targetConfig, Manifest target)
            throws IOException {
        List<String> problems = new ArrayList<>();
        ObjectNode source = readObject(sourceConfig, "source");
        ObjectNode config = readObject(targetConfig, "target");
        checkTargetConfig(problems, config, target);
        removeDiffIds(source);
        removeDiffIds(config);
        if (config.path("history") instanceof ArrayNode history && history.isEmpty()
                && (source.path("history").isMissingNode() || source.path("history").isNull())) {
            config.remove("history");
            source.remove("history");
        }
        compareFields(problems, "", source, config);
        return problems;
    }

    /**
     * Checks what the target's config must contain on its own: one diff id per layer, each blob
     * layer's equal to its digest, and a history that matches the layers.
     */
    static List<String> checkTargetConfig(byte[] targetConfig, Manifest target)
            throws IOException {
        List<String> problems = new ArrayList<>();
        checkTargetConfig(problems, readObject(targetConfig, "target"), target);
        return problems;
    }

    /** Adds the problems of {@code config} and drops the history entry it checks. */
    private static void checkTargetConfig(List<String> problems, ObjectNode config,
            Manifest target) {
        int layerCount = target.layers().size();
        JsonNode diffIds = config.path("rootfs").path("diff_ids");
        if (!diffIds.isArray() || diffIds.size() != layerCount) {
            problems.add("config: rootfs.diff_ids has " + (diffIds.isArray() ? diffIds.size()
                    : "no") + " entries, expected " + layerCount + " (one per layer)");
        } else {
            checkBlobDiffIds(problems, diffIds, target);
        }
        checkHistory(problems, config);
    }

    /** Checks that each blob layer's diff id is its digest, as a blob is not compressed. */
    private static void checkBlobDiffIds(List<String> problems, JsonNode diffIds,
            Manifest target) {
        for (int i = 0; i < target.layers().size() - 1; i++) {
            String digest = target.layers().get(i).digest().toString();
            if (!digest.equals(diffIds.get(i).asText())) {
                problems.add("config: rootfs.diff_ids[" + i + "] is " + diffIds.get(i)
                        + ", expected the blob digest " + digest);
            }
        }
    }

    /**
     * Returns a problem if the config's last diff id is not {@code diffId}, the digest of the
     * bootstrap layer's tar; returns empty when the count is wrong, which is reported already.
     */
    static Optional<String> checkBootstrapDiffId(byte[] targetConfig, Manifest target,
            Digest diffId) throws IOException {
        JsonNode diffIds = readObject(targetConfig, "target").path("rootfs").path("diff_ids");
        int last = target.layers().size() - 1;
        if (!diffIds.isArray() || diffIds.size() != last + 1
                || diffId.toString().equals(diffIds.get(last).asText())) {
            return Optional.empty();
        }
        return Optional.of("config: rootfs.diff_ids[" + last + "] is " + diffIds.get(last)
                + ", but the bootstrap layer's tar has digest " + diffId);
    }

    private static void checkHistory(List<String> problems, ObjectNode target) {
        JsonNode history = target.path("history");
        if (!(history instanceof ArrayNode entries) || entries.isEmpty()) {
            problems.add("config: history has no entry for the bootstrap layer");
            return;
        }
        JsonNode last = entries.get(entries.size() - 1);
        if (!ConfigRewriter.HISTORY_CREATED_BY.equals(last.path("created_by").asText())) {
            problems.add("config: last history entry was created by \""
                    + last.path("created_by").asText() + "\", expected \""
                    + ConfigRewriter.HISTORY_CREATED_BY + "\"");
        }
        entries.remove(entries.size() - 1);
    }

    private static void removeDiffIds(ObjectNode config) {
        if (config.get("rootfs") instanceof ObjectNode rootfs) {
            rootfs.remove("diff_ids");
        }
    }

    /** Names each member of {@code source} or {@code target} whose values differ. */
    private static void compareFields(List<String> problems, String prefix, JsonNode source,
            JsonNode target) {
        if (source.isObject() && target.isObject()) {
            List<String> names = new ArrayList<>();
            source.fieldNames().forEachRemaining(names::add);
            for (Iterator<String> it = target.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                if (!source.has(name)) {
                    names.add(name);
                }
            }
            for (String name : names) {
                compareFields(problems, prefix + (prefix.isEmpty() ? "" : ".") + name,
                        source.path(name), target.path(name));
            }
        } else if (!source.equals(target)) {
            problems.add("config: " + prefix + " differs: source " + describe(source)
                    + ", target " + describe(target));
        }
    }

    private static String describe(JsonNode value) {
        return value.isMissingNode() ? "(missing)" : value.toString();
    }

    private static ObjectNode readObject(byte[] config, String which) throws IOException {
        JsonNode node = JSON.readTree(config);
        if (!(node instanceof ObjectNode object)) {
            throw new IOException(which + " config is not a JSON object");
        }
        return object;
    }
}
