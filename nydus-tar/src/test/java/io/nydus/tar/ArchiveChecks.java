package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Reading whole archives and comparing their entries with the files they were made from. */
final class ArchiveChecks {

    /** An entry and the SHA-256 of its content (empty for entries other than files). */
    record ReadEntry(TarEntry entry, String sha256) {}

    /**
     * What the archive format keeps and the truth shows, and so what the comparison expects.
     *
     * @param xattrs whether the archive contains the files' xattrs
     * @param nanos whether the archive contains sub-second mtimes
     * @param extracted whether the truth comes from extracting the archive, where symlink modes
     *     are always 0777, directory mtimes change as later entries land in them, and xattrs
     *     depend on the extracting tar, so these are not compared
     */
    record Expect(boolean xattrs, boolean nanos, boolean extracted) {
        static final Expect PLAIN = new Expect(false, false, false);
        static final Expect NANOS = new Expect(false, true, false);
        static final Expect EVERYTHING = new Expect(true, true, false);
        static final Expect EXTRACTED = new Expect(false, true, true);
    }

    private ArchiveChecks() {}

    /** Reads every entry of {@code tarball} and the digest of every file's content. */
    static List<ReadEntry> readAll(Path tarball) throws IOException {
        try (TarReader reader = TarArchive.open(Files.newInputStream(tarball))) {
            return readAll(reader);
        }
    }

    static List<ReadEntry> readAll(TarReader reader) throws IOException {
        List<ReadEntry> entries = new ArrayList<>();
        for (TarEntry entry = reader.next(); entry != null; entry = reader.next()) {
            String sha256 = entry.type() == EntryType.FILE ? sha256(reader.content()) : "";
            entries.add(new ReadEntry(entry, sha256));
        }
        return entries;
    }

    /** Returns the hex SHA-256 of the rest of {@code in}. */
    static String sha256(InputStream in) throws IOException {
        MessageDigest digest = newSha256();
        try (OutputStream out = new DigestOutputStream(OutputStream.nullOutputStream(), digest)) {
            in.transferTo(out);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(newSha256().digest(bytes));
    }

    /**
     * Asserts that the entries and the files of the tree match one to one, every field and every
     * content byte (by digest).
     */
    static void assertMatches(List<ReadEntry> entries, Map<Bytes, FileTruth> truths,
            Expect expect) {
        Map<Bytes, TarEntry> seen = new HashMap<>();
        Set<Bytes> missing = new HashSet<>(truths.keySet());
        for (ReadEntry read : entries) {
            TarEntry entry = read.entry();
            Bytes path = TarPaths.join(TarPaths.normalize(entry.name()));
            FileTruth truth = truths.get(path);
            assertNotNull(truth, "archive entry " + path + " has no source file among "
                    + truths.keySet());
            assertTrue(missing.remove(path), "entry " + path + " appears twice");
            assertEntry(entry, read.sha256(), truth, truths, seen, expect);
            seen.put(path, entry);
        }
        assertTrue(missing.isEmpty(), "files missing from the archive: " + missing);
    }

    private static void assertEntry(TarEntry entry, String sha256, FileTruth truth,
            Map<Bytes, FileTruth> truths, Map<Bytes, TarEntry> seen, Expect expect) {
        String where = truth.path().toString();
        if (entry.type() == EntryType.HARDLINK) {
            Bytes target = TarPaths.join(TarPaths.normalize(entry.linkName()));
            assertTrue(seen.containsKey(target), where + ": hard link to " + target
                    + " before or without its target");
            assertEquals(truths.get(target).inode(), truth.inode(),
                    where + ": hard link target " + target + " is another file");
        } else {
            assertEquals(truth.type(), entry.type(), where + ": type");
        }
        if (!expect.extracted() || entry.type() != EntryType.SYMLINK) {
            assertEquals(truth.rawMode() & 07777, entry.mode(), where + ": mode");
        }
        assertEquals(truth.uid(), entry.uid(), where + ": uid");
        assertEquals(truth.gid(), entry.gid(), where + ": gid");
        if (!expect.extracted() || entry.type() != EntryType.DIRECTORY) {
            assertEquals(truth.mtimeSeconds(), entry.mtimeSeconds(), where + ": mtime seconds");
            assertEquals(expect.nanos() ? truth.mtimeNanos() : 0, entry.mtimeNanos(),
                    where + ": mtime nanoseconds");
        }
        switch (entry.type()) {
            case FILE -> {
                assertEquals(truth.size(), entry.size(), where + ": size");
                assertEquals(truth.sha256(), sha256, where + ": content");
            }
            case SYMLINK -> assertEquals(truth.linkTarget(), entry.linkName(),
                    where + ": symlink target");
            case CHAR_DEVICE, BLOCK_DEVICE -> {
                assertEquals(truth.devMajor(), entry.devMajor(), where + ": major");
                assertEquals(truth.devMinor(), entry.devMinor(), where + ": minor");
            }
            default -> assertEquals(0, entry.size(), where + ": size");
        }
        if (entry.type() != EntryType.HARDLINK && !expect.extracted()) {
            assertEquals(expect.xattrs() ? truth.xattrs() : Map.of(), entry.xattrs(),
                    where + ": xattrs");
        }
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
