package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Tests of which temporary files a JVM that stops early would delete: each output's temporary
 * file from its creation until it is renamed into place or deleted, and nothing after a build.
 */
class ExitCleanupTest {
    private TempDir temp;

    @BeforeEach
    void createTemp() throws IOException {
        temp = TempDirs.create("exit-cleanup-");
    }

    @AfterEach
    void deleteTemp() throws IOException {
        temp.close();
    }

    @Test
    void tempFileIsDeletedAtExitUntilRenamed() throws Exception {
        Path target = temp.resolve("out/image.boot");

        Path file = AtomicFiles.createTempBeside(target);
        assertEquals(List.of(file), ExitCleanup.registeredUnder(temp.path()));
        AtomicFiles.moveIntoPlace(file, target);

        assertEquals(List.of(), ExitCleanup.registeredUnder(temp.path()));
        assertTrue(Files.exists(target));
    }

    @Test
    void deletedTempFileIsUnregistered() throws Exception {
        Path file = AtomicFiles.createTempBeside(temp.resolve("image.boot"));

        ExitCleanup.delete(file);

        assertEquals(List.of(), ExitCleanup.registeredUnder(temp.path()));
        assertFalse(Files.exists(file));
    }

    @Test
    void buildLeavesNothingToDeleteAtExit() throws Exception {
        Path source = Files.createDirectory(temp.resolve("source"));
        Files.writeString(source.resolve("a"), "content of a");
        Path output = Files.createDirectory(temp.resolve("output"));

        new ImageBuilder(BuildOptions.defaults()).buildDirectory(source,
                output.resolve("image.boot"),
                ImageBuilder.BlobTarget.inDirectory(output.resolve("blobs")));

        assertEquals(List.of(), ExitCleanup.registeredUnder(output));
        assertTrue(Files.exists(output.resolve("image.boot")));
    }

    @Test
    void failedBuildLeavesNoTempFile() throws Exception {
        byte[] notTar = "not a tar header".getBytes(StandardCharsets.US_ASCII);
        Path output = Files.createDirectory(temp.resolve("output"));

        assertThrows(IOException.class, () -> new ImageBuilder(BuildOptions.defaults())
                .buildTar(new ByteArrayInputStream(notTar), "short.tar",
                        output.resolve("image.boot"),
                        ImageBuilder.BlobTarget.inDirectory(output.resolve("blobs"))));

        assertEquals(List.of(output.resolve("blobs")), files(output));
        assertEquals(List.of(), ExitCleanup.registeredUnder(output));
    }

    private static List<Path> files(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(path -> !path.equals(dir)).sorted().toList();
        }
    }
}
