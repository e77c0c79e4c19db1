package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The upstream Nydus tar fixtures and gzip layers, read and compared with what GNU tar extracts
 * from them. The fixtures are read in place and never changed.
 */
class UpstreamFixturesTest {

    @TempDir
    Path work;

    @Test
    void allEntryTypeNames() throws IOException {
        List<String> listing = listing(fixture("nydus/tar/all-entry-type.tar"));

        assertEquals(List.of(
                "DIRECTORY tar",
                "DIRECTORY tar/dir1",
                "DIRECTORY tar/dir1/dir3",
                "FILE tar/dir1/dir3/hardlink1.txt",
                "HARDLINK tar/dir1/dir3/xfile.txt -> tar/dir1/dir3/hardlink1.txt",
                "HARDLINK tar/dir1/hardlink2.txt -> tar/dir1/dir3/hardlink1.txt",
                "DIRECTORY tar/dir2",
                "HARDLINK tar/dir2/hardlink3.txt -> tar/dir1/dir3/hardlink1.txt",
                "SYMLINK tar/dir2/symlink1.txt -> ../dir1/dir3/file1.txt"),
                listing);
    }

    @Test
    void macosNamesAndXattrs() throws IOException {
        Path tarball = fixture("nydus/tar/all-entry-type-macos.tar");
        String longName = "tar/dir1/dir3/this_is_really_a_very_long_name_to_test_tar_entry_type_"
                + "a".repeat(196) + ".txt";

        List<ArchiveChecks.ReadEntry> entries = ArchiveChecks.readAll(tarball);

        assertEquals(List.of(
                "DIRECTORY tar",
                "DIRECTORY tar/dir2",
                "DIRECTORY tar/dir1",
                "FILE tar/dir1/._hardlink2.txt",
                "FILE tar/dir1/hardlink2.txt",
                "FILE tar/dir1/._dir3",
                "DIRECTORY tar/dir1/dir3",
                "FILE tar/dir1/dir3/._xfile.txt",
                "HARDLINK tar/dir1/dir3/xfile.txt -> tar/dir1/hardlink2.txt",
                "FILE tar/dir1/dir3/._hardlink1.txt",
                "HARDLINK tar/dir1/dir3/hardlink1.txt -> tar/dir1/hardlink2.txt",
                "FILE " + longName,
                "FILE tar/dir2/._hardlink3.txt",
                "HARDLINK tar/dir2/hardlink3.txt -> tar/dir1/hardlink2.txt",
                "FILE tar/dir2/._symlink1.txt",
                "SYMLINK tar/dir2/symlink1.txt -> ../dir1/dir3/file1.txt"),
                entries.stream().map(read -> describe(read.entry())).toList());
        assertEquals(Map.of(Bytes.ofUtf8("hardlink3"), Bytes.ofUtf8("value")),
                entries.get(4).entry().xattrs());
        assertEquals(Map.of(Bytes.ofUtf8("dir"), Bytes.ofUtf8("value")),
                entries.get(6).entry().xattrs());
        assertEquals(Map.of(Bytes.ofUtf8("symlink"), Bytes.ofUtf8("value")),
                entries.get(15).entry().xattrs());
        assertEquals(1665584430L, entries.get(4).entry().mtimeSeconds());
        assertEquals(393557573, entries.get(4).entry().mtimeNanos());
    }

    @Test
    void emptyTarIsEmptyArchive() throws IOException {
        try (TarReader reader = TarArchive.open(
                Files.newInputStream(fixture("nydus/tar/empty.tar")))) {
            assertEquals(Compression.NONE, reader.compression());
            assertNull(reader.next());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "nydus/tar/all-entry-type.tar",
        "nydus/tar/all-entry-type-macos.tar",
        "nydus/zran/zran-single-stream.tar.gz",
        "nydus/zran/zran-two-streams.tar.gz",
        "nydus/zran/zran-zero-file.tar.gz",
        "nydus-snapshotter/filesystem-testdata/invalid.tar.gz",
        "nydus-snapshotter/filesystem-testdata/v5-bootstrap-file-size-736032.tar.gz",
        "nydus-snapshotter/filesystem-testdata/v6-bootstrap-chunk-pos-438272.tar.gz"
    })
    void matchesGnuTarExtraction(String name) throws IOException {
        Path tarball = fixture(name);
        Path extracted = Files.createDirectory(work.resolve("extracted"));
        Shell.run("tar -xpf \"$1\" --numeric-owner -C \"$2\"", tarball.toString(),
                extracted.toString());
        Map<Bytes, FileTruth> truth = FileTruth.readTree(extracted);
        // The archives have no entry for the directory they were extracted into.
        truth.remove(Bytes.EMPTY);

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), truth,
                ArchiveChecks.Expect.EXTRACTED);
    }

    private static List<String> listing(Path tarball) throws IOException {
        List<String> lines = new ArrayList<>();
        for (ArchiveChecks.ReadEntry read : ArchiveChecks.readAll(tarball)) {
            lines.add(describe(read.entry()));
        }
        return lines;
    }

    private static String describe(TarEntry entry) {
        String line = entry.type() + " " + entry.name();
        return entry.linkName().isEmpty() ? line : line + " -> " + entry.linkName();
    }

    /** Returns the read-only fixture, found in shared/fixtures/upstream above the module. */
    static Path fixture(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared/fixtures/upstream").resolve(relative);
            if (Files.exists(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("fixture shared/fixtures/upstream/" + relative
                + " not found above " + Path.of("").toAbsolutePath());
    }
}
