package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.posix.BytePath;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** nydus-image create --type targz-ref and the commands that read its images, in-process. */
class ZranCommandsTest {
    private TempDir work;
    private Path layer;
    private String layerId;

    @BeforeEach
    void createLayer() throws IOException {
        work = TempDirs.create("zran-commands-");
        Path source = work.resolve("source");
        TreeGenerator.createSmall(BytePath.of(source));
        layer = work.resolve("layer.tar.gz");
        Commands.run(List.of("tar", "--format=posix", "--gzip", "-cf", layer.toString(), "-C",
                source.toString(), "."), Duration.ofMinutes(1));
        byte[] gz = Files.readAllBytes(layer);
        layerId = HexFormat.of().formatHex(DigestAlgorithm.SHA256.digest(gz, 0, gz.length));
    }

    @AfterEach
    void removeWork() throws IOException {
        work.close();
    }

    @Test
    void builtImageChecksWithTarballInBlobDir() throws IOException {
        Path blobs = work.resolve("blobs");
        Path bootstrap = work.resolve("image.boot");

        CapturedRun create = CapturedRun.nydusImage("create", "--type", "targz-ref",
                layer.toString(), "--bootstrap", bootstrap.toString(), "--blob-dir",
                blobs.toString());
        Files.copy(layer, blobs.resolve(layerId));
        CapturedRun check = CapturedRun.nydusImage("check", "--bootstrap", bootstrap.toString(),
                "--blob-dir", blobs.toString());

        assertEquals(0, create.exitCode(), create.err());
        assertEquals(0, check.exitCode(), check.err());
        assertTrue(check.out().contains("blobs in " + blobs + " are valid"), check.out());
    }

    @Test
    void missingTarballTellsToCopyIt() {
        Path blobs = work.resolve("blobs");
        Path bootstrap = work.resolve("image.boot");
        CapturedRun create = createImage(bootstrap, blobs);

        CapturedRun check = CapturedRun.nydusImage("check", "--bootstrap", bootstrap.toString(),
                "--blob-dir", blobs.toString());

        assertEquals(0, create.exitCode(), create.err());
        assertEquals(1, check.exitCode(), check.err());
        assertTrue(check.err().contains("ZRAN blob " + layerId + " is not in the blob directory "
                + blobs), check.err());
        assertTrue(check.err().contains("copy that tarball there under its sha256"),
                check.err());
    }

    @Test
    void missingBlobDirectoryIsNamed() {
        Path bootstrap = work.resolve("image.boot");
        Path missing = work.resolve("no-such-dir");
        CapturedRun create = createImage(bootstrap, work.resolve("blobs"));

        CapturedRun unpack = CapturedRun.nydusImage("unpack", bootstrap.toString(),
                "--blob-dir", missing.toString(), "--output", work.resolve("out").toString());

        assertEquals(0, create.exitCode(), create.err());
        assertEquals(1, unpack.exitCode(), unpack.err());
        assertTrue(unpack.err().contains(missing + ": blob directory does not exist"),
                unpack.err());
    }

    @Test
    void inspectNamesRefBlob() throws IOException {
        Path blobs = work.resolve("blobs");
        Path bootstrap = work.resolve("image.boot");
        CapturedRun create = createImage(bootstrap, blobs);
        String refBlob;
        try (var files = Files.list(blobs)) {
            refBlob = files.findFirst().orElseThrow().getFileName().toString();
        }

        CapturedRun inspect = CapturedRun.nydusImage("inspect", bootstrap.toString());
        CapturedRun json = CapturedRun.nydusImage("inspect", "--json", bootstrap.toString());

        assertEquals(0, create.exitCode(), create.err());
        assertEquals(0, inspect.exitCode(), inspect.err());
        assertTrue(inspect.out().contains("[0] " + layerId), inspect.out());
        assertTrue(inspect.out().contains(" ref blob " + refBlob + " ("), inspect.out());
        assertEquals(refBlob, new ObjectMapper().readTree(json.out()).get("blobs").get(0)
                .get("blob_meta_digest").asText(), json.out());
    }

    @Test
    void inspectOfRefBlobNamesGzipLayer() {
        Path ref = work.resolve("ref.blob");
        CapturedRun create = CapturedRun.nydusImage("create", "--type", "targz-ref",
                "--blob-inline-meta", layer.toString(), "--bootstrap",
                work.resolve("layer.boot").toString(), "--blob", ref.toString());

        CapturedRun inspect = CapturedRun.nydusImage("inspect", ref.toString());

        assertEquals(0, create.exitCode(), create.err());
        assertEquals(0, inspect.exitCode(), inspect.err());
        assertTrue(inspect.out().contains("[0] " + layerId), inspect.out());
    }

    @Test
    void standardInputIsRejected() {
        CapturedRun create = CapturedRun.nydusImage("create", "--type", "targz-ref", "-",
                "--bootstrap", work.resolve("image.boot").toString(), "--blob-dir",
                work.resolve("blobs").toString());

        assertNotEquals(0, create.exitCode());
        assertTrue(create.err().contains("cannot read '-'"), create.err());
    }

    @Test
    void directorySourceIsRejected() {
        CapturedRun create = CapturedRun.nydusImage("create", "--type", "targz-ref",
                work.resolve("source").toString(), "--bootstrap",
                work.resolve("image.boot").toString(), "--blob-dir",
                work.resolve("blobs").toString());

        assertEquals(1, create.exitCode(), create.err());
        assertTrue(create.err().contains(work.resolve("source") + " is a directory, but --type"
                + " targz-ref builds from a gzip tarball"), create.err());
    }

    @Test
    void plainTarballIsRejected() throws IOException {
        Path plain = work.resolve("layer.tar");
        Commands.run(List.of("gzip", "-dk", layer.toString()), Duration.ofMinutes(1));

        CapturedRun create = CapturedRun.nydusImage("create", "--type", "targz-ref",
                plain.toString(), "--bootstrap", work.resolve("image.boot").toString(),
                "--blob-dir", work.resolve("blobs").toString());

        assertNotEquals(0, create.exitCode());
        assertTrue(create.err().contains("is not a gzip file"), create.err());
    }

    /** Builds the layer into a bootstrap and a ref blob, leaving the tarball out of blobs. */
    private CapturedRun createImage(Path bootstrap, Path blobs) {
        return CapturedRun.nydusImage("create", "--type", "targz-ref", layer.toString(),
                "--bootstrap", bootstrap.toString(), "--blob-dir", blobs.toString());
    }
}
