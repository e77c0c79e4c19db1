package io.nydus.builder.compat;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.ImageChecker;
import io.nydus.builder.ImageInspector;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** The upstream RAFS v5 bootstraps are rejected with a message that names RAFS v5. */
class RafsV5RejectTest {
    static final List<String> V5_IMAGES = List.of(UpstreamFixtures.V5_LZ4,
            UpstreamFixtures.V5_NONE, UpstreamFixtures.SNAPSHOTTER_V5_LAYER);

    private static TempDir dir;

    @BeforeAll
    static void createTempDir() throws IOException {
        dir = TempDirs.create("rafs-v5-");
    }

    @AfterAll
    static void removeTempDir() throws IOException {
        if (dir != null) {
            dir.close();
        }
    }

    private static Path bootstrap(String fixture) throws IOException {
        Path target = Files.createDirectories(dir.resolve(Path.of(fixture).getFileName()
                + ".d"));
        return fixture.endsWith(".tar.gz") ? FixtureImages.layerBootstrap(fixture, target)
                : UpstreamFixtures.copy(fixture, target);
    }

    @ParameterizedTest
    @FieldSource("V5_IMAGES")
    void readerRejectsV5(String fixture) throws IOException {
        Path bootstrap = bootstrap(fixture);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> BootstrapReader.read(bootstrap));
        assertV5Message(bootstrap, e);
    }

    @ParameterizedTest
    @FieldSource("V5_IMAGES")
    void inspectRejectsV5(String fixture) throws IOException {
        Path bootstrap = bootstrap(fixture);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ImageInspector.inspect(bootstrap));
        assertV5Message(bootstrap, e);
    }

    @ParameterizedTest
    @FieldSource("V5_IMAGES")
    void checkRejectsV5(String fixture) throws IOException {
        Path bootstrap = bootstrap(fixture);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ImageChecker.check(bootstrap, null));
        assertV5Message(bootstrap, e);
    }

    private static void assertV5Message(Path bootstrap, RafsFormatException e) {
        String message = e.getMessage();
        assertTrue(message.contains(bootstrap.toString()), "names the file: " + message);
        assertTrue(message.contains("RAFS v5"), "names RAFS v5: " + message);
        assertTrue(message.contains("not supported"), "says not supported: " + message);
    }
}
