package io.nydus.nydusify;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.MediaTypes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads and writes the manifest of a build cache image in the layout of upstream's nydusify,
 * so that both can share a cache. Each record is two layers, the layer bootstrap (a gzipped
 * tar) and then the Nydus blob, both annotated with the source layer's chain ID. The manifest
 * annotations carry the cache version and the RAFS version. The config is an empty image
 * config whose diff IDs match the layers, so that image tools accept the cache image.
 */
final class BuildCacheManifest {
    /** Manifest annotation with the cache version. */
    static final String ANNOTATION_CACHE_VERSION = "containerd.io/snapshot/nydus-cache";
    /** Layer annotation with the chain ID of the source layer that a record is for. */
    static final String ANNOTATION_SOURCE_CHAIN_ID =
            "containerd.io/snapshot/nydus-source-chainid";
    /** Bootstrap layer annotation with the digest of the uncompressed tar. */
    static final String ANNOTATION_UNCOMPRESSED = "containerd.io/uncompressed";
    /**
     * Bootstrap layer annotations that upstream writes when blobs live in a storage backend
     * instead of the cache image. They are read here, never written.
     */
    static final String ANNOTATION_BLOB_DIGEST = "containerd.io/snapshot/nydus-blob-digest";
    static final String ANNOTATION_BLOB_SIZE = "containerd.io/snapshot/nydus-blob-size";
    /** The RAFS version that this converter builds and accepts in a cache. */
    static final String FS_VERSION = "6";

