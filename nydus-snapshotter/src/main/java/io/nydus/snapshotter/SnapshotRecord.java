package io.nydus.snapshotter;

import java.time.Instant;
import java.util.Map;

/**
 * One snapshot as the store keeps it.
 *
 * @param key containerd's name of the snapshot (the key of an active or view snapshot, or
 *     the name given to Commit)
 * @param id the store's own id; the snapshot's directory is {@code snapshots/<id>}, so keys
 *     never become paths
 * @param kind view, active or committed
 * @param parent the key of the committed parent, or empty for none
 * @param labels containerd's labels plus the snapshotter's own ({@link SnapshotLabels})
 */
public record SnapshotRecord(String key, long id, SnapshotKind kind, String parent,
        Instant created, Instant updated, Map<String, String> labels) {

    public SnapshotRecord {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("snapshot key is empty");
        }
        if (id <= 0) {
            throw new IllegalArgumentException("snapshot '" + key + "' has invalid id " + id);
        }
        if (kind == null || created == null || updated == null) {
            throw new IllegalArgumentException("snapshot '" + key + "' lacks kind or times");
        }
        parent = parent == null ? "" : parent;
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }

    public boolean hasParent() {
        return !parent.isEmpty();
    }

    public String label(String name) {
        return labels.get(name);
    }

    public boolean labelIsTrue(String name) {
        return "true".equals(labels.get(name));
    }

    SnapshotRecord withLabels(Map<String, String> newLabels, Instant now) {
        return new SnapshotRecord(key, id, kind, parent, created, now, newLabels);
    }
}
