package io.nydus.cli;

import io.nydus.nydusify.BlobResult;
import io.nydus.nydusify.ConvertResult;
import io.nydus.nydusify.LayerResult;
import io.nydus.nydusify.ManifestResult;
import io.nydus.registry.BlobPushResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The `convert --output-json` document. The top level keeps the keys of a single-platform
 * conversion, with the first platform's layers and bootstrap. {@code manifests} lists every
 * converted platform, and the byte totals cover them all.
 */
final class ConvertSummary {
    private ConvertSummary() {
    }

    static Map<String, Object> of(ConvertResult result) {
        ManifestResult first = result.manifests().getFirst();
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("source", result.source().toString());
        root.put("source_manifest", first.sourceManifest().toString());
        root.put("target", result.target().toString());
        root.put("target_manifest", result.targetDigest().toString());
        root.put("target_media_type", result.targetMediaType());
        root.put("target_manifest_size", result.targetSize());
        root.put("config", first.config().toString());
        root.put("layers", layers(first));
        root.put("chunk_dict_blobs", dictBlobs(first));
        root.put("bootstrap", bootstrap(first));
        List<Map<String, Object>> manifests = new ArrayList<>();
        result.manifests().forEach(manifest -> manifests.add(manifest(manifest)));
        root.put("manifests", manifests);
        root.put("uploads", result.uploads());
        root.put("bytes_uploaded", result.bytesUploaded());
        root.put("bytes_reused", result.bytesReused());
        root.put("millis", result.millis());
        return root;
    }

    private static Map<String, Object> manifest(ManifestResult manifest) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("platform", manifest.platform() == null ? null
                : manifest.platform().toString());
        entry.put("source_manifest", manifest.sourceManifest().toString());
        entry.put("target_manifest", manifest.targetManifest().toString());
        entry.put("target_manifest_size", manifest.targetManifestSize());
        entry.put("config", manifest.config().toString());
        entry.put("layers", layers(manifest));
        entry.put("chunk_dict_blobs", dictBlobs(manifest));
        entry.put("bootstrap", bootstrap(manifest));
        entry.put("uploads", manifest.uploads());
        entry.put("bytes_uploaded", manifest.bytesUploaded());
        entry.put("bytes_reused", manifest.bytesReused());
        entry.put("millis", manifest.millis());
        return entry;
    }

    private static List<Map<String, Object>> layers(ManifestResult manifest) {
        List<Map<String, Object>> layers = new ArrayList<>();
        for (LayerResult layer : manifest.layers()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("source_digest", layer.sourceDigest().toString());
            entry.put("source_size", layer.sourceSize());
            entry.put("blob_digest", layer.blobDigest().toString());
            entry.put("blob_size", layer.blobSize());
            entry.put("push", name(layer.push()));
            entry.put("chunks_reused", layer.chunksReused());
            entry.put("from_build_cache", layer.fromBuildCache());
            entry.put("millis", layer.millis());
            layers.add(entry);
        }
        return layers;
    }

    private static List<Map<String, Object>> dictBlobs(ManifestResult manifest) {
        List<Map<String, Object>> blobs = new ArrayList<>();
        for (BlobResult blob : manifest.dictBlobs()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("digest", blob.digest().toString());
            entry.put("size", blob.size());
            entry.put("push", name(blob.push()));
            blobs.add(entry);
        }
        return blobs;
    }

    private static Map<String, Object> bootstrap(ManifestResult manifest) {
        Map<String, Object> bootstrap = new LinkedHashMap<>();
        bootstrap.put("digest", manifest.bootstrapDigest().toString());
        bootstrap.put("size", manifest.bootstrapSize());
        bootstrap.put("diff_id", manifest.bootstrapDiffId().toString());
        bootstrap.put("push", name(manifest.bootstrapPush()));
        return bootstrap;
    }

    private static String name(BlobPushResult push) {
        return push.name().toLowerCase(Locale.ROOT);
    }
}
