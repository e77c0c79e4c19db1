package io.nydus.storage.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.storage.config.LocalFsConfig;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LocalFsBackendTest {
    private TempDir dir;
    private Path primary;
    private Path alternate;

    @BeforeEach
    void createDirs() throws Exception {
        dir = TempDirs.create("localfs");
        primary = Files.createDirectories(dir.resolve("primary"));
        alternate = Files.createDirectories(dir.resolve("alternate"));
        Files.write(alternate.resolve("blob-a"), new byte[] {1, 2, 3, 4, 5});
    }

    @AfterEach
    void removeDirs() throws Exception {
        dir.close();
    }

    private LocalFsBackend backend(BackendMetrics metrics) {
        return new LocalFsBackend(new LocalFsConfig(Optional.of(primary), Optional.empty(),
                List.of(alternate)), metrics);
    }

    @Test
    void blobInAltDirIsRead() throws Exception {
        BackendMetrics metrics = new BackendMetrics();
        try (LocalFsBackend backend = backend(metrics)) {
            ByteBuffer target = ByteBuffer.allocate(3);
            backend.read("blob-a", 1, target);

            assertArrayEquals(new byte[] {2, 3, 4}, target.array());
            assertEquals(5, backend.blobSize("blob-a"));
            assertEquals(3L, metrics.readAmountTotal());
        }
    }

    @Test
    void readAfterCloseOpensNoFile() throws Exception {
        LocalFsBackend backend = backend(new BackendMetrics());
        backend.read("blob-a", 0, ByteBuffer.allocate(1));
        backend.close();

        // A read that an unmount overtakes must not leave a descriptor that nothing closes.
        IOException e = assertThrows(IOException.class,
                () -> backend.read("blob-a", 0, ByteBuffer.allocate(1)));
        assertTrue(e.getMessage().contains("blob-a"), e.getMessage());
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IOException.class, () -> backend.blobSize("blob-a"));
    }

    @Test
    void blobFileServesEveryId() throws Exception {
        LocalFsConfig config = new LocalFsConfig(Optional.empty(),
                Optional.of(alternate.resolve("blob-a")), List.of());
        try (LocalFsBackend backend = new LocalFsBackend(config, new BackendMetrics())) {
            assertEquals(5, backend.blobSize("any-id"));
        }
    }

    @Test
    void descriptionNamesRelativeDirectories() throws Exception {
        LocalFsConfig config = new LocalFsConfig(Optional.of(Path.of("blobs")), Optional.empty(),
                List.of(alternate));
        try (LocalFsBackend backend = new LocalFsBackend(config, new BackendMetrics())) {
            assertEquals("localfs [blobs, " + alternate + "]", backend.describe());
        }
    }

    @Test
    void missingBlobIsNamed() throws Exception {
        try (LocalFsBackend backend = backend(new BackendMetrics())) {
            NoSuchFileException e = assertThrows(NoSuchFileException.class,
                    () -> backend.read("blob-b", 0, ByteBuffer.allocate(1)));

            assertTrue(e.getMessage().contains("blob-b"), e.getMessage());
        }
    }

    @Test
    void rangePastEndIsNamed() throws Exception {
        BackendMetrics metrics = new BackendMetrics();
        try (LocalFsBackend backend = backend(metrics)) {
            EOFException e = assertThrows(EOFException.class,
                    () -> backend.read("blob-a", 3, ByteBuffer.allocate(4)));

            assertTrue(e.getMessage().contains("blob blob-a"), e.getMessage());
            assertTrue(e.getMessage().contains("3+4"), e.getMessage());
            assertEquals(1L, metrics.readErrors());
        }
    }

    @Test
    void pathInBlobIdIsRejected() throws Exception {
        try (LocalFsBackend backend = backend(new BackendMetrics())) {
            assertThrows(NoSuchFileException.class,
                    () -> backend.read("../alternate/blob-a", 0, ByteBuffer.allocate(1)));
        }
    }
}
