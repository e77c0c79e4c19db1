package io.nydus.snapshotter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The snapshots of one snapshotter root, kept in memory and written to a JSON file after every
 * change, so that they survive a restart. The file is replaced atomically (written to a
 * temporary file, synced, then renamed), so a crash leaves either the old or the new state.
 * Not thread-safe: {@link Snapshotter} serializes access.
 */
final class MetadataStore {

    private static final int FORMAT_VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final Map<String, SnapshotRecord> byKey = new LinkedHashMap<>();
    private long lastId;

    private MetadataStore(Path file) {
        this.file = file;
    }

    /**
     * Opens the store in {@code file}, reading it if it exists.
     *
     * @throws IOException naming the file if it cannot be read or is invalid
     */
    static MetadataStore open(Path file) throws IOException {
        MetadataStore store = new MetadataStore(file);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return store;
        }
        try {
            store.load(JSON.readTree(bytes));
        } catch (JsonProcessingException | IllegalArgumentException
                | java.time.format.DateTimeParseException e) {
            throw new IOException("invalid snapshot metadata file " + file + ": "
                    + e.getMessage(), e);
        }
        return store;
    }

    Optional<SnapshotRecord> get(String key) {
        return Optional.ofNullable(byKey.get(key));
    }

    List<SnapshotRecord> all() {
        return List.copyOf(byKey.values());
    }

    List<SnapshotRecord> children(String key) {
        return byKey.values().stream().filter(r -> r.parent().equals(key)).toList();
    }

    long nextId() {
        return ++lastId;
    }

    void put(SnapshotRecord record) throws IOException {
        Map<String, SnapshotRecord> changed = new LinkedHashMap<>(byKey);
        changed.put(record.key(), record);
        saveAndApply(changed);
    }

    /** Replaces the record under {@code oldKey} (which may differ from the new key). */
    void replace(String oldKey, SnapshotRecord record) throws IOException {
        Map<String, SnapshotRecord> changed = new LinkedHashMap<>(byKey);
        changed.remove(oldKey);
        changed.put(record.key(), record);
        saveAndApply(changed);
    }

    void remove(String key) throws IOException {
        Map<String, SnapshotRecord> changed = new LinkedHashMap<>(byKey);
        changed.remove(key);
        saveAndApply(changed);
    }

    /**
     * Writes {@code changed} to the file and only then makes it the state in memory, so that a
     * failed write, such as on a full disk, leaves memory and file as they were.
     */
    private void saveAndApply(Map<String, SnapshotRecord> changed) throws IOException {
        save(changed.values());
        byKey.clear();
        byKey.putAll(changed);
    }

    private void load(JsonNode root) {
        int version = root.path("version").asInt(-1);
        if (version != FORMAT_VERSION) {
            throw new IllegalArgumentException("unsupported version " + version
                    + ", expected " + FORMAT_VERSION);
        }
        lastId = root.path("last_id").asLong();
        for (JsonNode node : root.path("snapshots")) {
            SnapshotRecord record = fromJson(node);
            if (record.id() > lastId) {
                throw new IllegalArgumentException("snapshot '" + record.key() + "' has id "
                        + record.id() + " above last_id " + lastId);
            }
            byKey.put(record.key(), record);
        }
    }

    private static SnapshotRecord fromJson(JsonNode node) {
        Map<String, String> labels = new LinkedHashMap<>();
        node.path("labels").properties()
                .forEach(e -> labels.put(e.getKey(), e.getValue().asText()));
        return new SnapshotRecord(node.path("key").asText(), node.path("id").asLong(),
                SnapshotKind.valueOf(node.path("kind").asText()), node.path("parent").asText(),
                Instant.parse(node.path("created").asText()),
                Instant.parse(node.path("updated").asText()), labels);
    }

    private void save(Collection<SnapshotRecord> records) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", FORMAT_VERSION);
        root.put("last_id", lastId);
        ArrayNode snapshots = root.putArray("snapshots");
        for (SnapshotRecord record : records) {
            ObjectNode node = snapshots.addObject();
            node.put("key", record.key());
            node.put("id", record.id());
            node.put("kind", record.kind().name());
            node.put("parent", record.parent());
            node.put("created", record.created().toString());
            node.put("updated", record.updated().toString());
            ObjectNode labels = node.putObject("labels");
            record.labels().forEach(labels::put);
        }
        StateFiles.write(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
    }

    /** Returns the records in order from {@code key}'s parent up to the base layer. */
    List<SnapshotRecord> ancestors(SnapshotRecord record) {
        List<SnapshotRecord> result = new ArrayList<>();
        String parent = record.parent();
        while (!parent.isEmpty()) {
            SnapshotRecord next = byKey.get(parent);
            if (next == null || result.size() > byKey.size()) {
                break;
            }
            result.add(next);
            parent = next.parent();
        }
        return result;
    }
}
