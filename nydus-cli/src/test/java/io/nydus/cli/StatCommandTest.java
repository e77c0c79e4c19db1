package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * `nydus-image stat` on images built from generated trees. Every expected figure is computed
 * here from the trees' contents. The chunks are the trees' 4 KiB slices, stored uncompressed,
 * so that compressed sizes are known too.
 */
class StatCommandTest {
    private static final int CHUNK_SIZE = 4096;
    private static final List<String> TOP_FIELDS = List.of("dedup_enabled", "target_enabled",
            "base_image", "target_image");
    private static final List<String> IMAGE_FIELDS = List.of("dirs", "files", "symlinks",
            "chunks", "file_size", "comp_size", "uncomp_size", "padding_size", "chunk_sizes",
            "file_sizes", "dedup_chunks", "dedup_comp_size", "dedup_uncomp_size", "own_chunks",
            "own_comp_size", "own_uncomp_size", "ref_chunks", "ref_comp_size",
            "ref_uncomp_size");
    /** The text labels of the figures, with the JSON field each one prints. */
    private static final Map<String, String> TEXT_LABELS = textLabels();
    private static final Pattern FIGURE = Pattern.compile("([A-Z][A-Za-z ]*):\\s+(\\d+)");
    private static final Pattern HISTOGRAM_ROW = Pattern.compile("(\\d+):\\t\\t\\t(\\d+)");

    private static TempDir work;
    private static SourceTree treeA;
    private static SourceTree treeB;
    /** Images a and b with their blobs, and a copy of a's bootstrap named a.boot. */
    private static Path images;
    private static Path bootstrapA;
    private static Path bootstrapB;
    private static BuildResult builtA;
    private static Path bootstrapBSha256;
    /** The blob of image a with its bootstrap inlined, alone in its directory. */
    private static Path inlinedBlob;

    @BeforeAll
    static void buildImages() throws IOException {
        work = TempDirs.create("stat-command-");
        byte[] x = random(1, 10_000);
        treeA = new SourceTree()
                .file("x", x)
                .file("shared", random(2, 8192))
                .file("twice", repeat(random(3, CHUNK_SIZE), 2))
                .file("empty", new byte[0])
                .file("sub/deeper/small", random(4, 100))
                .hardlink("sub/hard", "x")
                .symlink("sub/link", "../x");
        treeB = new SourceTree()
                .file("shared", random(2, 8192))
                .file("y", random(5, 5000))
                .file("tail", concat(Arrays.copyOf(x, CHUNK_SIZE), random(6, 50)))
                .symlink("link", "y");
        images = Files.createDirectories(work.resolve("images"));
        bootstrapA = images.resolve("a");
        bootstrapB = images.resolve("b");
        builtA = build(treeA, "tree-a", bootstrapA, images, DigestAlgorithm.BLAKE3, false);
        build(treeB, "tree-b", bootstrapB, images, DigestAlgorithm.BLAKE3, false);
        Files.copy(bootstrapA, images.resolve("a.boot"));
        bootstrapBSha256 = work.resolve("sha256/b");
        build(treeB, "tree-b-sha256", bootstrapBSha256, bootstrapBSha256.getParent(),
                DigestAlgorithm.SHA256, false);
        Path inlined = work.resolve("inlined");
        BuildResult inlinedA = build(treeA, "tree-a-inlined", work.resolve("inlined-a.boot"),
                inlined, DigestAlgorithm.BLAKE3, true);
        inlinedBlob = inlinedA.blobFile();
    }

    @AfterAll
    static void removeWork() throws IOException {
        work.close();
    }

    @Test
    void bootstrapFiguresMatchTree() throws IOException {
        Figures a = treeA.figures();

        JsonNode json = runJson("-B", bootstrapA.toString());

        // Hand-counted from the tree, to check the test's own counting.
        assertEquals(3, a.directories());
        assertEquals(6, a.files());
        assertEquals(8, a.chunks());
        assertEquals(6284, a.padding());
        assertEquals(7, a.distinct().chunks());
        assertEquals(22_388, a.distinct().size());

        assertEquals(false, json.get("dedup_enabled").asBoolean());
        assertEquals(false, json.get("target_enabled").asBoolean());
        assertImage(json.get("base_image"), a, ChunkGroup.EMPTY, a.distinct(), ChunkGroup.EMPTY);
        assertImage(json.get("target_image"), Figures.NONE, ChunkGroup.EMPTY, ChunkGroup.EMPTY,
                ChunkGroup.EMPTY);
    }

