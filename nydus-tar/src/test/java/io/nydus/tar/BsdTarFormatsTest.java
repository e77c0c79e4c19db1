package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.tar.ArchiveChecks.Expect;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Archives that bsdtar (libarchive, Debian package libarchive-tools) makes of real trees: its
 * PAX records (LIBARCHIVE.xattr, percent-encoded SCHILY.xattr names, ACL texts with ids), GNU
 * and ustar formats.
 */
class BsdTarFormatsTest {

    @TempDir
    static Path work;

    private static Path paxTree;
    private static Map<Bytes, FileTruth> paxTruth;

    @BeforeAll
    static void makePaxTree() throws IOException {
        assertTrue(Shell.hasCommand("bsdtar"), "bsdtar missing: apt-get install libarchive-tools");
        paxTree = Files.createDirectory(work.resolve("pax"));
        SourceTrees.pax(paxTree);
        // libarchive 3.6 writes a time before 1970 with a fraction in a form that differs from
        // POSIX decimal seconds (bsdTimeBefore1970WithFraction), so this tree has whole seconds.
        Shell.run("touch -d '1960-01-01 00:00:00' \"$1/old\"", paxTree.toString());
        SourceTrees.settle(paxTree);
        paxTruth = FileTruth.readTree(paxTree);
    }

    @Test
    void paxKeepsEveryField() throws IOException {
        Path tarball = bsdtar(paxTree, "pax.tar", "--format=pax", "--xattrs", "--acls");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), paxTruth, Expect.EVERYTHING);
    }

    @Test
    void paxGzipKeepsEveryField() throws IOException {
        Path tarball = bsdtar(paxTree, "pax.tar.gz", "--format=pax", "--xattrs", "--acls", "-z");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), paxTruth, Expect.EVERYTHING);
    }

    @Test
    void paxZstdKeepsEveryField() throws IOException {
        Path tarball = bsdtar(paxTree, "pax.tar.zst", "--format=pax", "--xattrs", "--acls",
                "--zstd");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), paxTruth, Expect.EVERYTHING);
    }

    @Test
    void gnuTarFormatMatchesTree() throws IOException {
        Path tree = Files.createDirectory(work.resolve("gnu"));
        SourceTrees.gnu(tree);
        // libarchive 3.6 writes mtime 0 for times before 1970 in this format.
        Shell.run("touch -d '1971-01-01 00:00:00' \"$1/old\"", tree.toString());
        SourceTrees.settle(tree);

        Path tarball = bsdtar(tree, "gnu.tar", "--format=gnutar");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), FileTruth.readTree(tree),
                Expect.PLAIN);
    }

    @Test
    void ustarMatchesTree() throws IOException {
        Path tree = Files.createDirectory(work.resolve("ustar"));
        SourceTrees.ustar(tree);
        // libarchive 3.6 writes ids of at most 6 octal digits in ustar and skips other files.
        Shell.run("chown 262143:262142 \"$1/bigid\"", tree.toString());
        SourceTrees.settle(tree);

        Path tarball = bsdtar(tree, "ustar.tar", "--format=ustar");

        ArchiveChecks.assertMatches(ArchiveChecks.readAll(tarball), FileTruth.readTree(tree),
                Expect.PLAIN);
    }

    @Test
    void bsdTimeBefore1970WithFraction() throws IOException {
        // libarchive 3.6.2 writes 1960-01-01 00:00:00.123456789 (-315619199.876543211 s) as
        // "mtime=-315619200.123456789": whole seconds, then the nanoseconds of the timespec. The
        // reader takes PAX times as decimal numbers, as POSIX, GNU tar and Go do, so it reads
        // that record as -315619200.123456789 s.
        Path tree = Files.createDirectory(work.resolve("old"));
        Shell.run("touch -d '1960-01-01 00:00:00.123456789' \"$1/old\"", tree.toString());

        Path tarball = bsdtar(tree, "old.tar", "--format=pax");

        TarEntry old = ArchiveChecks.readAll(tarball).getLast().entry();
        assertEquals(-315619201L, old.mtimeSeconds());
        assertEquals(876543211, old.mtimeNanos());
    }

    private static Path bsdtar(Path tree, String name, String... options) {
        Path tarball = work.resolve(name);
        StringBuilder script = new StringBuilder("bsdtar -cf \"$1\" -C \"$2\"");
        for (String option : options) {
            script.append(" '").append(option).append('\'');
        }
        script.append(" .");
        Shell.run(script.toString(), tarball.toString(), tree.toString());
        return tarball;
    }
}
