package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.builder.BuildResult;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Vfs slots of a shared daemon, which a successor must keep from reuse. */
class DaemonSlotsTest {

    private TempDir work;
    private Path bootstrap;
    private DaemonConfig config;

    @BeforeEach
    void build() throws IOException {
        work = TempDirs.create("slots-");
        Path source = Files.createDirectories(work.resolve("source"));
        Files.writeString(source.resolve("hello"), "hello world");
        BuildResult image = TestImages.build(source, work.resolve("image"));
        bootstrap = image.bootstrapFile();
        config = DaemonConfig.parse("test", "{\"fs_prefetch\": {\"enable\": false}}");
    }

    @AfterEach
    void delete() throws IOException {
        work.close();
    }

    private Daemon daemon() {
        Path blobs = work.resolve("image/blobs");
        return new Daemon("slots", true, (cfg, decoded, settings) ->
                new DirectBlobData(blobs, decoded.bootstrap().blobs()));
    }

    @Test
    void unmountedSlotIsNotReused() throws IOException {
        try (Daemon daemon = daemon()) {
            daemon.mount("/a", bootstrap, config, List.of());
            daemon.mount("/b", bootstrap, config, List.of());
            daemon.umount("/b");
            daemon.mount("/c", bootstrap, config, List.of());

            assertEquals(3, daemon.slotOf("/c"));
            assertEquals(4, daemon.nextSlot());
        }
    }

    @Test
    void successorSkipsSlotsOfPredecessor() throws IOException {
        try (Daemon successor = daemon()) {
            successor.restore("/a", 1, bootstrap, config, List.of());
            successor.reserveSlotsBelow(4);
            successor.mount("/d", bootstrap, config, List.of());

            assertEquals(1, successor.slotOf("/a"));
            assertEquals(4, successor.slotOf("/d"));
        }
    }

    @Test
    void restoredImagePrefetchesListedFiles() throws IOException {
        DaemonConfig prefetching = DaemonConfig.parse("test",
                "{\"fs_prefetch\": {\"enable\": true}}");
        List<DirectBlobData> opened = new java.util.ArrayList<>();
        Path blobs = work.resolve("image/blobs");
        try (Daemon successor = new Daemon("slots", true, (cfg, decoded, settings) -> {
            DirectBlobData data = new DirectBlobData(blobs, decoded.bootstrap().blobs());
            opened.add(data);
            return data;
        })) {
            MountedImage image = successor.restore("/a", 1, bootstrap, prefetching,
                    List.of("/hello"));

            assertEquals(List.of("/hello"), image.prefetchFiles());
            assertEquals(1, opened.getFirst().prefetched.size());
        }
    }
}