    @Test
    void textPrintsJsonFigures() throws IOException {
        CapturedRun text = stat("-B", bootstrapA.toString(), "-T", bootstrapB.toString());
        JsonNode json = runJson("-B", bootstrapA.toString(), "-T", bootstrapB.toString());

        assertEquals(0, text.exitCode(), text.err());
        assertTrue(text.out().startsWith("Target Image Statistics:\n"), text.out());
        int base = text.out().indexOf("\n\nBase Image Statistics:\n");
        assertTrue(base > 0, text.out());
        assertFalse(text.out().contains("Chunk Deduplication Statistics:"), text.out());
        assertSectionMatches(text.out().substring(0, base), json.get("target_image"));
        assertSectionMatches(text.out().substring(base), json.get("base_image"));
    }

    @Test
    void jsonHasUpstreamFieldNames() throws IOException {
        JsonNode json = runJson("-B", bootstrapA.toString());

        assertEquals(TOP_FIELDS, fieldNames(json));
        for (String image : List.of("base_image", "target_image")) {
            assertEquals(IMAGE_FIELDS, fieldNames(json.get(image)), image);
            assertEquals(9, json.get(image).get("chunk_sizes").size(), image);
            assertEquals(45, json.get(image).get("file_sizes").size(), image);
        }
    }

    @Test
    void directoryDeduplicatesAcrossImages() throws IOException {
        Figures a = treeA.figures();
        Figures b = treeB.figures();
        ChunkGroup union = a.distinct().union(b.distinct());

        JsonNode json = runJson("-D", images.toString());

        assertEquals(true, json.get("dedup_enabled").asBoolean());
        assertEquals(false, json.get("target_enabled").asBoolean());
        assertEquals(3, a.distinct().intersection(b.distinct()).chunks());
        assertImage(json.get("base_image"), a.plus(b), union, a.distinct().plus(b.distinct()),
                ChunkGroup.EMPTY);
    }

    @Test
    void directoryPrintsDedupTable() {
        List<ChunkGroup> distinct = List.of(treeA.figures().distinct(),
                treeB.figures().distinct());
        ChunkGroup union = distinct.get(0).union(distinct.get(1));
        long rawChunks = distinct.get(0).chunks() + distinct.get(1).chunks();

        CapturedRun run = stat("-D", images.toString());

        assertEquals(0, run.exitCode(), run.err());
        List<long[]> rows = dedupRows(run.out());
        assertEquals(ImageStat.MAX_THRESHOLD, rows.size(), run.out());
        for (int threshold = 1; threshold <= ImageStat.MAX_THRESHOLD; threshold++) {
            assertEquals(toList(expectedDedupRow(threshold, distinct)),
                    toList(rows.get(threshold - 1)), "threshold " + threshold);
        }
        // At threshold 1 every chunk is stored once. From 3 on no chunk is shared, because
        // there are only two images.
        assertEquals(union.chunks(), rows.get(0)[2]);
        assertEquals(rawChunks, rows.get(2)[2]);
    }

    @Test
    void targetSplitsOwnedAndReferencedChunks() throws IOException {
        Figures a = treeA.figures();
        Figures b = treeB.figures();
        ChunkGroup referenced = b.distinct().intersection(a.distinct());

        JsonNode json = runJson("-B", bootstrapA.toString(), "-T", bootstrapB.toString());

        assertEquals(true, json.get("target_enabled").asBoolean());
        assertEquals(3, referenced.chunks());
        assertImage(json.get("target_image"), b, ChunkGroup.EMPTY,
                b.distinct().minus(referenced), referenced);
        assertImage(json.get("base_image"), a, ChunkGroup.EMPTY, a.distinct(), ChunkGroup.EMPTY);
    }

    @Test
    void directoryScanLeavesOutTarget() throws IOException {
        Figures a = treeA.figures();
        Figures b = treeB.figures();
        ChunkGroup referenced = b.distinct().intersection(a.distinct());

        JsonNode json = runJson("-D", images.toString(), "-T", bootstrapB.toString());

        assertImage(json.get("base_image"), a, a.distinct(), a.distinct(), ChunkGroup.EMPTY);
        assertImage(json.get("target_image"), b, ChunkGroup.EMPTY,
                b.distinct().minus(referenced), referenced);
    }

