package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sparse files archived by GNU tar in the old GNU format and the PAX formats 0.0, 0.1 and 1.0,
 * and by bsdtar: content with zeros in the holes, and data segments that match the blocks that
 * were written.
 */
class SparseFilesTest {

    private static final int BLOCK = 4096;
    private static final long GIB = 1L << 30;

    /** Files and the 4 KiB blocks written into them; the rest of each file is a hole. */
    private static final Map<String, long[]> WRITTEN_BLOCKS = Map.of(
            "ends_with_data", new long[] {0, 1, 5, 100, 2559},
            "ends_with_hole", new long[] {3, 7},
            "many_segments", everyOtherBlock(31),
            "all_hole", new long[] {});

    /** The logical sizes: 10 MiB, except where listed. */
    private static final Map<String, Long> SIZES = Map.of(
            "many_segments", 1L << 20,
            "all_hole", 5L << 20);

    @TempDir
    static Path work;

    private static Path tree;
    private static Map<Bytes, FileTruth> truth;

    @BeforeAll
    static void makeSparseFiles() throws IOException {
        tree = Files.createDirectory(work.resolve("tree"));
        StringBuilder script = new StringBuilder("cd \"$1\"\n");
        for (var file : WRITTEN_BLOCKS.entrySet()) {
            long size = SIZES.getOrDefault(file.getKey(), 10L << 20);
            script.append("truncate -s ").append(size).append(' ').append(file.getKey())
                    .append('\n');
            for (long block : file.getValue()) {
                script.append("dd if=/dev/urandom of=").append(file.getKey())
                        .append(" bs=4096 count=1 conv=notrunc status=none seek=").append(block)
                        .append('\n');
            }
        }
        Shell.run(script.toString(), tree.toString());
        truth = FileTruth.readTree(tree);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gnu", "0.0", "0.1", "1.0", "bsdtar"})
    void sparseContentAndSegments(String variant) throws IOException {
        Path tarball = archive(tree, variant, ".");

        List<ArchiveChecks.ReadEntry> entries = ArchiveChecks.readAll(tarball);

        ArchiveChecks.assertMatches(entries, truth,
                variant.equals("gnu") ? ArchiveChecks.Expect.PLAIN : ArchiveChecks.Expect.NANOS);
        for (ArchiveChecks.ReadEntry read : entries) {
            TarEntry entry = read.entry();
            String name = TarPaths.join(TarPaths.normalize(entry.name())).toString();
            if (WRITTEN_BLOCKS.containsKey(name)) {
                assertEquals(expectedSegments(WRITTEN_BLOCKS.get(name), entry.size()),
                        entry.dataSegments(), variant + " " + name + ": data segments");
                assertTrue(entry.hasHoles(), variant + " " + name + ": has holes");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gnu", "0.0", "0.1", "1.0"})
    void archiveUsesTheVariant(String variant) throws IOException {
        String marker = switch (variant) {
            case "0.0" -> "GNU.sparse.offset=";
            case "0.1" -> "GNU.sparse.map=";
            case "1.0" -> "GNU.sparse.major=1";
            default -> null;
        };

        byte[] archive = Files.readAllBytes(archive(tree, variant, "./many_segments"));

        if (marker == null) {
            assertEquals('S', archive[156], "old GNU sparse typeflag");
            assertEquals(1, archive[482], "old GNU header announces an extension block");
        } else {
            assertTrue(new String(archive, StandardCharsets.ISO_8859_1).contains(marker),
                    "archive contains " + marker);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gnu", "0.0", "0.1", "1.0", "bsdtar"})
    void fileOverEightGibSkipsHoles(String variant) throws IOException {
        Path hugeTree = work.resolve("huge-" + variant);
        Files.createDirectory(hugeTree);
        Shell.run("""
                cd "$1"
                truncate -s 9G huge
                dd if=/dev/urandom of=huge bs=4096 count=1 conv=notrunc status=none
                dd if=/dev/urandom of=huge bs=4096 count=1 conv=notrunc status=none seek=2097152
                """, hugeTree.toString());
        Path tarball = archive(hugeTree, variant, "./huge");

        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball))) {
            TarEntry entry = reader.next();
            assertEquals(9 * GIB, entry.size());
            assertEquals(List.of(new SparseSegment(0, BLOCK), new SparseSegment(8 * GIB, BLOCK)),
                    entry.dataSegments());
            assertNull(reader.next(), "one entry only");
        }
        assertSegmentBytes(tarball, hugeTree.resolve("huge"));
    }

    /** Reads each data segment of the first entry after skipping to it, and compares. */
    private static void assertSegmentBytes(Path tarball, Path source) throws IOException {
        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball));
                RandomAccessFile file = new RandomAccessFile(source.toFile(), "r")) {
            TarEntry entry = reader.next();
            InputStream content = reader.content();
            long position = 0;
            for (SparseSegment segment : entry.dataSegments()) {
                long hole = segment.offset() - position;
                assertEquals(hole, content.skip(hole), "hole before " + segment.offset());
                byte[] actual = content.readNBytes((int) segment.length());
                byte[] expected = new byte[(int) segment.length()];
                file.seek(segment.offset());
                file.readFully(expected);
                assertArrayEquals(expected, actual, "segment at " + segment.offset());
                position = segment.end();
            }
            byte[] tail = content.readNBytes(BLOCK);
            assertArrayEquals(new byte[BLOCK], tail, "hole after the last segment");
            assertEquals(entry.size() - position - BLOCK, content.skip(Long.MAX_VALUE));
            assertEquals(-1, content.read());
        }
    }

    private static Path archive(Path source, String variant, String member) {
        Path tarball = source.resolveSibling(source.getFileName() + "-" + variant
                + member.replace("./", "-").replace(".", "") + ".tar");
        String command = switch (variant) {
            case "gnu" -> "tar --format=gnu --sparse";
            case "bsdtar" -> "bsdtar --format=pax";
            default -> "tar --format=pax --sparse --sparse-version=" + variant;
        };
        Shell.run(command + " -cf \"$1\" -C \"$2\" \"$3\"", tarball.toString(), source.toString(),
                member);
        return tarball;
    }

    private static List<SparseSegment> expectedSegments(long[] blocks, long size) {
        List<SparseSegment> segments = new ArrayList<>();
        for (long block : blocks) {
            long offset = block * BLOCK;
            long length = Math.min(BLOCK, size - offset);
            if (!segments.isEmpty() && segments.getLast().end() == offset) {
                SparseSegment last = segments.removeLast();
                segments.add(new SparseSegment(last.offset(), last.length() + length));
            } else {
                segments.add(new SparseSegment(offset, length));
            }
        }
        return segments;
    }

    private static long[] everyOtherBlock(int count) {
        long[] blocks = new long[count];
        for (int i = 0; i < count; i++) {
            blocks[i] = 2L * i;
        }
        return blocks;
    }
}
