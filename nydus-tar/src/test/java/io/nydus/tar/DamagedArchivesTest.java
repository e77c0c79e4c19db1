package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Truncated and corrupted archives: each must either read or fail with a {@link
 * TarFormatException} that has a message, and never with an unchecked exception, a hang or a huge
 * allocation. A truncated archive must never read as a shorter valid one.
 */
// The timeout only catches a hang: every test here takes seconds.
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class DamagedArchivesTest {

    /** Archives of one tree: how each is made, by name. */
    private static final String[] MAKERS = {
        "pax-sparse1.0=tar --format=pax --xattrs --xattrs-include=* --acls --sparse "
                + "--sparse-version=1.0",
        "pax-sparse0.1=tar --format=pax --sparse --sparse-version=0.1",
        "gnu-sparse=tar --format=gnu --sparse",
        "bsdtar=bsdtar --format=pax --xattrs --acls"
    };

    @TempDir
    static Path work;

    private static Path tree;

    @BeforeAll
    static void makeTree() throws IOException {
        tree = Files.createDirectory(work.resolve("tree"));
        SourceTrees.pax(tree);
        Shell.run("""
                cd "$1"
                rm random.bin
                truncate -s 1M sparse
                for block in 1 3 5 7 9 11 13 15 17 19 21 23 25 27; do
                  printf 'data %s' $block | dd of=sparse bs=4096 seek=$block conv=notrunc \\
                    status=none
                done
                """, tree.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"pax-sparse1.0", "pax-sparse0.1", "gnu-sparse", "bsdtar"})
    void truncatedPlainArchive(String maker) throws IOException {
        byte[] archive = archive(maker, "");
        List<ArchiveChecks.ReadEntry> complete = readAll(archive);
        int checked = 0;

        for (int block = 0; block * 512 < archive.length; block++) {
            for (int delta : new int[] {0, 1, 100, 511}) {
                int cut = block * 512 + delta;
                // A cut at 0 leaves an empty stream, which is an empty archive.
                if (cut > 0 && cut < archive.length) {
                    assertTruncationHandled(Arrays.copyOf(archive, cut), complete, maker, cut);
                    checked++;
                }
            }
        }

        assertTrue(checked > 100, "cut points checked: " + checked);
    }

    @ParameterizedTest
    @ValueSource(strings = {"--gzip", "--zstd"})
    void truncatedCompressedArchive(String compression) throws IOException {
        byte[] archive = archive("pax-sparse1.0", compression);
        Random random = new Random(7);

        for (int i = 0; i < 400; i++) {
            // Cuts start at 1 byte: an empty stream is an empty archive.
            int cut = i < 64 ? archive.length - 1 - i : 1 + random.nextInt(archive.length - 1);
            byte[] truncated = Arrays.copyOf(archive, cut);

            TarFormatException error = readExpectingError(truncated, compression + " cut " + cut);

            assertNotNull(error, compression + " cut at " + cut + " of " + archive.length
                    + " read without error");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"pax-sparse1.0", "pax-sparse0.1", "gnu-sparse", "bsdtar"})
    void corruptedHeaders(String maker) throws IOException {
        byte[] archive = archive(maker, "");
        List<Integer> blocks = headerAndMapBlocks(archive);
        Random random = new Random(maker.hashCode());
        int failures = 0;

        for (int i = 0; i < 1500; i++) {
            byte[] damaged = archive.clone();
            int block = blocks.get(random.nextInt(blocks.size()));
            int flips = 1 + random.nextInt(3);
            for (int f = 0; f < flips; f++) {
                int position = block + random.nextInt(512);
                damaged[position] = random.nextBoolean()
                        ? (byte) (damaged[position] ^ (1 << random.nextInt(8)))
                        : (byte) random.nextInt(256);
            }
            // Half the time the checksum is made right again, so the damage reaches the parser.
            if (random.nextBoolean() && isHeader(archive, block)) {
                fixChecksum(damaged, block);
            }
            if (readExpectingError(damaged, maker + " iteration " + i) != null) {
                failures++;
            }
        }

        assertTrue(failures > 0, "no damage was detected");
    }

    @ParameterizedTest
    @ValueSource(strings = {"--gzip", "--zstd"})
    void corruptedCompressedArchive(String compression) throws IOException {
        byte[] archive = archive("pax-sparse1.0", compression);
        Random random = new Random(compression.hashCode());
        int failures = 0;

        for (int i = 0; i < 300; i++) {
            byte[] damaged = archive.clone();
            int position = random.nextInt(damaged.length);
            damaged[position] = (byte) (damaged[position] ^ (1 + random.nextInt(255)));
            if (readExpectingError(damaged, compression + " flip at " + position) != null) {
                failures++;
            }
        }

        // Flips in a gzip header's MTIME, XFL and OS bytes change nothing that is checked.
        assertTrue(failures > 280, failures + " of 300 flips were detected");
    }

    private static void assertTruncationHandled(byte[] truncated,
            List<ArchiveChecks.ReadEntry> complete, String maker, int cut) {
        try {
            List<ArchiveChecks.ReadEntry> entries = readAll(truncated);
            assertEquals(complete, entries, maker + " cut at " + cut
                    + " read as a different archive");
        } catch (TarFormatException e) {
            assertTrue(e.getMessage().startsWith("truncated tar stream at offset 0x"),
                    maker + " cut at " + cut + ": " + e.getMessage());
            assertTrue(e.offset() <= cut, maker + " cut at " + cut + ": offset " + e.offset());
        } catch (IOException | RuntimeException e) {
            fail(maker + " cut at " + cut + " threw " + e, e);
        }
    }

    /** Reads everything; returns the format error, or null if the archive read completely. */
    private static TarFormatException readExpectingError(byte[] archive, String description) {
        try {
            readAll(archive);
            return null;
        } catch (TarFormatException e) {
            assertFalse(e.getMessage() == null || e.getMessage().isBlank(),
                    description + ": no message");
            return e;
        } catch (IOException | RuntimeException e) {
            return fail(description + " threw " + e, e);
        }
    }

    private static List<ArchiveChecks.ReadEntry> readAll(byte[] archive) throws IOException {
        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(archive))) {
            return ArchiveChecks.readAll(reader);
        }
    }

    private static byte[] archive(String maker, String compression) throws IOException {
        String command = null;
        for (String entry : MAKERS) {
            if (entry.startsWith(maker + "=")) {
                command = entry.substring(maker.length() + 1);
            }
        }
        Path tarball = work.resolve(maker + compression + ".tar");
        Shell.run(command + " " + compression + " -cf \"$1\" -C \"$2\" .", tarball.toString(),
                tree.toString());
        return Files.readAllBytes(tarball);
    }

    /**
     * Returns the offsets of header blocks and of the blocks right after them, which hold PAX
     * records, long names, sparse map extensions and PAX 1.0 sparse maps.
     */
    private static List<Integer> headerAndMapBlocks(byte[] archive) {
        List<Integer> blocks = new ArrayList<>();
        for (int offset = 0; offset + 512 <= archive.length; offset += 512) {
            if (isHeader(archive, offset)) {
                blocks.add(offset);
                if (offset + 1024 <= archive.length) {
                    blocks.add(offset + 512);
                }
            }
        }
        assertTrue(blocks.size() > 20, "header blocks found: " + blocks.size());
        return blocks;
    }

    private static boolean isHeader(byte[] archive, int offset) {
        String field = new String(archive, offset + 148, 6, StandardCharsets.US_ASCII);
        if (!field.matches("[0-7]{6}")) {
            return false;
        }
        return Long.parseLong(field, 8) == checksum(archive, offset);
    }

    private static void fixChecksum(byte[] archive, int offset) {
        String digits = String.format("%06o\0 ", checksum(archive, offset));
        byte[] field = digits.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(field, 0, archive, offset + 148, 8);
    }

    private static long checksum(byte[] archive, int offset) {
        long sum = 0;
        for (int i = 0; i < 512; i++) {
            sum += i >= 148 && i < 156 ? ' ' : archive[offset + i] & 0xff;
        }
        return sum;
    }
}