    @Test
    void digesterLeavesOtherImagesOutOfDictionary() throws IOException {
        Path mixed = Files.createDirectories(work.resolve("mixed-digesters"));
        Files.copy(bootstrapA, mixed.resolve("a"));
        Files.copy(bootstrapBSha256, mixed.resolve("b"));
        Figures a = treeA.figures();
        Figures b = treeB.figures();
        Figures both = a.plus(b);
        ChunkGroup owned = a.distinct().plus(b.distinct());

        CapturedRun blake3 = stat("-D", mixed.toString());
        JsonNode blake3Json = runJson("-D", mixed.toString());
        JsonNode sha256Json = runJson("-D", mixed.toString(), "--digester", "sha256");

        assertEquals(0, blake3.exitCode(), blake3.err());
        assertTrue(blake3.err().contains(mixed.resolve("b") + ": chunk digests are sha256, not"
                + " the --digester blake3"), blake3.err());
        assertImage(blake3Json.get("base_image"), both, a.distinct(), owned, ChunkGroup.EMPTY);
        assertImage(sha256Json.get("base_image"), both, b.distinct(), owned, ChunkGroup.EMPTY);
    }

    @Test
    void inlinedBootstrapCountsAsImage() throws IOException {
        JsonNode fromBootstrap = runJson("-B", bootstrapA.toString());

        JsonNode fromBlob = runJson("-B", inlinedBlob.toString());
        JsonNode fromDirectory = runJson("-D", inlinedBlob.getParent().toString());

        assertEquals(fromBootstrap, fromBlob);
        assertImage(fromDirectory.get("base_image"), treeA.figures(),
                treeA.figures().distinct(), treeA.figures().distinct(), ChunkGroup.EMPTY);
    }

    @Test
    void configBackendServesInlinedBootstrap() throws IOException {
        Path named = Files.createDirectories(work.resolve("named"))
                .resolve(inlinedBlob.getFileName().toString());
        Files.write(named, new byte[0]);
        String dir = inlinedBlob.getParent().toString();
        Map<String, String> configs = Map.of(
                "v2.json", "{\"version\": 2, \"backend\": {\"type\": \"localfs\", \"localfs\":"
                        + " {\"dir\": \"" + dir + "\"}}}",
                "v2.toml", "version = 2\n[backend]\ntype = \"localfs\"\n"
                        + "[backend.localfs]\ndir = \"" + dir + "\"\n",
                "v1.json", "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\":"
                        + " {\"dir\": \"" + dir + "\"}}}}");
        JsonNode expected = runJson("-B", bootstrapA.toString());

        for (Map.Entry<String, String> config : configs.entrySet()) {
            Path file = Files.writeString(work.resolve(config.getKey()), config.getValue());

            JsonNode json = runJson("-B", named.toString(), "-C", file.toString());

            assertEquals(expected, json, config.getKey());
        }
    }

    @Test
    void configBackendServesDirectoryEntries() throws IOException {
        Path dir = Files.createDirectories(work.resolve("named-by-blob-id"));
        Files.write(dir.resolve(inlinedBlob.getFileName().toString()), new byte[0]);
        Files.writeString(dir.resolve("README"), "blobs are in the backend\n");
        Path config = Files.writeString(work.resolve("localfs.json"), "{\"version\": 2,"
                + " \"backend\": {\"type\": \"localfs\", \"localfs\": {\"dir\": \""
                + inlinedBlob.getParent() + "\"}}}");
        Figures a = treeA.figures();

        JsonNode json = runJson("-D", dir.toString(), "-C", config.toString());

        assertImage(json.get("base_image"), a, a.distinct(), a.distinct(), ChunkGroup.EMPTY);
    }

