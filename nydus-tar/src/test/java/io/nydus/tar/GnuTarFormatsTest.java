package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.tar.ArchiveChecks.Expect;
import io.nydus.tar.ArchiveChecks.ReadEntry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Archives that GNU tar makes of real trees, in each of its formats, read back field by field. */
class GnuTarFormatsTest {

    @TempDir
    static Path work;

    private static Path paxTree;
    private static Map<Bytes, FileTruth> paxTruth;

    @BeforeAll
    static void makePaxTree() throws IOException {
        paxTree = Files.createDirectory(work.resolve("pax"));
        SourceTrees.pax(paxTree);
        SourceTrees.settle(paxTree);
        paxTruth = FileTruth.readTree(paxTree);
    }

    @Test
    void paxKeepsEveryField() throws IOException {
        Path tarball = tar(paxTree, "pax.tar", "--format=pax", "--xattrs", "--xattrs-include=*",
                "--acls");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), paxTruth, Expect.EVERYTHING);
    }

    @Test
    void paxGzipMatchesTree() throws IOException {
        Path tarball = tar(paxTree, "pax.tar.gz", "--format=pax", "--xattrs",
                "--xattrs-include=*", "--acls", "--gzip");

        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball))) {
            assertEquals(Compression.GZIP, reader.compression());
            List<ReadEntry> entries = ArchiveChecks.readAll(reader);
            ArchiveChecks.assertMatches(entries, paxTruth, Expect.EVERYTHING);
        }
    }

    @Test
    void paxZstdMatchesTree() throws IOException {
        Path tarball = tar(paxTree, "pax.tar.zst", "--format=pax", "--xattrs",
                "--xattrs-include=*", "--acls", "--zstd");

        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball))) {
            assertEquals(Compression.ZSTD, reader.compression());
            List<ReadEntry> entries = ArchiveChecks.readAll(reader);
            ArchiveChecks.assertMatches(entries, paxTruth, Expect.EVERYTHING);
        }
    }

    @Test
    void paxAclTextWithoutRawXattrBecomesXattr() throws IOException {
        // Without --xattrs GNU tar writes only the SCHILY.acl.* text. Entries that name a user
        // without a numeric id (u:daemon) cannot be converted and are left out.
        Path tarball = tar(paxTree, "acl.tar", "--format=pax", "--acls", "./acl_dir");

        TarEntry dir = ArchiveChecks.readAll(tarball).getFirst().entry();

        FileTruth truth = paxTruth.get(Bytes.ofUtf8("acl_dir"));
        Bytes name = Bytes.ofUtf8("system.posix_acl_default");
        assertNotNull(truth.xattrs().get(name), "setfacl left no default ACL");
        assertEquals(truth.xattrs().get(name), dir.xattrs().get(name));
    }

    @Test
    void gnuKeepsLongNamesAndBase256Numbers() throws IOException {
        Path tree = Files.createDirectory(work.resolve("gnu"));
        SourceTrees.gnu(tree);
        SourceTrees.settle(tree);

        Path tarball = tar(tree, "gnu.tar", "--format=gnu");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), FileTruth.readTree(tree),
                Expect.PLAIN);
    }

    @Test
    void ustarJoinsPrefixAndName() throws IOException {
        Path tree = Files.createDirectory(work.resolve("ustar"));
        SourceTrees.ustar(tree);
        SourceTrees.settle(tree);

        Path tarball = tar(tree, "ustar.tar", "--format=ustar");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), FileTruth.readTree(tree),
                Expect.PLAIN);
    }

    @Test
    void v7ArchiveReads() throws IOException {
        Path tree = Files.createDirectory(work.resolve("v7"));
        SourceTrees.basic(tree);
        SourceTrees.settle(tree);

        Path tarball = tar(tree, "v7.tar", "--format=v7");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), FileTruth.readTree(tree),
                Expect.PLAIN);
    }

    @Test
    void skippingContentReachesEveryEntry() throws IOException {
        Path tarball = tar(paxTree, "skip.tar", "--format=pax", "--xattrs", "--xattrs-include=*");

        int count = 0;
        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball))) {
            while (reader.next() != null) {
                count++;
            }
            assertNull(reader.next());
        }

        assertEquals(paxTruth.size(), count);
    }

    @Test
    void partlyReadContentIsSkipped() throws IOException {
        Path tarball = tar(paxTree, "partly.tar", "--format=pax");
        List<ReadEntry> all = ArchiveChecks.readAll(tarball);

        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball))) {
            for (ReadEntry expected : all) {
                TarEntry entry = reader.next();
                assertEquals(expected.entry(), entry);
                InputStream content = reader.content();
                content.readNBytes((int) Math.min(entry.size() / 2, 100_000));
            }
            assertNull(reader.next());
        }
    }

    @Test
    void contentReadsInSmallPieces() throws IOException {
        Path tarball = tar(paxTree, "pieces.tar", "--format=pax", "./random.bin");
        byte[] expected = Files.readAllBytes(paxTree.resolve("random.bin"));

        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball))) {
            reader.next();
            InputStream content = reader.content();
            byte[] actual = new byte[expected.length];
            int position = 0;
            int step = 1;
            while (position < actual.length) {
                int wanted = Math.min(step, actual.length - position);
                int count = content.read(actual, position, wanted);
                assertTrue(count > 0, "read returned " + count + " at " + position);
                position += count;
                step = step * 3 % 9973 + 1;
            }
            assertEquals(-1, content.read());
            assertEquals(ArchiveChecks.sha256(expected), ArchiveChecks.sha256(actual));
        }
    }

    /** Archives {@code tree} (or the given members of it) with GNU tar and extra options. */
    static Path tar(Path tree, String name, String... options) {
        Path tarball = work.resolve(name);
        String members = options.length > 0 && options[options.length - 1].startsWith("./")
                ? options[options.length - 1] : ".";
        StringBuilder script = new StringBuilder("tar -cf \"$1\" -C \"$2\"");
        for (int i = 0; i < options.length; i++) {
            if (!options[i].startsWith("./")) {
                script.append(" '").append(options[i]).append('\'');
            }
        }
        script.append(" '").append(members).append('\'');
        Shell.run(script.toString(), tarball.toString(), tree.toString());
        return tarball;
    }
}