    private static final Logger LOG = LoggerFactory.getLogger(BuildCacheManifest.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private BuildCacheManifest() {
    }

    /** A cache image to push: its config and its manifest. */
    record Encoded(byte[] config, Manifest manifest) {
    }

    /**
     * Returns the cache image of {@code records}, in their order.
     *
     * @param docker whether to use Docker schema 2 media types instead of OCI ones
     */
    static Encoded encode(List<CacheRecord> records, String version, boolean docker) {
        List<Descriptor> layers = new ArrayList<>();
        List<Digest> diffIds = new ArrayList<>();
        for (CacheRecord record : records) {
            layers.add(bootstrapLayer(record, docker));
            diffIds.add(record.bootstrapDiffId());
            layers.add(blobLayer(record));
            diffIds.add(record.blobDigest());
        }
        byte[] config = config(diffIds);
        String configType = docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG;
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(ANNOTATION_CACHE_VERSION, version);
        annotations.put(MediaTypes.ANNOTATION_NYDUS_FS_VERSION, FS_VERSION);
        String manifestType = docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST;
        Manifest manifest = new Manifest(2, manifestType, null,
                Descriptor.of(configType, Digest.of(config), config.length), layers, null,
                annotations, Map.of());
        return new Encoded(config, manifest);
    }

    private static Descriptor bootstrapLayer(CacheRecord record, boolean docker) {
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true");
        annotations.put(MediaTypes.ANNOTATION_NYDUS_FS_VERSION, FS_VERSION);
        annotations.put(ANNOTATION_SOURCE_CHAIN_ID, record.chainId().toString());
        annotations.put(ANNOTATION_UNCOMPRESSED, record.bootstrapDiffId().toString());
        String type = docker ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP;
        return Descriptor.of(type, record.bootstrapDigest(), record.bootstrapSize())
                .withAnnotations(annotations);
    }

    private static Descriptor blobLayer(CacheRecord record) {
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(MediaTypes.ANNOTATION_NYDUS_BLOB, "true");
        annotations.put(ANNOTATION_SOURCE_CHAIN_ID, record.chainId().toString());
        return Descriptor.of(MediaTypes.NYDUS_BLOB, record.blobDigest(), record.blobSize())
                .withAnnotations(annotations);
    }

    /** Returns an image config with no settings and the given diff IDs, as upstream's. */
    private static byte[] config(List<Digest> diffIds) {
        ObjectNode config = MAPPER.createObjectNode();
        config.put("architecture", "");
        config.put("os", "");
        config.putObject("config");
        ObjectNode rootfs = config.putObject("rootfs");
        rootfs.put("type", "layers");
        ArrayNode array = rootfs.putArray("diff_ids");
        diffIds.forEach(diffId -> array.add(diffId.toString()));
        return config.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Returns the records of a cache manifest in the order they are listed. Layers that make
     * no valid record are logged and skipped, as upstream does.
     *
     * @param name the cache image, for messages
     * @throws IOException naming the cache if its version or RAFS version differs from the
     *     requested one
     */
    static List<CacheRecord> decode(Manifest manifest, String version, String name)
            throws IOException {
        String found = manifest.annotations().get(ANNOTATION_CACHE_VERSION);
        if (!version.equals(found)) {
            throw new IOException("build cache " + name + " has version " + found
                    + ", not the requested " + version);
        }
        String fsVersion = manifest.annotations().get(MediaTypes.ANNOTATION_NYDUS_FS_VERSION);
        if (!FS_VERSION.equals(fsVersion)) {
            throw new IOException("build cache " + name + " is for RAFS version " + fsVersion
                    + ", not " + FS_VERSION);
        }
        Map<Digest, Partial> byChainId = new LinkedHashMap<>();
        for (Descriptor layer : manifest.layers()) {
            readLayer(layer, name, byChainId);
        }
        List<CacheRecord> records = new ArrayList<>();
        for (Map.Entry<Digest, Partial> entry : byChainId.entrySet()) {
            CacheRecord record = entry.getValue().toRecord(entry.getKey());
            if (record == null) {
                LOG.warn("build cache {}: the record of chain ID {} lacks its bootstrap or its"
                        + " blob; skipping it", name, entry.getKey());
            } else {
                records.add(record);
            }
        }
        return records;
    }

    /** The layers of one record as they are found. */
    private static final class Partial {
        private Descriptor bootstrap;
        private Digest bootstrapDiffId;
        private Digest blobDigest;
        private long blobSize;

        CacheRecord toRecord(Digest chainId) {
            if (bootstrap == null || blobDigest == null) {
                return null;
            }
            return new CacheRecord(chainId, bootstrap.digest(), bootstrap.size(),
                    bootstrapDiffId, blobDigest, blobSize);
        }
    }

    private static void readLayer(Descriptor layer, String name, Map<Digest, Partial> records) {
        Map<String, String> annotations = layer.annotations();
        boolean blob = "true".equals(annotations.get(MediaTypes.ANNOTATION_NYDUS_BLOB));
        if (!annotations.containsKey(ANNOTATION_SOURCE_CHAIN_ID) && blob) {
            // Upstream lists blobs that records share through a chunk dictionary this way.
            LOG.debug("build cache {}: skipping referenced blob {}", name, layer.digest());
            return;
        }
        try {
            Digest chainId = Digest.parse(required(annotations, ANNOTATION_SOURCE_CHAIN_ID));
            Partial partial = records.computeIfAbsent(chainId, key -> new Partial());
            if (layer.isNydusBootstrap()) {
                readBootstrap(layer, partial);
            } else if (blob) {
                partial.blobDigest = layer.digest();
                partial.blobSize = layer.size();
            } else {
                throw new IllegalArgumentException("it is neither a bootstrap nor a blob");
            }
        } catch (IllegalArgumentException e) {
            LOG.warn("build cache {}: layer {} makes no valid record ({}); skipping it", name,
                    layer.digest(), e.getMessage());
        }
    }

    private static void readBootstrap(Descriptor layer, Partial partial) {
        Map<String, String> annotations = layer.annotations();
        Digest diffId = Digest.parse(required(annotations, ANNOTATION_UNCOMPRESSED));
        String blobDigest = annotations.get(ANNOTATION_BLOB_DIGEST);
        String blobSize = annotations.get(ANNOTATION_BLOB_SIZE);
        if (blobDigest != null && blobSize != null) {
            long size = Long.parseLong(blobSize);
            if (size < 0) {
                throw new IllegalArgumentException("blob size " + size + " is negative");
            }
            partial.blobDigest = Digest.parse(blobDigest);
            partial.blobSize = size;
        }
        partial.bootstrap = layer;
        partial.bootstrapDiffId = diffId;
    }

    private static String required(Map<String, String> annotations, String key) {
        String value = annotations.get(key);
        if (value == null) {
            throw new IllegalArgumentException("annotation " + key + " is missing");
        }
        return value;
    }
}
