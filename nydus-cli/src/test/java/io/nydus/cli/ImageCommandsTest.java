package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.PrefetchList;
import io.nydus.posix.BytePath;
import io.nydus.posix.Posix;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.blob.TocEntry;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import io.nydus.testkit.TreeSnapshot;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The check, inspect, unpack and export --raw-blob commands, run in-process. */
class ImageCommandsTest {
    private static final byte[] BAD_NAME = {'b', 'a', 'd', (byte) 0xff};

    private TempDir work;
    private Path source;
    private Path bootstrap;
    private Path blobDir;
    private BuildResult built;

    @BeforeEach
    void buildImage() throws IOException {
        work = TempDirs.create("image-commands-");
        source = work.resolve("source");
        TreeGenerator.createSmall(BytePath.of(source));
        Posix.symlink("file".getBytes(StandardCharsets.US_ASCII),
                BytePath.of(source).resolve(BAD_NAME));
        bootstrap = work.resolve("bootstrap");
        blobDir = work.resolve("blobs");
        built = new ImageBuilder(BuildOptions.defaults()).buildDirectory(source, bootstrap,
                ImageBuilder.BlobTarget.inDirectory(blobDir));
    }

    @AfterEach
    void removeWork() throws IOException {
        work.close();
    }

    @Test
    void checkPassesGoodImage() {
        CapturedRun run = run("check", "--bootstrap", bootstrap.toString(), "--blob-dir",
                blobDir.toString());
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("is valid"), run.out());
        assertTrue(run.out().contains(", 1 blob" + System.lineSeparator()), run.out());
        assertTrue(run.out().contains(built.blob().chunkCount() + " chunks with"), run.out());
    }

    @Test
    void checkTakesBootstrapArgumentAndWritesJson() throws IOException {
        Path json = work.resolve("check.json");

        CapturedRun run = run("check", bootstrap.toString(), "--blob-dir", blobDir.toString(),
                "--output-json", json.toString());

        assertEquals(0, run.exitCode(), run.err());
        JsonNode root = new ObjectMapper().readTree(json.toFile());
        assertEquals(bootstrap.toString(), root.get("bootstrap").asText());
        assertEquals(built.blob().blobId(), root.get("blobs").get(0).asText());
        assertEquals("6", root.get("fs_version").asText());
        assertEquals("zstd", root.get("compressor").asText());
        assertEquals(built.blob().chunkCount(), root.get("chunks_verified").asLong());
    }

    @Test
    void outputThatIsDirectoryIsNamed() throws IOException {
        Path taken = Files.createDirectory(work.resolve("taken"));
        Path merged = work.resolve("merged.boot");
        Path takenTar = Files.createDirectory(work.resolve("taken.tar"));
        List<String[]> commands = List.of(
                new String[] {"create", source.toString(), "--bootstrap", taken.toString(),
                    "--blob-dir", blobDir.toString()},
                new String[] {"export", "--block", "--bootstrap", bootstrap.toString(),
                    "--blob-dir", blobDir.toString(), "--output", taken.toString()},
                new String[] {"check", bootstrap.toString(), "--output-json",
                    taken.toString()},
                new String[] {"merge", "--bootstrap", merged.toString(), "--output-json",
                    taken.toString(), bootstrap.toString()},
                new String[] {"stat", "--bootstrap", bootstrap.toString(), "--output-json",
                    taken.toString()});
        for (String[] args : commands) {
            CapturedRun run = run(args);

            assertEquals(1, run.exitCode(), args[0] + ": " + run.err());
            assertTrue(run.err().startsWith("error: cannot write " + taken
                    + ": it is a directory"), args[0] + ": " + run.err());
        }
        CapturedRun unpack = run("unpack", bootstrap.toString(), "--blob-dir",
                blobDir.toString(), "--output", takenTar.toString());
        assertEquals(1, unpack.exitCode(), unpack.err());
        assertTrue(unpack.err().startsWith("error: cannot write " + takenTar
                + ": it is a directory"), unpack.err());
        assertFalse(Files.exists(merged), "merge wrote " + merged + " and then failed");
        try (var left = Files.list(work.path())) {
            assertEquals(List.of(), left.filter(path -> path.getFileName().toString()
                    .startsWith(".taken")).toList());
        }
    }

    @Test
    void blobDirThatIsFileIsNamed() throws IOException {
        Path file = Files.writeString(work.resolve("not-a-dir"), "kept");

        CapturedRun run = run("create", source.toString(), "--bootstrap",
                work.resolve("new.boot").toString(), "--blob-dir", file.toString());

        assertEquals(1, run.exitCode(), run.err());
        assertTrue(run.err().startsWith("error: cannot write the blob in " + file + ": " + file
                + " exists and is not a directory"), run.err());
        assertEquals("kept", Files.readString(file));
    }

    @Test
    void blobDirThatIsFileIsNamedByReaders() throws IOException {
        Path file = Files.writeString(work.resolve("blobs-file"), "kept");
        List<String[]> commands = List.of(
                new String[] {"check", bootstrap.toString(), "--blob-dir", file.toString()},
                new String[] {"unpack", bootstrap.toString(), "--blob-dir", file.toString(),
                    "--output", work.resolve("unpacked").toString()},
                new String[] {"export", "--block", "--bootstrap", bootstrap.toString(),
                    "--blob-dir", file.toString(), "--output",
                    work.resolve("image.erofs").toString()});
        for (String[] args : commands) {
            CapturedRun run = run(args);

            assertEquals(1, run.exitCode(), args[0] + ": " + run.err());
            assertTrue(run.err().startsWith("error: blob directory " + file + " is not a"
                    + " directory"), args[0] + ": " + run.err());
        }
    }

    @Test
    void outputThatIsFifoIsKept() throws IOException {
        Path fifo = work.resolve("pipe.tar");
        Commands.run(List.of("mkfifo", fifo.toString()), Duration.ofSeconds(10));
        List<String[]> commands = List.<String[]>of(
                new String[] {"export", "--block", "--bootstrap", bootstrap.toString(),
                    "--blob-dir", blobDir.toString(), "--output", fifo.toString()});
        for (String[] args : commands) {
            CapturedRun run = run(args);

            assertEquals(1, run.exitCode(), args[0] + ": " + run.err());
            assertTrue(run.err().startsWith("error: cannot write " + fifo + ": it is a device,"
                    + " FIFO or socket"), args[0] + ": " + run.err());
            assertTrue(Files.readAttributes(fifo, BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS).isOther(), args[0] + " replaced the FIFO " + fifo);
        }
    }

    @Test
    void unpackStreamsTarIntoFifo() throws Exception {
        // A FIFO named without .tar, as a converter may pass it, still gets a tar archive.
        Path fifo = work.resolve("layer-pipe");
        Commands.run(List.of("mkfifo", fifo.toString()), Duration.ofSeconds(10));
        Path extracted = Files.createDirectory(work.resolve("extracted"));
        Process tar = new ProcessBuilder("tar", "--xattrs", "--xattrs-include=*",
                "--numeric-owner", "-xpf", fifo.toString(), "-C", extracted.toString())
                .redirectErrorStream(true).start();

        CapturedRun run = run("unpack", bootstrap.toString(), "--blob-dir",
                blobDir.toString(), "--output", fifo.toString());

        if (run.exitCode() != 0) {
            // tar may still wait for a writer to open the FIFO.
            tar.destroyForcibly();
        }
        assertEquals(0, run.exitCode(), run.err());
        String tarOutput = new String(tar.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8);
        assertEquals(0, tar.waitFor(), tarOutput);
        assertEquals("", run.out());
        assertTrue(Files.readAttributes(fifo, BasicFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS).isOther(), "unpack replaced the FIFO " + fifo);
        TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                TreeSnapshot.capture(extracted), TreeComparator.Options.defaults()
                        .ignoringRootMtime().skippingSockets());
    }

    @Test
    void unpackToStdoutRedirectedToFile() throws Exception {
        // A child process, because /dev/stdout here would be the test JVM's own output.
        Path tar = work.resolve("stdout.tar");
        Path log = work.resolve("stderr.log");
        Process unpack = new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), NydusImage.class.getName(),
                "unpack", bootstrap.toString(), "--blob-dir", blobDir.toString(), "--output",
                "/dev/stdout")
                .redirectOutput(tar.toFile()).redirectError(log.toFile()).start();

        assertEquals(0, unpack.waitFor(), Files.readString(log));
        Path extracted = Files.createDirectory(work.resolve("extracted"));
        Commands.run(List.of("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                "-xpf", tar.toString(), "-C", extracted.toString()), Duration.ofSeconds(60));
        TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                TreeSnapshot.capture(extracted), TreeComparator.Options.defaults()
                        .ignoringRootMtime().skippingSockets());
    }

    @Test
    void failedStandardOutputFailsCommand() {
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        // A full disk: every write fails, which PrintStream records instead of throwing.
        System.setOut(new PrintStream(new java.io.OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("No space left on device");
            }
        }, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Cli.run(new NydusImage(), "inspect", "--json", bootstrap.toString());
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }

        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(1, code, text);
        assertTrue(text.contains("error: writing to standard output failed"), text);
    }

    @Test
    void bootstrapGivenTwiceIsUsageError() {
        CapturedRun run = run("inspect", bootstrap.toString(), "--bootstrap",
                work.resolve("other").toString());

        assertEquals(2, run.exitCode());
        assertTrue(run.err().startsWith("error: two bootstraps: "), run.err());
    }

    @Test
    void missingBootstrapIsUsageError() {
        CapturedRun run = run("unpack", "--output", work.resolve("out").toString());

        assertEquals(2, run.exitCode());
        assertTrue(run.err().startsWith("error: missing bootstrap"), run.err());
    }

    @Test
    void unpackReadsSingleBlobFile() throws IOException {
        Path output = work.resolve("out");

        CapturedRun run = run("unpack", bootstrap.toString(), "--blob",
                built.blobFile().toString(), "--output", output.toString());

        assertEquals(0, run.exitCode(), run.err());
        TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                TreeSnapshot.capture(output), TreeComparator.Options.defaults()
                        .ignoringRootMtime());
    }

    @Test
    void createAcceptsUpstreamNoOpFlags() throws IOException {
        Path again = work.resolve("again");

        CapturedRun run = run("create", source.toString(), "--bootstrap",
                again.resolve("bootstrap").toString(), "--blob-dir", again.toString(),
                "--repeatable", "--aligned-chunk", "--disable-check");

        assertEquals(0, run.exitCode(), run.err());
        assertArrayEqualsFile(bootstrap, again.resolve("bootstrap"));
        assertArrayEqualsFile(built.blobFile(), again.resolve(built.blob().blobId()));
    }

    @Test
    void checkFailsFlippedChunkByte() throws IOException {
        Chunk chunk = BootstrapReader.read(bootstrap).root()
                .child("dir".getBytes(StandardCharsets.US_ASCII))
                .child("nested".getBytes(StandardCharsets.US_ASCII)).inode().chunks().getFirst();
        flip(blobFile(), chunk.compressedOffset() + 1);
        CapturedRun run = run("check", "--bootstrap", bootstrap.toString(), "--blob-dir",
                blobDir.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: "), run.err());
        assertTrue(run.err().contains(built.blob().blobId()), run.err());
    }

    @Test
    void checkFailsFlippedCiByte() throws IOException {
        long ciOffset;
        try (BlobReader reader = BlobReader.open(blobFile(), null)) {
            ciOffset = reader.meta().section(TocEntry.BLOB_META).orElseThrow().offset();
        }
        flip(blobFile(), ciOffset + 2);
        CapturedRun run = run("check", "--bootstrap", bootstrap.toString(), "--blob-dir",
                blobDir.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.err().contains(built.blob().blobId()), run.err());
    }

    @Test
    void checkFailsTruncatedBootstrap() throws IOException {
        byte[] bytes = Files.readAllBytes(bootstrap);
        Path truncated = work.resolve("truncated");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, 2000));
        CapturedRun run = run("check", "--bootstrap", truncated.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.err().contains(truncated.toString()), run.err());
    }

    @Test
    void createBadOptionValueIsUsageError() {
        Path output = work.resolve("not-built");

        CapturedRun run = run("create", source.toString(), "--bootstrap",
                output.resolve("bootstrap").toString(), "--blob-dir", output.toString(),
                "--compressor", "lzma");

        assertEquals(2, run.exitCode());
        assertTrue(run.err().startsWith("error: unknown compressor 'lzma'"), run.err());
        assertFalse(Files.exists(output));
    }

    @Test
    void checkNamesDirectoryGivenAsBootstrap() {
        CapturedRun run = run("check", "--bootstrap", source.toString());

        assertEquals(1, run.exitCode());
        assertEquals("error: bootstrap " + source + " is a directory; give the bootstrap file\n",
                run.err());
    }

    @Test
    void outputOntoInputIsRejected() throws IOException {
        String boot = bootstrap.toString();
        String blobs = blobDir.toString();
        String blob = blobFile().toString();
        // Unpack writes a tar archive only to a name ending in .tar.
        String bootTar = Files.copy(bootstrap, work.resolve("image.tar")).toString();
        String blobTar = Files.copy(blobFile(), work.resolve("blob.tar")).toString();
        List<String[]> commands = List.of(
                new String[] {"check", boot, "--output-json", boot},
                new String[] {"check", boot, "--blob-dir", blobs, "--output-json", blob},
                new String[] {"stat", "--bootstrap", boot, "--output-json", boot},
                new String[] {"export", "--block", "--bootstrap", boot, "--blob-dir", blobs,
                    "--output", boot},
                new String[] {"export", "--block", "--bootstrap", boot, "--blob-dir", blobs,
                    "--output", blob},
                new String[] {"export", "--raw-blob", built.blob().blobId(), "--bootstrap",
                    boot, "--blob-dir", blobs, "--output", blob},
                new String[] {"unpack", bootTar, "--blob-dir", blobs, "--output", bootTar},
                new String[] {"unpack", boot, "--blob", blobTar, "--output", blobTar},
                new String[] {"create", source.toString(), "--bootstrap", boot,
                    "--parent-bootstrap", boot, "--blob-dir", blobs},
                new String[] {"merge", "--bootstrap", boot, boot});
        List<Path> inputs = List.of(bootstrap, blobFile(), Path.of(bootTar), Path.of(blobTar));
        List<byte[]> before = new ArrayList<>();
        for (Path input : inputs) {
            before.add(Files.readAllBytes(input));
        }
        for (String[] args : commands) {
            String output = args[args.length - 1];
            if (args[0].equals("create") || args[0].equals("merge")) {
                output = boot;
            }

            CapturedRun run = run(args);

            String name = String.join(" ", args);
            assertEquals(1, run.exitCode(), name + ": " + run.err());
            assertTrue(run.err().startsWith("error: cannot write " + output + ": it is the"
                    + " input "), name + ": " + run.err());
            for (int i = 0; i < inputs.size(); i++) {
                assertArrayEquals(before.get(i), Files.readAllBytes(inputs.get(i)),
                        name + " changed " + inputs.get(i));
            }
        }
    }

    @Test
    void createOutputsOntoOneFileAreRejected() throws IOException {
        Path output = work.resolve("both");

        CapturedRun run = run("create", source.toString(), "--bootstrap", output.toString(),
                "--blob", output.toString());

        assertEquals(1, run.exitCode(), run.err());
        assertTrue(run.err().startsWith("error: cannot write " + output + ": it is also the"
                + " output " + output), run.err());
        assertFalse(Files.exists(output), "create wrote " + output + " and then failed");
    }

    @Test
    void fullDiskErrorNamesOutput() throws IOException {
        Path boot = buildWithRandomFile();
        Path small = Files.createDirectory(work.resolve("small"));
        Posix.mount(BytePath.of("tmpfs"), BytePath.of(small), "tmpfs", 0, "size=1m");
        try {
            Path disk = small.resolve("image.erofs");
            Path tar = small.resolve("image.tar");
            Path newBoot = small.resolve("new.boot");
            Path newBlobs = small.resolve("blobs");
            List<String[]> commands = List.of(
                    new String[] {"export", "--block", "--bootstrap", boot.toString(),
                        "--blob-dir", blobDir.toString(), "--output", disk.toString()},
                    new String[] {"unpack", boot.toString(), "--blob-dir", blobDir.toString(),
                        "--output", tar.toString()},
                    new String[] {"create", source.toString(), "--bootstrap",
                        newBoot.toString(), "--blob-dir", newBlobs.toString()});
            List<String> named = List.of(disk.toString(), tar.toString(),
                    "the blob in " + newBlobs);
            for (int i = 0; i < commands.size(); i++) {
                CapturedRun run = run(commands.get(i));

                String name = commands.get(i)[0];
                assertEquals(1, run.exitCode(), name + ": " + run.err());
                assertTrue(run.err().contains("cannot write " + named.get(i)
                        + ": No space left on device"), name + ": " + run.err());
            }
            try (var left = Files.walk(small)) {
                assertEquals(List.of(small, newBlobs), left.toList());
            }
        } finally {
            Posix.umount2(BytePath.of(small), 0);
        }
    }

    @Test
    void unpackDirectoryErrorsNameOutput() throws IOException {
        Path boot = buildWithRandomFile();
        Path small = Files.createDirectory(work.resolve("small"));
        Path readOnly = Files.createDirectory(work.resolve("read-only"));
        Posix.mount(BytePath.of("tmpfs"), BytePath.of(small), "tmpfs", 0, "size=1m");
        try {
            Posix.mount(BytePath.of("tmpfs"), BytePath.of(readOnly), "tmpfs",
                    io.nydus.posix.MountFlags.MS_RDONLY, "size=1m");
            try {
                Path full = small.resolve("tree");
                Path denied = readOnly.resolve("tree");

                CapturedRun fullRun = run("unpack", boot.toString(), "--blob-dir",
                        blobDir.toString(), "--output", full.toString());
                CapturedRun deniedRun = run("unpack", boot.toString(), "--blob-dir",
                        blobDir.toString(), "--output", denied.toString());

                assertEquals(1, fullRun.exitCode(), fullRun.err());
                assertTrue(fullRun.err().contains(full + "/random.bin: No space left on"
                        + " device"), fullRun.err());
                assertEquals(1, deniedRun.exitCode(), deniedRun.err());
                assertTrue(deniedRun.err().startsWith("error: cannot write " + denied
                        + ": Read-only file system"), deniedRun.err());
                try (var left = Files.list(small)) {
                    assertEquals(List.of(), left.toList());
                }
            } finally {
                Posix.umount2(BytePath.of(readOnly), 0);
            }
        } finally {
            Posix.umount2(BytePath.of(small), 0);
        }
    }

    @Test
    void readOnlyOutputFailsBeforeWork() throws IOException {
        Path readOnly = Files.createDirectory(work.resolve("read-only"));
        Posix.mount(BytePath.of("tmpfs"), BytePath.of(readOnly), "tmpfs",
                io.nydus.posix.MountFlags.MS_RDONLY, "size=1m");
        try {
            Path json = readOnly.resolve("out.json");
            String boot = bootstrap.toString();
            List<String[]> commands = List.of(
                    new String[] {"check", boot, "--blob-dir", blobDir.toString(),
                        "--output-json", json.toString()},
                    new String[] {"stat", "--bootstrap", boot, "--output-json",
                        json.toString()},
                    new String[] {"merge", "--bootstrap", work.resolve("m.boot").toString(),
                        "--output-json", json.toString(), boot},
                    new String[] {"create", source.toString(), "--bootstrap",
                        work.resolve("c.boot").toString(), "--blob-dir", blobDir.toString(),
                        "--output-json", json.toString()});
            for (String[] args : commands) {
                CapturedRun run = run(args);

                assertEquals(1, run.exitCode(), args[0] + ": " + run.err());
                assertTrue(run.err().startsWith("error: cannot write " + json
                        + ": the directory " + readOnly + " is not writable"),
                        args[0] + ": " + run.err());
                assertEquals("", run.out(), args[0] + " did its work before failing");
            }
            assertFalse(Files.exists(work.resolve("m.boot")), "merge wrote its bootstrap");
            assertFalse(Files.exists(work.resolve("c.boot")), "create wrote its bootstrap");
        } finally {
            Posix.umount2(BytePath.of(readOnly), 0);
        }
    }

    @Test
    void missingSourceIsNamedAsGiven() {
        for (String type : List.of("dir-rafs", "tar-rafs")) {
            CapturedRun run = run("create", "--type", type, "missing-source", "--bootstrap",
                    work.resolve("new.boot").toString(), "--blob-dir", blobDir.toString());

            assertEquals(1, run.exitCode(), type + ": " + run.err());
            assertEquals("error: no such file: missing-source", run.err().strip(),
                    type + ": " + run.err());
        }
    }

    @Test
    void unpackNamesUnwritableOutput() throws IOException {
        Path notADirectory = Files.write(work.resolve("plain-file"), new byte[] {1});
        Path output = notADirectory.resolve("image.tar");

        CapturedRun run = run("unpack", "--bootstrap", bootstrap.toString(), "--blob-dir",
                blobDir.toString(), "--output", output.toString());

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: cannot write " + output + ": "), run.err());
    }

    @Test
    void inspectEscapesBadName() {
        CapturedRun run = run("inspect", "--bootstrap", bootstrap.toString());
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("/bad\\xff symlink"), run.out());
        assertTrue(run.out().contains("/dir/nested file mode 0640 1000:1000 size 5000"),
                run.out());
        assertTrue(run.out().contains("totals: files "), run.out());
    }

    @Test
    void inspectJsonGivesPathBytes() throws IOException {
        CapturedRun run = run("inspect", "--bootstrap", bootstrap.toString(), "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode root = new ObjectMapper().readTree(run.out());
        JsonNode bad = null;
        for (JsonNode entry : root.get("entries")) {
            if (entry.get("path").asText().equals("/bad\\xff")) {
                bad = entry;
            }
        }
        assertTrue(bad != null, "entry /bad\\xff missing from " + run.out());
        assertEquals(Base64.getEncoder().encodeToString(new byte[] {'/', 'b', 'a', 'd',
                (byte) 0xff}), bad.get("path_bytes").asText());
        assertEquals(built.blob().blobId(), root.get("blobs").get(0).get("blob_id").asText());
        assertEquals(1, root.get("totals").get("blobs").asInt());
    }

    @Test
    void inspectJsonGivesBytesOfEscapedNames() throws IOException {
        // Valid UTF-8, but shown escaped: a newline, a tab and a backslash.
        List<String> names = List.of("new\nline", "tab\tx", "back\\x41");
        Path tree = Files.createDirectory(work.resolve("escaped"));
        for (String name : names) {
            Files.writeString(tree.resolve(name), name);
        }
        Path boot = work.resolve("escaped.boot");
        new ImageBuilder(BuildOptions.defaults()).buildDirectory(tree, boot,
                ImageBuilder.BlobTarget.inDirectory(blobDir));

        CapturedRun run = run("inspect", boot.toString(), "--json");

        assertEquals(0, run.exitCode(), run.err());
        List<String> decoded = new ArrayList<>();
        for (JsonNode entry : new ObjectMapper().readTree(run.out()).get("entries")) {
            JsonNode bytes = entry.get("path_bytes");
            if (bytes != null) {
                decoded.add(new String(Base64.getDecoder().decode(bytes.asText()),
                        StandardCharsets.UTF_8));
            }
        }
        for (String name : names) {
            assertTrue(decoded.contains("/" + name), "no path_bytes for " + name + " in "
                    + run.out());
        }
    }

    @Test
    void inspectJsonGivesBytesOfEscapedXattrNames() throws IOException {
        byte[] name = {'u', 's', 'e', 'r', '.', (byte) 0xff, '\n'};
        Path tree = Files.createDirectory(work.resolve("xattr"));
        Path file = Files.writeString(tree.resolve("f"), "x");
        io.nydus.posix.Xattrs.set(BytePath.of(file), name, new byte[] {'v'}, 0);
        Path boot = work.resolve("xattr.boot");
        new ImageBuilder(BuildOptions.defaults()).buildDirectory(tree, boot,
                ImageBuilder.BlobTarget.inDirectory(blobDir));

        CapturedRun run = run("inspect", boot.toString(), "--json");

        assertEquals(0, run.exitCode(), run.err());
        JsonNode entry = new ObjectMapper().readTree(run.out()).get("entries").get(1);
        assertEquals("/f", entry.get("path").asText());
        assertEquals("user.\\xff\\x0a", entry.get("xattrs").get(0).asText());
        assertTrue(entry.has("xattrs_bytes"), entry.toString());
        assertArrayEquals(name, Base64.getDecoder().decode(
                entry.get("xattrs_bytes").get(0).asText()));
    }

    @Test
    void inspectRequestAnswersWithUpstreamKeys() throws IOException {
        Path boot = work.resolve("prefetch.boot");
        BuildResult withPrefetch = new ImageBuilder(BuildOptions.defaults())
                .prefetch(PrefetchList.parse("/dir\n".getBytes(StandardCharsets.UTF_8)))
                .buildDirectory(source, boot, ImageBuilder.BlobTarget.inDirectory(blobDir));
        JsonNode report = new ObjectMapper().readTree(
                run("inspect", boot.toString(), "--json").out());
        long dirNid = -1;
        for (JsonNode entry : report.get("entries")) {
            if (entry.get("path").asText().equals("/dir")) {
                dirNid = entry.get("nid").asLong();
            }
        }

        CapturedRun stats = run("inspect", boot.toString(), "--request", "stats");
        CapturedRun blobs = run("inspect", boot.toString(), "-R", "blobs");
        CapturedRun prefetch = run("inspect", boot.toString(), "--request", "prefetch");

        assertEquals(0, stats.exitCode(), stats.err());
        assertEquals(report.get("superblock").get("inode_count").asLong(),
                new ObjectMapper().readTree(stats.out()).get("inodes_count").asLong());
        assertEquals(0, blobs.exitCode(), blobs.err());
        JsonNode blob = new ObjectMapper().readTree(blobs.out()).get(0);
        assertEquals(withPrefetch.blob().blobId(), blob.get("blob_id").asText());
        assertEquals(withPrefetch.blob().compressedSize(),
                blob.get("compressed_size").asLong());
        assertEquals(withPrefetch.blob().uncompressedSize(),
                blob.get("decompressed_size").asLong());
        assertEquals(0, blob.get("readahead_size").asLong());
        assertEquals(0, prefetch.exitCode(), prefetch.err());
        JsonNode entries = new ObjectMapper().readTree(prefetch.out());
        assertEquals(1, entries.size(), prefetch.out());
        assertEquals(dirNid, entries.get(0).get("inode").asLong());
        assertEquals("/dir", entries.get(0).get("path").get(0).asText());
    }

    @Test
    void inspectUnknownRequestIsUsageError() {
        CapturedRun run = run("inspect", bootstrap.toString(), "--request", "ls");

        assertEquals(2, run.exitCode(), run.err());
        assertTrue(run.err().startsWith("error: unsupported --request 'ls', expected one of"
                + " stats, blobs, prefetch"), run.err());
    }

    @Test
    void commandsReadBootstrapInlinedInBlob() throws IOException {
        Path inlinedBlobs = work.resolve("inlined-blobs");
        BuildResult inlined = new ImageBuilder(new BuildOptions(BuildOptions.defaults()
                .compressor(), BuildOptions.defaults().digester(), BuildOptions.defaults()
                .chunkSize(), BuildOptions.defaults().whiteoutSpec(), 1, true, true))
                .buildDirectory(source, work.resolve("inlined.boot"),
                        ImageBuilder.BlobTarget.inDirectory(inlinedBlobs));
        String blob = inlined.blobFile().toString();
        String blobs = inlinedBlobs.toString();
        Path unpacked = work.resolve("unpacked");
        Path disk = work.resolve("inlined.erofs");

        CapturedRun check = run("check", blob, "--blob-dir", blobs);
        CapturedRun inspect = run("inspect", blob);
        CapturedRun unpack = run("unpack", blob, "--blob-dir", blobs, "--output",
                unpacked.toString());
        CapturedRun export = run("export", "--block", "--bootstrap", blob, "--blob-dir", blobs,
                "--output", disk.toString());

        assertEquals(0, check.exitCode(), check.err());
        assertTrue(check.out().startsWith("bootstrap " + blob + " is valid"), check.out());
        assertEquals(0, inspect.exitCode(), inspect.err());
        assertTrue(inspect.out().contains("/dir/nested file"), inspect.out());
        assertEquals(0, unpack.exitCode(), unpack.err());
        TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                TreeSnapshot.capture(unpacked), TreeComparator.Options.defaults()
                        .ignoringRootMtime());
        assertEquals(0, export.exitCode(), export.err());
        CapturedRun diskTree = run("inspect", disk.toString());
        assertTrue(diskTree.out().contains("/dir/nested file"), diskTree.out() + diskTree.err());
    }

    @Test
    void unpackRecreatesSource() throws IOException {
        Path output = work.resolve("out");
        CapturedRun run = run("unpack", "--bootstrap", bootstrap.toString(), "--blob-dir",
                blobDir.toString(), "--output", output.toString());
        assertEquals(0, run.exitCode(), run.err());
        TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                TreeSnapshot.capture(output), TreeComparator.Options.defaults()
                        .ignoringRootMtime());
    }

    @Test
    void unpackRejectsNonEmptyOutput() throws IOException {
        Path output = Files.createDirectories(work.resolve("out"));
        Files.writeString(output.resolve("x"), "x");
        CapturedRun run = run("unpack", "--bootstrap", bootstrap.toString(), "--blob-dir",
                blobDir.toString(), "--output", output.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.err().contains("not empty"), run.err());
    }

    @Test
    void exportWithoutOutputWritesDiskBesideBlobs() throws IOException {
        CapturedRun run = run("export", "--block", "--bootstrap", bootstrap.toString(),
                "--localfs-dir", blobDir.toString());

        assertEquals(0, run.exitCode(), run.err());
        Path disk = blobDir.resolve(bootstrap.getFileName() + ".disk");
        byte[] head = Arrays.copyOf(Files.readAllBytes(disk), 4096);
        assertArrayEquals(Arrays.copyOf(Files.readAllBytes(bootstrap), 4096), head);
    }

    @Test
    void exportRawBlobHasUncompressedSize() throws IOException {
        Path device = work.resolve("device");
        CapturedRun run = run("export", "--raw-blob", built.blob().blobId(), "--bootstrap",
                bootstrap.toString(), "--blob-dir", blobDir.toString(), "--output",
                device.toString());
        assertEquals(0, run.exitCode(), run.err());
        assertEquals(built.blob().uncompressedSize(), Files.size(device));
    }

    @Test
    void exportRawBlobRejectsUnknownId() {
        CapturedRun run = run("export", "--raw-blob", "0".repeat(64), "--bootstrap",
                bootstrap.toString(), "--blob-dir", blobDir.toString(), "--output",
                work.resolve("device").toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.err().contains(built.blob().blobId()), run.err());
    }

    @Test
    void exportThreadsGiveSameBytes() throws IOException {
        for (String format : new String[] {"--block", "--raw-blob"}) {
            List<Path> outputs = new ArrayList<>();
            for (String threads : new String[] {"1", "8"}) {
                Path output = work.resolve("export-" + format.substring(2) + "-" + threads);
                List<String> args = new ArrayList<>(List.of("export", "--bootstrap",
                        bootstrap.toString(), "--blob-dir", blobDir.toString(), "--output",
                        output.toString(), "--threads", threads, format));
                if (format.equals("--raw-blob")) {
                    args.add(built.blob().blobId());
                }
                CapturedRun run = run(args.toArray(String[]::new));
                assertEquals(0, run.exitCode(), run.err());
                outputs.add(output);
            }
            assertArrayEqualsFile(outputs.get(0), outputs.get(1));
        }
    }

    @Test
    void exportWithThreadsNamesFlippedChunk() throws IOException {
        Chunk chunk = BootstrapReader.read(bootstrap).root()
                .child("dir".getBytes(StandardCharsets.US_ASCII))
                .child("nested".getBytes(StandardCharsets.US_ASCII)).inode().chunks().getFirst();
        flip(blobFile(), chunk.compressedOffset() + 1);
        Path output = work.resolve("flipped.disk");

        CapturedRun run = run("export", "--block", "--bootstrap", bootstrap.toString(),
                "--blob-dir", blobDir.toString(), "--output", output.toString(), "--threads",
                "4");

        assertEquals(1, run.exitCode());
        assertTrue(run.err().contains(built.blob().blobId()), run.err());
        assertFalse(Files.exists(output));
    }

    @Test
    void exportVerityPassesVeritysetup() throws IOException {
        Path output = work.resolve("verity.disk");

        CapturedRun run = run("export", "--block", "--verity", "--bootstrap", bootstrap.toString(),
                "--blob-dir", blobDir.toString(), "--output", output.toString());

        assertEquals(0, run.exitCode(), run.err());
        String prefix = "dm-verity options: ";
        String line = run.out().lines().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError(run.out()));
        List<String> options = new ArrayList<>(List.of(line.substring(prefix.length())
                .replace("-s \"\"", "-s EMPTY").split(" ")));
        String root = options.removeLast();
        options.replaceAll(option -> option.equals("EMPTY") ? "" : option);
        List<String> verify = new ArrayList<>(List.of("veritysetup", "verify"));
        verify.addAll(options);
        verify.addAll(List.of(output.toString(), output.toString(), root));
        assertEquals(0, Commands.runAllowingFailure(verify, Duration.ofSeconds(60),
                new byte[0]).exitCode(), String.join(" ", verify));
    }

    @Test
    void exportVerityNeedsBlock() {
        CapturedRun run = run("export", "--raw-blob", built.blob().blobId(), "--verity",
                "--bootstrap", bootstrap.toString(), "--blob-dir", blobDir.toString());

        assertEquals(2, run.exitCode(), run.err());
        assertTrue(run.err().contains("--verity needs --block"), run.err());
    }

    @Test
    void exportThreadsOutsideRangeAreUsageErrors() {
        for (String threads : new String[] {"0", "33"}) {
            CapturedRun run = run("export", "--block", "--bootstrap", bootstrap.toString(),
                    "--blob-dir", blobDir.toString(), "--threads", threads);
            assertEquals(2, run.exitCode(), run.err());
            assertTrue(run.err().contains("--threads " + threads + " is outside 1 to 32"),
                    run.err());
        }
    }

    /**
     * Adds 2 MiB of random bytes to the source, which neither compress nor fit on a 1 MiB
     * file system, and builds the image into the blob directory.
     */
    private Path buildWithRandomFile() throws IOException {
        byte[] random = new byte[2 << 20];
        new java.util.Random(7).nextBytes(random);
        Files.write(source.resolve("random.bin"), random);
        Path boot = work.resolve("random.boot");
        new ImageBuilder(BuildOptions.defaults()).buildDirectory(source, boot,
                ImageBuilder.BlobTarget.inDirectory(blobDir));
        return boot;
    }

    private Path blobFile() {
        return blobDir.resolve(built.blob().blobId());
    }

    private static void assertArrayEqualsFile(Path expected, Path actual) throws IOException {
        assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(actual),
                actual + " differs from " + expected);
    }

    private static void flip(Path file, long offset) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, offset);
            one.put(0, (byte) ~one.get(0));
            channel.write(one.rewind(), offset);
        }
    }

    private static CapturedRun run(String... args) {
        return CapturedRun.nydusImage(args);
    }
}
