package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/** Snapshot filters in the forms containerd sends, and the metadata file they list from. */
class SnapshotFilterTest {
    private static final SnapshotRecord LAYER = new SnapshotRecord("k8s.io/9/sha256:abc", 9,
            SnapshotKind.COMMITTED, "k8s.io/3/sha256:def", Instant.EPOCH, Instant.EPOCH,
            Map.of(SnapshotLabels.TARGET_REF, "sha256:abc", "team", "x"));

    private static boolean matches(String... filters) throws SnapshotException {
        Predicate<SnapshotRecord> filter = SnapshotFilter.anyOf(List.of(filters));
        return filter.test(LAYER);
    }

    @Test
    void targetLookupMatches() throws SnapshotException {
        assertTrue(matches("labels.\"containerd.io/snapshot.ref\"==sha256:abc,"
                + "parent==\"k8s.io/3/sha256:def\""));
    }

    @Test
    void otherParentDoesNotMatch() throws SnapshotException {
        assertFalse(matches("labels.\"containerd.io/snapshot.ref\"==sha256:abc,"
                + "parent==\"k8s.io/4/sha256:def\""));
    }

    @Test
    void anyFilterMayMatch() throws SnapshotException {
        assertTrue(matches("kind==view", "labels.team"));
    }

    @Test
    void regexAndInequality() throws SnapshotException {
        assertTrue(matches("name~=sha256:a.c,kind!=active"));
    }

    @Test
    void badRegexIsInvalid() {
        SnapshotException e = assertThrows(SnapshotException.class, () -> matches("name~=(("));

        assertEquals(SnapshotException.Reason.INVALID_ARGUMENT, e.reason());
    }

    @Test
    void corruptMetadataNamesFile() throws IOException {
        try (TempDir dir = TempDirs.create("metadata")) {
            Path file = dir.resolve("metadata.json");
            Files.writeString(file, "{\"version\": 1, \"snapshots\": [{\"key\": ");

            IOException e = assertThrows(IOException.class, () -> MetadataStore.open(file));

            assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        }
    }

    @Test
    void recordWithoutTimesIsRejected() throws IOException {
        try (TempDir dir = TempDirs.create("metadata")) {
            Path file = dir.resolve("metadata.json");
            Files.writeString(file, "{\"version\": 1, \"last_id\": 1, \"snapshots\": [{\"key\":"
                    + " \"a\", \"id\": 1, \"kind\": \"ACTIVE\"}]}");

            IOException e = assertThrows(IOException.class, () -> MetadataStore.open(file));

            assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        }
    }

    @Test
    void unknownMetadataVersionIsRejected() throws IOException {
        try (TempDir dir = TempDirs.create("metadata")) {
            Path file = dir.resolve("metadata.json");
            Files.writeString(file, "{\"version\": 7, \"snapshots\": []}");

            IOException e = assertThrows(IOException.class, () -> MetadataStore.open(file));

            assertTrue(e.getMessage().contains("unsupported version 7"), e.getMessage());
        }
    }
}
