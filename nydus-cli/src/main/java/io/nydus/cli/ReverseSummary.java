package io.nydus.cli;

import io.nydus.nydusify.ReverseResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The `convert --reverse --output-json` document: one entry per converted Nydus manifest. */
final class ReverseSummary {
    private ReverseSummary() {
    }

    static Map<String, Object> of(ReverseResult result) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("source", result.source().toString());
        root.put("target", result.target().toString());
        root.put("target_manifest", result.targetDigest().toString());
        root.put("target_media_type", result.targetMediaType());
        root.put("target_manifest_size", result.targetSize());
        List<Map<String, Object>> manifests = new ArrayList<>();
        result.manifests().forEach(manifest -> manifests.add(manifest(manifest)));
        root.put("manifests", manifests);
        root.put("millis", result.millis());
        return root;
    }

    private static Map<String, Object> manifest(ReverseResult.Manifest manifest) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("platform", manifest.platform() == null ? null
                : manifest.platform().toString());
        entry.put("source_manifest", manifest.sourceManifest().toString());
        entry.put("target_manifest", manifest.targetManifest().toString());
        entry.put("target_manifest_size", manifest.targetManifestSize());
        entry.put("config", manifest.config().toString());
        List<Map<String, Object>> layers = new ArrayList<>();
        for (ReverseResult.Layer layer : manifest.layers()) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("blob_digest", layer.blobDigest().toString());
            item.put("blob_size", layer.blobSize());
            item.put("layer_digest", layer.layerDigest().toString());
            item.put("layer_size", layer.layerSize());
            item.put("diff_id", layer.diffId().toString());
            item.put("push", layer.push().name().toLowerCase(Locale.ROOT));
            item.put("millis", layer.millis());
            layers.add(item);
        }
        entry.put("layers", layers);
        entry.put("millis", manifest.millis());
        return entry;
    }
}