    @Test
    void configBackendWithoutBlobNamesIt() throws IOException {
        Path dir = Files.createDirectories(work.resolve("unknown-blobs"));
        Path unknown = Files.write(dir.resolve("0".repeat(64)), new byte[0]);
        Path notAnId = Files.write(dir.resolve("notes"), new byte[0]);
        Path backendDir = Files.createDirectories(work.resolve("empty-backend"));
        Path config = Files.writeString(work.resolve("empty-localfs.json"), "{\"version\": 2,"
                + " \"backend\": {\"type\": \"localfs\", \"localfs\": {\"dir\": \""
                + backendDir + "\"}}}");

        CapturedRun missing = stat("-B", unknown.toString(), "-C", config.toString());
        CapturedRun unnamed = stat("-B", notAnId.toString(), "-C", config.toString());

        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().startsWith("error: " + unknown + " is not a bootstrap, and the"
                + " -C/--config backend has no blob " + "0".repeat(64) + " (blob not found in"),
                missing.err());
        assertEquals(1, unnamed.exitCode());
        assertTrue(unnamed.err().startsWith("error: " + notAnId + " is not a bootstrap, and its"
                + " name does not start with a blob id"), unnamed.err());
    }

    @Test
    void configWithOtherBackendIsUsageError() throws IOException {
        Path oss = Files.writeString(work.resolve("oss.json"), "{\"version\": 2, \"backend\":"
                + " {\"type\": \"oss\", \"oss\": {\"bucket_name\": \"images\"}}}");

        CapturedRun run = stat("-B", bootstrapA.toString(), "-C", oss.toString());

        assertEquals(2, run.exitCode(), run.err());
        assertTrue(run.err().startsWith("error: configuration " + oss + ": backend type 'oss'"
                + " is not supported"), run.err());
        assertTrue(run.err().contains("serves only to read a bootstrap inlined in a data blob"),
                run.err());
    }

    @Test
    void invalidConfigIsUsageError() throws IOException {
        Path broken = Files.writeString(work.resolve("broken.json"), "{\"version\": 2,");

        CapturedRun run = stat("-B", bootstrapA.toString(), "-C", broken.toString());

        assertEquals(2, run.exitCode(), run.err());
        assertTrue(run.err().startsWith("error: configuration " + broken + " is not valid JSON"),
                run.err());
    }

    @Test
    void missingBootstrapNamesFile() {
        Path missing = work.resolve("missing");

        CapturedRun run = stat("-B", missing.toString());

        assertEquals(1, run.exitCode());
        assertEquals("error: no such file: " + missing + "\n", run.err());
    }

    @Test
    void directoryAsBootstrapNamesIt() {
        CapturedRun run = stat("-B", images.toString());

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: " + images + " is a directory"), run.err());
    }

    @Test
    void textFileIsNotImage() throws IOException {
        Path text = Files.writeString(work.resolve("notes.txt"), "not an image\n");

        CapturedRun run = stat("-B", text.toString());

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: " + text + " is neither a RAFS bootstrap"),
                run.err());
    }

    @Test
    void blobWithoutBootstrapIsNotImage() {
        Path blob = builtA.blobFile();

        CapturedRun run = stat("-B", blob.toString());

        assertEquals(1, run.exitCode());
        assertEquals("error: " + blob + " is a data blob without an inlined bootstrap, not a"
                + " RAFS bootstrap\n", run.err());
    }

    @Test
    void truncatedBootstrapNamesFile() throws IOException {
        Path truncated = Files.write(work.resolve("truncated"),
                Arrays.copyOf(Files.readAllBytes(bootstrapA), 2000));

        CapturedRun run = stat("-B", truncated.toString());

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: " + truncated), run.err());
    }

    @Test
    void rafsV5BootstrapIsRejected() throws IOException {
        Path v5 = writeRafsV5(work.resolve("v5"));

        CapturedRun run = stat("-B", v5.toString());

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: " + v5), run.err());
        assertTrue(run.err().contains("RAFS v5 bootstraps (magic 0x52414653, version 0x500) are"
                + " not supported"), run.err());
    }

    @Test
    void rafsV5InDirectoryIsRejected() throws IOException {
        Path dir = Files.createDirectories(work.resolve("with-v5"));
        Files.copy(bootstrapA, dir.resolve("a"));
        Path v5 = writeRafsV5(dir.resolve("old"));

        CapturedRun run = stat("-D", dir.toString());

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: " + v5), run.err());
        assertTrue(run.err().contains("RAFS v5"), run.err());
    }

    @Test
    void corruptBootstrapInDirectoryNamesEntry() throws IOException {
        Path dir = Files.createDirectories(work.resolve("with-corrupt"));
        Files.copy(bootstrapA, dir.resolve("a"));
        Path corrupt = Files.write(dir.resolve("corrupt"),
                Arrays.copyOf(Files.readAllBytes(bootstrapB), 2000));

        CapturedRun run = stat("-D", dir.toString());

        assertEquals(1, run.exitCode());
        assertTrue(run.err().startsWith("error: " + corrupt), run.err());
    }

    @Test
    void brokenLinkInDirectoryNamesEntry() throws IOException {
        Path dir = Files.createDirectories(work.resolve("with-broken-link"));
        Files.copy(bootstrapA, dir.resolve("a"));
        Path link = Files.createSymbolicLink(dir.resolve("gone"), work.resolve("nowhere"));

        CapturedRun run = stat("-D", dir.toString());

        assertEquals(1, run.exitCode());
        assertEquals("error: no such file: " + link + ": a symbolic link to "
                + work.resolve("nowhere") + ", which does not exist\n", run.err());
    }

    @Test
    void directoryWithoutImageNamesSkippedFiles() throws IOException {
        Path dir = Files.createDirectories(work.resolve("no-images"));
        Files.copy(bootstrapA, dir.resolve("a.boot"));
        Files.copy(builtA.blobFile(), dir.resolve(builtA.blobFile().getFileName()));
        Files.createDirectories(dir.resolve("sub"));

        CapturedRun run = stat("-D", dir.toString());

        assertEquals(1, run.exitCode());
        assertEquals("error: directory " + dir + " contains no RAFS image (skipped 1 file"
                + " without an image, 1 name with an extension (a.boot), 1 entry of another"
                + " type than a regular file). stat -D reads only regular files whose name"
                + " has no extension, as upstream does; give a bootstrap with an extension as"
                + " -B FILE\n", run.err());
    }

    @Test
    void missingDirectoryNamesIt() {
        Path missing = work.resolve("missing-dir");

        CapturedRun run = stat("-D", missing.toString());

        assertEquals(1, run.exitCode());
        assertEquals("error: no such file: " + missing + "\n", run.err());
    }

    @Test
    void fileAsDirectoryNamesIt() {
        CapturedRun run = stat("-D", bootstrapA.toString());

        assertEquals(1, run.exitCode());
        assertEquals("error: -D/--blob-dir " + bootstrapA + " is not a directory\n", run.err());
    }

    @Test
    void badOptionsAreUsageErrors() {
        Map<List<String>, String> cases = new LinkedHashMap<>();
        cases.put(List.of(), "error: missing images: give -B/--bootstrap FILE or -D/--blob-dir");
        cases.put(List.of("-B", bootstrapA.toString(), "-D", images.toString()),
                "error: -B/--bootstrap and -D/--blob-dir exclude each other");
        cases.put(List.of("-B", bootstrapA.toString(), "--digester", "md5"),
                "error: unknown digester 'md5', expected blake3 or sha256");

        for (Map.Entry<List<String>, String> c : cases.entrySet()) {
            CapturedRun run = stat(c.getKey().toArray(String[]::new));

            assertEquals(2, run.exitCode(), c.getKey() + ": " + run.err());
            assertTrue(run.err().startsWith(c.getValue()), c.getKey() + ": " + run.err());
        }
    }

    @Test
    void helpExplainsEveryOption() {
        CapturedRun run = stat("--help");

        assertEquals(0, run.exitCode(), run.err());
        for (String option : List.of("-B, --bootstrap=FILE", "-D, --blob-dir=DIR",
                "-T, --target=FILE", "-C, --config=FILE", "--digester=ALGO",
                "-J, --output-json=FILE", "--log-level=LEVEL")) {
            assertTrue(run.out().contains(option), option + " missing from " + run.out());
        }
        assertTrue(run.out().contains("(default: blake3)"), run.out());
        assertTrue(run.out().contains("Sizes are in bytes"), run.out());
    }

    // --- Running the command ---

    private static CapturedRun stat(String... args) {
        List<String> all = new ArrayList<>(List.of("stat"));
        all.addAll(List.of(args));
        return CapturedRun.nydusImage(all.toArray(String[]::new));
    }

    /** Runs stat with {@code -J} and returns the JSON it wrote, failing if it failed. */
    private static JsonNode runJson(String... args) throws IOException {
        Path json = Files.createTempFile(work.path(), "stat-", ".json");
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("-J", json.toString()));

        CapturedRun run = stat(all.toArray(String[]::new));

        assertEquals(0, run.exitCode(), run.err());
        assertEquals("", run.out());
        return new ObjectMapper().readTree(json.toFile());
    }

    // --- Checking the figures ---

    private static void assertImage(JsonNode image, Figures figures, ChunkGroup dedup,
            ChunkGroup owned, ChunkGroup referenced) {
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("dirs", figures.directories());
        expected.put("files", figures.files());
        expected.put("symlinks", figures.symlinks());
        expected.put("chunks", figures.chunks());
        expected.put("file_size", figures.fileSize());
        // Chunks are stored uncompressed, so the compressed size is the data size.
        expected.put("comp_size", figures.fileSize());
        expected.put("uncomp_size", figures.fileSize() + figures.padding());
        expected.put("padding_size", figures.padding());
        expected.put("chunk_sizes", toList(figures.chunkCounts()));
        expected.put("file_sizes", toList(figures.fileSizeCounts()));
        expected.put("dedup_chunks", dedup.chunks());
        expected.put("dedup_comp_size", dedup.size());
        expected.put("dedup_uncomp_size", dedup.size());
        expected.put("own_chunks", owned.chunks());
        expected.put("own_comp_size", owned.size());
        expected.put("own_uncomp_size", owned.size());
        expected.put("ref_chunks", referenced.chunks());
        expected.put("ref_comp_size", referenced.size());
        expected.put("ref_uncomp_size", referenced.size());
        Map<String, Object> actual = new LinkedHashMap<>();
        for (String field : fieldNames(image)) {
            JsonNode value = image.get(field);
            actual.put(field, value.isArray() ? longs(value) : value.asLong());
        }
        assertEquals(expected, actual);
    }

    private static List<Long> longs(JsonNode array) {
        List<Long> values = new ArrayList<>();
        array.forEach(value -> values.add(value.asLong()));
        return values;
    }

    /** Checks that a text section prints each figure, and both histograms, of the JSON. */
    private static void assertSectionMatches(String section, JsonNode image) {
        Map<String, Long> figures = new TreeMap<>();
        List<Long> fileSizes = new ArrayList<>();
        List<Long> chunkSizes = new ArrayList<>();
        List<Long> histogram = null;
        for (String line : section.split("\n")) {
            if (line.startsWith("File Size Bits:")) {
                histogram = fileSizes;
            } else if (line.startsWith("Chunk Size Bits:")) {
                histogram = chunkSizes;
            }
            Matcher row = HISTOGRAM_ROW.matcher(line);
            Matcher figure = FIGURE.matcher(line);
            if (row.matches() && histogram != null) {
                histogram.add(Long.parseLong(row.group(2)));
            } else if (figure.matches()) {
                figures.put(figure.group(1), Long.parseLong(figure.group(2)));
            }
        }
        assertEquals(new TreeSet<>(TEXT_LABELS.keySet()), figures.keySet(), section);
        for (Map.Entry<String, String> label : TEXT_LABELS.entrySet()) {
            assertEquals(image.get(label.getValue()).asLong(), figures.get(label.getKey()),
                    label.getKey());
        }
        assertEquals(longs(image.get("file_sizes")), fileSizes);
        assertEquals(longs(image.get("chunk_sizes")), chunkSizes);
    }

    /** Returns the rows of the deduplication table, each value parsed (hex after 0x). */
    private static List<long[]> dedupRows(String text) {
        int table = text.indexOf("Chunk Deduplication Statistics:\n");
        assertTrue(table >= 0, text);
        List<String> lines = text.substring(table).lines().skip(2).toList();
        List<long[]> rows = new ArrayList<>();
        for (String line : lines) {
            String[] cells = line.trim().split("\\s+");
            long[] row = new long[cells.length];
            for (int i = 0; i < cells.length; i++) {
                row[i] = cells[i].startsWith("0x") ? Long.parseLong(cells[i].substring(2), 16)
                        : Long.parseLong(cells[i]);
            }
            rows.add(row);
        }
        return rows;
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static List<Long> toList(long[] values) {
        return Arrays.stream(values).boxed().toList();
    }

    private static Map<String, String> textLabels() {
        Map<String, String> labels = new TreeMap<>();
        labels.put("Directories", "dirs");
        labels.put("Files", "files");
        labels.put("Symlinks", "symlinks");
        labels.put("Chunks", "chunks");
        labels.put("File Size", "file_size");
        labels.put("Padding Size", "padding_size");
        labels.put("Uncompressed Size", "uncomp_size");
        labels.put("Compressed Size", "comp_size");
        labels.put("Raw Content Size", "file_size");
        labels.put("Comp Content Size", "comp_size");
        labels.put("Raw Chunk Count", "chunks");
        labels.put("Dedup Comp Size", "dedup_comp_size");
        labels.put("Dedup Uncomp Size", "dedup_uncomp_size");
        labels.put("Dedup Chunk Count", "dedup_chunks");
        labels.put("Owned Comp Size", "own_comp_size");
        labels.put("Owned Uncomp Size", "own_uncomp_size");
        labels.put("Owned Chunk Count", "own_chunks");
        labels.put("Referenced Comp Size", "ref_comp_size");
        labels.put("Referenced Uncomp Size", "ref_uncomp_size");
        labels.put("Referenced Chunk Count", "ref_chunks");
        return labels;
    }

    // --- Building the images ---

    private static BuildResult build(SourceTree tree, String sourceName, Path bootstrap,
            Path blobDir, DigestAlgorithm digester, boolean inlineBootstrap) throws IOException {
        Path source = tree.write(work.resolve(sourceName));
        Files.createDirectories(bootstrap.getParent());
        BuildOptions options = new BuildOptions(Compressor.NONE, digester, CHUNK_SIZE,
                WhiteoutSpec.OCI, 1, inlineBootstrap, true);
        return new ImageBuilder(options).buildDirectory(source, bootstrap,
                ImageBuilder.BlobTarget.inDirectory(blobDir));
    }

    private static Path writeRafsV5(Path file) throws IOException {
        ByteBuffer superblock = ByteBuffer.allocate(8192).order(ByteOrder.LITTLE_ENDIAN);
        superblock.putInt(0, 0x52414653).putInt(4, 0x500);
        return Files.write(file, superblock.array());
    }

    private static byte[] random(long seed, int length) {
        byte[] bytes = new byte[length];
        new SplittableRandom(seed).nextBytes(bytes);
        return bytes;
    }

    private static byte[] repeat(byte[] block, int times) {
        byte[] bytes = new byte[block.length * times];
        for (int i = 0; i < times; i++) {
            System.arraycopy(block, 0, bytes, i * block.length, block.length);
        }
        return bytes;
    }

    private static byte[] concat(byte[] first, byte[] second) {
        byte[] bytes = Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, bytes, first.length, second.length);
        return bytes;
    }

    /**
     * Returns the expected table row for {@code threshold}: the chunks that at least that many
     * images share are stored once, and every other chunk once in each image that has it.
     */
    private static long[] expectedDedupRow(int threshold, List<ChunkGroup> images) {
        Map<String, Integer> imageCounts = new TreeMap<>();
        Map<String, Integer> sizes = new TreeMap<>();
        for (ChunkGroup image : images) {
            image.sizes().forEach((chunk, size) -> {
                imageCounts.merge(chunk, 1, Integer::sum);
                sizes.put(chunk, size);
            });
        }

        long rawChunks = 0;
        long contentSize = 0;
        long baseChunks = 0;
        long baseSize = 0;
        long imageChunks = 0;
        long imageSize = 0;
        for (Map.Entry<String, Integer> chunk : imageCounts.entrySet()) {
            int count = chunk.getValue();
            long size = sizes.get(chunk.getKey());
            rawChunks += count;
            contentSize += count * size;
            if (count >= threshold) {
                baseChunks++;
                baseSize += size;
            } else {
                imageChunks += count;
                imageSize += count * size;
            }
        }

        // Stored uncompressed, so each compressed size equals its uncompressed size.
        return new long[] {threshold, rawChunks, baseChunks + imageChunks, contentSize,
            baseSize, imageSize, contentSize, baseSize, imageSize};
    }

    /**
     * Distinct chunks by content, as hex, with their sizes.
     *
     * @param sizes the size of each distinct chunk by its content in hex
     */
    private record ChunkGroup(Map<String, Integer> sizes) {
        static final ChunkGroup EMPTY = new ChunkGroup(Map.of());

        ChunkGroup {
            sizes = Map.copyOf(sizes);
        }

        long chunks() {
            return sizes.size();
        }

        long size() {
            return sizes.values().stream().mapToLong(Integer::longValue).sum();
        }

        /** Returns the chunks in this group or {@code other}, each once. */
        ChunkGroup union(ChunkGroup other) {
            Map<String, Integer> all = new TreeMap<>(sizes);
            all.putAll(other.sizes);
            return new ChunkGroup(all);
        }

        ChunkGroup intersection(ChunkGroup other) {
            Map<String, Integer> both = new TreeMap<>(sizes);
            both.keySet().retainAll(other.sizes.keySet());
            return new ChunkGroup(both);
        }

        ChunkGroup minus(ChunkGroup other) {
            Map<String, Integer> rest = new TreeMap<>(sizes);
            rest.keySet().removeAll(other.sizes.keySet());
            return new ChunkGroup(rest);
        }

        /**
         * Returns a group that counts a chunk of both groups twice, as the owned chunks of two
         * images do. The keys of {@code other} get a suffix so that they stay apart.
         */
        ChunkGroup plus(ChunkGroup other) {
            Map<String, Integer> both = new TreeMap<>(sizes);
            other.sizes.forEach((chunk, size) -> both.put(chunk + "+", size));
            return new ChunkGroup(both);
        }
    }

    /** The figures of one or more trees, counted from their contents. */
    private record Figures(long directories, long files, long symlinks, long chunks,
            long fileSize, long padding, long[] fileSizeCounts, long[] chunkCounts,
            ChunkGroup distinct) {
        static final Figures NONE = new Figures(0, 0, 0, 0, 0, 0, new long[45], new long[9],
                ChunkGroup.EMPTY);

        Figures plus(Figures other) {
            long[] fileSizes = fileSizeCounts.clone();
            long[] chunkSizes = chunkCounts.clone();
            for (int i = 0; i < fileSizes.length; i++) {
                fileSizes[i] += other.fileSizeCounts[i];
            }
            for (int i = 0; i < chunkSizes.length; i++) {
                chunkSizes[i] += other.chunkCounts[i];
            }
            return new Figures(directories + other.directories, files + other.files,
                    symlinks + other.symlinks, chunks + other.chunks,
                    fileSize + other.fileSize, padding + other.padding, fileSizes, chunkSizes,
                    distinct.plus(other.distinct));
        }
    }

    /** A tree of regular files, hard links and symlinks. Directories follow from the paths. */
    private static final class SourceTree {
        private final Map<String, byte[]> files = new TreeMap<>();
        private final Map<String, String> hardlinks = new TreeMap<>();
        private final Map<String, String> symlinks = new TreeMap<>();

        SourceTree file(String path, byte[] content) {
            files.put(path, content);
            return this;
        }

        SourceTree hardlink(String path, String existing) {
            hardlinks.put(path, existing);
            return this;
        }

        SourceTree symlink(String path, String target) {
            symlinks.put(path, target);
            return this;
        }

        Path write(Path root) throws IOException {
            for (Map.Entry<String, byte[]> file : files.entrySet()) {
                Path path = root.resolve(file.getKey());
                Files.createDirectories(path.getParent());
                Files.write(path, file.getValue());
            }
            for (Map.Entry<String, String> link : hardlinks.entrySet()) {
                Path path = root.resolve(link.getKey());
                Files.createDirectories(path.getParent());
                Files.createLink(path, root.resolve(link.getValue()));
            }
            for (Map.Entry<String, String> link : symlinks.entrySet()) {
                Path path = root.resolve(link.getKey());
                Files.createDirectories(path.getParent());
                Files.createSymbolicLink(path, Path.of(link.getValue()));
            }
            return root;
        }

        Figures figures() {
            long[] fileSizeCounts = new long[45];
            long[] chunkCounts = new long[9];
            long chunks = 0;
            long fileSize = 0;
            long padding = 0;
            Map<String, Integer> distinct = new TreeMap<>();
            for (byte[] content : files.values()) {
                int length = content.length;
                fileSizeCounts[32 - Integer.numberOfLeadingZeros(length)]++;
                for (int bits = 12; bits <= 20; bits++) {
                    chunkCounts[bits - 12] += (length + (1L << bits) - 1) >> bits;
                }
                fileSize += length;
                padding += (CHUNK_SIZE - length % CHUNK_SIZE) % CHUNK_SIZE;
                for (int at = 0; at < length; at += CHUNK_SIZE) {
                    byte[] slice = Arrays.copyOfRange(content, at,
                            Math.min(length, at + CHUNK_SIZE));
                    distinct.put(HexFormat.of().formatHex(slice), slice.length);
                    chunks++;
                }
            }
            return new Figures(directories(), files.size() + hardlinks.size(),
                    symlinks.size(), chunks, fileSize, padding, fileSizeCounts, chunkCounts,
                    new ChunkGroup(distinct));
        }

        /** Counts the root and every directory that a path passes through. */
        private long directories() {
            TreeSet<String> directories = new TreeSet<>(List.of(""));
            List<String> paths = new ArrayList<>(files.keySet());
            paths.addAll(hardlinks.keySet());
            paths.addAll(symlinks.keySet());
            for (String path : paths) {
                for (int slash = path.indexOf('/'); slash > 0;
                        slash = path.indexOf('/', slash + 1)) {
                    directories.add(path.substring(0, slash));
                }
            }
            return directories.size();
        }
    }
}
