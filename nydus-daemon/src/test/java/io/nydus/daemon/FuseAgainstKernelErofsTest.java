package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BlockExporter;
import io.nydus.builder.BuildResult;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.Fd;
import io.nydus.posix.FileType;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Stat;
import io.nydus.posix.Timespec;
import io.nydus.posix.Xattrs;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeGenerator;
import io.nydus.testkit.TreeGenerator.Feature;
import io.nydus.testkit.XattrValues;
import io.nydus.testkit.XattrValues.AclEntry;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One image mounted twice, by the kernel's EROFS driver from the exported block image and by
 * the daemon over FUSE, and probed system call by system call. The kernel is the reference
 * reader of the format, so every outcome a program can see must match. The exceptions are
 * what a FUSE mount cannot show: the root's inode number, statx attributes and the statx
 * atime bit. Device nodes are not opened, because the FUSE mount is nodev.
 * docs/compatibility.md lists each difference with its reason.
 */
class FuseAgainstKernelErofsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    /** Small chunks, so that the text files and the sparse file span many of them. */
    private static final int CHUNK_SIZE = 0x4000;
    private static final int MIB = 1 << 20;
    private static final long SPARSE_SIZE = 2L * MIB + 10;

    private static TempDir work;
    private static KernelErofs kernel;
    private static Daemon daemon;
    private static FuseSession session;
    private static BytePath kernelRoot;
    private static BytePath fuseRoot;
    private static final BytePath ROOT = BytePath.of(".");
    /** Every entry of the image, relative to the root, which is {@link #ROOT}. */
    private static List<Entry> entries;

    /** An entry of the image: its path below the root and its kernel lstat. */
    private record Entry(BytePath relative, Stat stat) {
        boolean isRoot() {
            return relative.equals(ROOT);
        }

        FileType type() {
            return stat.type();
        }
    }

    /** A call on one mount's copy of an entry; its outcome is compared across the mounts. */
    @FunctionalInterface
    private interface Probe {
        Object run(BytePath path) throws Exception;
    }

    @BeforeAll
    static void mountTwice() throws IOException {
        work = TempDirs.create("fuse-against-kernel-");
        // User 1000 must reach both mounts for the ACL checks.
        Files.setPosixFilePermissions(work.path(), PosixFilePermissions.fromString("rwxr-xr-x"));
        Path source = work.resolve("source");
        TreeGenerator.createEveryCase(BytePath.of(source), Feature.allExcept(Feature.LARGE_FILES));
        addExtraCases(source);
        BuildResult image = TestImages.build(source, work.resolve("image"), CHUNK_SIZE);
        Path block = work.resolve("image.erofs");
        BlockExporter.export(image.bootstrapFile(), work.resolve("image/blobs"), block);

        Path kernelMount = Files.createDirectories(work.resolve("kernel"));
        kernel = KernelErofs.mount(block, kernelMount);
        Path fuseMount = Files.createDirectories(work.resolve("fuse"));
        DaemonConfig config = DaemonConfig.parse("test", localConfig(work.resolve("image/blobs"),
                work.resolve("cache")));
        daemon = new Daemon("differential", false, StorageImageData::open);
        daemon.mount("/", image.bootstrapFile(), config, List.of());
        session = FuseSession.mount(fuseMount, daemon.vfs(), new MountOptions("nydusd",
                "nydusd", 4, MountOptions.DEFAULT_READ_AHEAD_KIB));
        kernelRoot = BytePath.of(kernelMount);
        fuseRoot = BytePath.of(fuseMount);
        entries = new ArrayList<>();
        collect(ROOT, entries);
    }

    /**
     * Adds a file with holes, an ACL that denies user 1000 what the mode grants, and a file
     * that anyone may write, with a {@code trusted.*} xattr for an overlayfs copy-up to keep.
     */
    private static void addExtraCases(Path source) throws IOException {
        Path extra = Files.createDirectories(source.resolve("extra"));
        try (FileChannel sparse = FileChannel.open(extra.resolve("sparse"),
                StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            sparse.write(ByteBuffer.wrap(new byte[4096]).put(0, (byte) 's'), 256 * 1024);
            sparse.write(ByteBuffer.wrap("end of file".getBytes()), SPARSE_SIZE - 11);
        }
        Path denied = Files.writeString(extra.resolve("acl-denies-user-1000"), "denied\n");
        Files.setPosixFilePermissions(denied, PosixFilePermissions.fromString("rw-r--r--"));
        Xattrs.set(BytePath.of(denied), "system.posix_acl_access", XattrValues.posixAcl(List.of(
                AclEntry.of(XattrValues.ACL_USER_OBJ, 6),
                new AclEntry(XattrValues.ACL_USER, 1000, 0),
                AclEntry.of(XattrValues.ACL_GROUP_OBJ, 4), AclEntry.of(XattrValues.ACL_MASK, 4),
                AclEntry.of(XattrValues.ACL_OTHER, 4))));
        Path writable = Files.writeString(extra.resolve("world-writable"), "writable\n");
        Files.setPosixFilePermissions(writable, PosixFilePermissions.fromString("rw-rw-rw-"));
        Xattrs.set(BytePath.of(writable), "trusted.keep", new byte[] {'k'});
    }

    private static String localConfig(Path blobs, Path cache) {
        return "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\": {\"dir\": \""
                + blobs + "\"}}, \"cache\": {\"type\": \"blobcache\", \"config\":"
                + " {\"work_dir\": \"" + cache + "\"}}}, \"mode\": \"direct\","
                + " \"digest_validate\": false, \"enable_xattr\": true}";
    }

    private static void collect(BytePath relative, List<Entry> into) throws PosixException {
        BytePath path = kernelRoot.resolve(relative);
        Stat stat = Posix.lstat(path);
        into.add(new Entry(relative, stat));
        if (stat.isDirectory()) {
            for (byte[] name : Posix.readdir(path)) {
                collect(relative.equals(ROOT) ? BytePath.of(name) : relative.resolve(name),
                        into);
            }
        }
    }

    @AfterAll
    static void unmount() throws IOException {
        try (TempDir removed = work; KernelErofs kernelMount = kernel;
                Daemon stopped = daemon; FuseSession fuse = session) {
            // Closes the FUSE mount, the daemon, the kernel mount and the directory, in order.
        }
    }

    // --- comparison helpers ---

    private static Object outcome(Probe probe, BytePath path) {
        try {
            return probe.run(path);
        } catch (PosixException e) {
            return Errno.name(e.errno());
        } catch (Exception e) {
            return e.toString();
        }
    }

    /** Runs {@code probe} on both copies of {@code relative} and records any difference. */
    private static void compare(List<String> differences, String what, BytePath relative,
            Probe probe) {
        Object expected = outcome(probe, kernelRoot.resolve(relative));
        Object actual = outcome(probe, fuseRoot.resolve(relative));
        if (!Objects.equals(expected, actual)) {
            differences.add(what + " of /" + relative + ": kernel " + expected + ", FUSE "
                    + actual);
        }
    }

    private static void assertNoDifferences(List<String> differences) {
        assertEquals("", String.join("\n", differences));
    }

    private static List<Entry> ofType(FileType type) {
        return entries.stream().filter(entry -> entry.type() == type).toList();
    }

    private static String sha256(byte[] data, int length) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update(data, 0, length);
            return length + " bytes " + HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** The lstat or stat fields that a program reads. The root's inode number differs by design. */
    private record StatFields(int mode, long nlink, long uid, long gid, long rdev, long size,
            long blockSize, long blocks, Timespec atime, Timespec mtime, Timespec ctime,
            long ino) {
        static StatFields of(Stat stat, boolean withInode) {
            return new StatFields(stat.mode(), stat.nlink(), stat.uid(), stat.gid(), stat.rdev(),
                    stat.size(), stat.blockSize(), stat.blocks(), stat.atime(), stat.mtime(),
                    stat.ctime(), withInode ? stat.ino() : 0);
        }
    }

    // --- tests ---

    @Test
    void treeHasEveryCase() {
        assertTrue(entries.size() > TreeGenerator.LARGE_DIRECTORY_ENTRIES, "" + entries.size());
        for (FileType type : FileType.values()) {
            assertFalse(ofType(type).isEmpty(), "no entry of type " + type);
        }
    }

    @Test
    void statFieldsMatch() {
        List<String> differences = new ArrayList<>();
        for (Entry entry : entries) {
            boolean withInode = !entry.isRoot();
            compare(differences, "lstat", entry.relative(),
                    path -> StatFields.of(Posix.lstat(path), withInode));
            compare(differences, "stat", entry.relative(),
                    path -> StatFields.of(Posix.stat(path), withInode));
        }
        assertNoDifferences(differences);
    }

    /**
     * Compares statx without the result mask's atime bit, the attributes and their mask,
     * because the kernel's FUSE driver does not pass them on.
     */
    @Test
    void statxFieldsMatch() {
        int atimeBit = 0x20;
        List<String> differences = new ArrayList<>();
        for (Entry entry : entries) {
            compare(differences, "statx", entry.relative(), path -> {
                Syscalls.Statx statx = Syscalls.statx(path, Syscalls.AT_SYMLINK_NOFOLLOW);
                return new Syscalls.Statx(statx.mask() & ~atimeBit, statx.blockSize(), 0, 0,
                        statx.nlink(), statx.uid(), statx.gid(), statx.mode(), statx.size(),
                        statx.blocks(), statx.atime(), statx.btime(), statx.ctime(),
                        statx.mtime(), statx.rdevMajor(), statx.rdevMinor());
            });
        }
        assertNoDifferences(differences);
    }

    @Test
    void directoryListingsMatch() {
        List<String> differences = new ArrayList<>();
        for (Entry directory : ofType(FileType.DIRECTORY)) {
            compare(differences, "listing", directory.relative(),
                    path -> namesAndTypes(path, 32 * 1024));
        }
        assertNoDifferences(differences);
    }

    /** Returns "name type" for every record of {@code path}, "." and ".." included. */
    private static List<String> namesAndTypes(BytePath path, int bufferSize)
            throws PosixException {
        List<String> listing = new ArrayList<>();
        try (Fd dir = Posix.open(path, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY)) {
            List<Syscalls.DirectoryRecord> records;
            while (!(records = Syscalls.getdents(dir, bufferSize)).isEmpty()) {
                for (Syscalls.DirectoryRecord record : records) {
                    listing.add(record.name() + " " + record.type());
                }
            }
        }
        return listing;
    }

    @Test
    void partialListingResumesAtItsPosition() throws PosixException {
        BytePath many = BytePath.of("many");
        List<String> whole = namesAndTypes(kernelRoot.resolve(many), 32 * 1024);
        assertEquals(TreeGenerator.LARGE_DIRECTORY_ENTRIES + 2, whole.size());
        List<String> differences = new ArrayList<>();
        for (int bufferSize : new int[] {512, 4096}) {
            for (int calls : new int[] {1, 3, 10}) {
                compare(differences, "listing resumed after " + calls + " reads of "
                        + bufferSize + " bytes", many,
                        path -> resumedListing(path, bufferSize, calls).equals(whole));
            }
        }
        compare(differences, "seekdir to saved positions", many,
                FuseAgainstKernelErofsTest::namesAfterSavedPositions);
        assertNoDifferences(differences);
    }

    /**
     * Lists {@code path} with {@code calls} small reads, notes the directory's offset, and
     * lists the rest through a second descriptor set to that offset.
     */
    private static List<String> resumedListing(BytePath path, int bufferSize, int calls)
            throws PosixException {
        List<String> listing = new ArrayList<>();
        long position;
        int flags = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY;
        try (Fd dir = Posix.open(path, flags)) {
            for (int i = 0; i < calls; i++) {
                Syscalls.getdents(dir, bufferSize)
                        .forEach(record -> listing.add(record.name() + " " + record.type()));
            }
            position = dir.lseek(0, Fd.SEEK_CUR);
        }
        try (Fd dir = Posix.open(path, flags)) {
            dir.lseek(position, Fd.SEEK_SET);
            List<Syscalls.DirectoryRecord> records;
            while (!(records = Syscalls.getdents(dir, 4096)).isEmpty()) {
                records.forEach(record -> listing.add(record.name() + " " + record.type()));
            }
        }
        return listing;
    }

    /**
     * Saves the position after every 250th record, as telldir(3) does, then seeks to each and
     * returns the name read next, as seekdir(3) and readdir(3) give it.
     */
    private static List<String> namesAfterSavedPositions(BytePath path) throws PosixException {
        List<Syscalls.DirectoryRecord> records = new ArrayList<>();
        List<String> names = new ArrayList<>();
        try (Fd dir = Posix.open(path, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY)) {
            List<Syscalls.DirectoryRecord> read;
            while (!(read = Syscalls.getdents(dir, 4096)).isEmpty()) {
                records.addAll(read);
            }
            for (int i = 0; i < records.size() - 1; i += 250) {
                dir.lseek(records.get(i).nextPosition(), Fd.SEEK_SET);
                names.add(Syscalls.getdents(dir, 512).getFirst().name());
            }
        }
        return names;
    }

    @Test
    void xattrSizeProbesMatch() {
        List<String> differences = new ArrayList<>();
        byte[] absent = "user.absent".getBytes();
        for (Entry entry : entries) {
            BytePath relative = entry.relative();
            String listing = Syscalls.listxattr(kernelRoot.resolve(relative), 0, false);
            compare(differences, "llistxattr size 0", relative,
                    path -> Syscalls.listxattr(path, 0, false));
            long length = Long.parseLong(listing);
            for (long size : new long[] {length - 1, length, length + 1}) {
                if (size > 0) {
                    compare(differences, "llistxattr size " + size, relative,
                            path -> Syscalls.listxattr(path, size, false));
                }
            }
            compare(differences, "lgetxattr of an absent name", relative,
                    path -> Syscalls.getxattr(path, absent, 64, false));
            for (byte[] name : names(kernelRoot.resolve(relative))) {
                compareValue(differences, relative, name, false);
                if (entry.type() == FileType.SYMLINK) {
                    compareValue(differences, relative, name, true);
                }
            }
            if (entry.type() == FileType.SYMLINK) {
                compare(differences, "listxattr through the symlink", relative,
                        path -> Syscalls.listxattr(path, 64 * 1024, true));
            }
        }
        assertNoDifferences(differences);
    }

    private static List<byte[]> names(BytePath path) {
        try {
            return Xattrs.list(path);
        } catch (PosixException e) {
            throw new AssertionError("llistxattr of " + path + " failed", e);
        }
    }

    /** Compares getxattr with a size-0 probe, a buffer one byte short, and a full one. */
    private static void compareValue(List<String> differences, BytePath relative, byte[] name,
            boolean follow) {
        String call = (follow ? "getxattr " : "lgetxattr ") + BytePath.escape(name);
        String probe = Syscalls.getxattr(kernelRoot.resolve(relative), name, 0, follow);
        compare(differences, call + " size 0", relative,
                path -> Syscalls.getxattr(path, name, 0, follow));
        if (!probe.chars().allMatch(Character::isDigit)) {
            return;
        }
        long length = Long.parseLong(probe);
        for (long size : new long[] {length - 1, length}) {
            if (size > 0) {
                compare(differences, call + " size " + size, relative,
                        path -> Syscalls.getxattr(path, name, size, follow));
            }
        }
    }

    @Test
    void readlinkWithShortBuffersMatches() {
        List<String> differences = new ArrayList<>();
        for (Entry link : ofType(FileType.SYMLINK)) {
            long length = link.stat().size();
            for (long size : new long[] {1, length - 1, length, length + 1, 4096}) {
                if (size > 0) {
                    compare(differences, "readlink into " + size + " bytes", link.relative(),
                            path -> Syscalls.readlink(path, size));
                }
            }
        }
        for (Entry entry : List.of(ofType(FileType.REGULAR).getFirst(),
                ofType(FileType.DIRECTORY).getFirst())) {
            compare(differences, "readlink", entry.relative(),
                    path -> Syscalls.readlink(path, 64));
        }
        assertNoDifferences(differences);
    }

    @Test
    void readsAtAndPastEndMatch() {
        List<String> differences = new ArrayList<>();
        for (Entry file : ofType(FileType.REGULAR)) {
            long size = file.stat().size();
            for (long offset : new long[] {0, size / 2, size - 1, size, size + 1, size + 4096,
                    1L << 40}) {
                if (offset >= 0) {
                    compare(differences, "pread of 8192 bytes at " + offset, file.relative(),
                            path -> pread(path, offset, 8192));
                }
            }
        }
        assertNoDifferences(differences);
    }

    private static String pread(BytePath path, long offset, int length) throws PosixException {
        try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY)) {
            byte[] buffer = new byte[length];
            return sha256(buffer, fd.pread(buffer, 0, length, offset));
        }
    }

    @Test
    void seeksMatch() {
        List<String> differences = new ArrayList<>();
        for (Entry file : ofType(FileType.REGULAR)) {
            long size = file.stat().size();
            for (long offset : new long[] {0, 1, 4096, 256 * 1024, MIB, size - 1, size,
                    size + 1}) {
                if (offset < 0) {
                    continue;
                }
                compare(differences, "SEEK_DATA from " + offset, file.relative(),
                        path -> seek(path, offset, Fd.SEEK_DATA));
                compare(differences, "SEEK_HOLE from " + offset, file.relative(),
                        path -> seek(path, offset, Fd.SEEK_HOLE));
            }
            for (long offset : new long[] {0, -1, 10}) {
                compare(differences, "SEEK_END by " + offset, file.relative(),
                        path -> seek(path, offset, Fd.SEEK_END));
            }
        }
        assertNoDifferences(differences);
    }

    private static long seek(BytePath path, long offset, int whence) throws PosixException {
        try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY)) {
            return fd.lseek(offset, whence);
        }
    }

    @Test
    void mappedReadsAcrossChunksMatch() {
        List<String> differences = new ArrayList<>();
        for (Entry file : ofType(FileType.REGULAR)) {
            if (file.stat().size() > CHUNK_SIZE) {
                compare(differences, "mapped reads at chunk boundaries", file.relative(),
                        FuseAgainstKernelErofsTest::mappedBoundaries);
            }
        }
        assertNoDifferences(differences);
    }

    /** Returns the bytes 100 either side of every chunk boundary, read through a mapping. */
    private static List<String> mappedBoundaries(BytePath path) throws PosixException {
        try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY)) {
            long size = fd.fstat().size();
            List<Long> offsets = new ArrayList<>();
            for (long boundary = CHUNK_SIZE; boundary < size; boundary += CHUNK_SIZE) {
                offsets.add(boundary - 100);
            }
            return Syscalls.mappedCopies(fd, size, offsets, 200).stream()
                    .map(window -> HexFormat.of().formatHex(window)).toList();
        }
    }

    @Test
    void directReadsMatch() {
        List<String> differences = new ArrayList<>();
        for (Entry file : ofType(FileType.REGULAR)) {
            for (long offset : new long[] {0, CHUNK_SIZE - 4096, 3L * CHUNK_SIZE}) {
                compare(differences, "O_DIRECT read of 8192 bytes at " + offset,
                        file.relative(), path -> directRead(path, offset, 8192));
            }
        }
        assertNoDifferences(differences);
    }

    private static String directRead(BytePath path, long offset, int length)
            throws PosixException {
        try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY | OpenFlags.O_DIRECT);
                Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(length, 4096);
            long count = fd.pread(buffer, offset);
            byte[] data = buffer.asSlice(0, count).toArray(ValueLayout.JAVA_BYTE);
            return sha256(data, data.length);
        }
    }

    @Test
    void changesFailWithKernelErrno() {
        BytePath file = BytePath.of("files/text");
        BytePath directory = BytePath.of("dirs");
        BytePath link = BytePath.of("links/short");
        BytePath absent = BytePath.of("dirs/absent");
        List<String> differences = new ArrayList<>();
        compare(differences, "open O_WRONLY", file, path -> open(path, OpenFlags.O_WRONLY));
        compare(differences, "open O_RDWR", file, path -> open(path, OpenFlags.O_RDWR));
        compare(differences, "open O_TRUNC", file, path -> open(path, OpenFlags.O_TRUNC));
        compare(differences, "open O_CREAT", absent, path -> open(path, OpenFlags.O_CREAT));
        compare(differences, "open O_CREAT of an existing file", file,
                path -> open(path, OpenFlags.O_CREAT));
        compare(differences, "open O_CREAT | O_EXCL of an existing file", file,
                path -> open(path, OpenFlags.O_CREAT | OpenFlags.O_EXCL));
        compare(differences, "open O_WRONLY", directory, path -> open(path, OpenFlags.O_WRONLY));

        compare(differences, "unlink", file, path -> run(() -> Posix.unlink(path)));
        compare(differences, "unlink", absent, path -> run(() -> Posix.unlink(path)));
        compare(differences, "rmdir", directory, path -> run(() -> Posix.rmdir(path)));
        compare(differences, "mkdir", absent, path -> run(() -> Posix.mkdir(path, 0755)));
        compare(differences, "mkdir", directory, path -> run(() -> Posix.mkdir(path, 0755)));
        compare(differences, "rename", file, path -> run(() -> Posix.rename(path,
                path.parent().orElseThrow().resolve("renamed"))));
        compare(differences, "link", file, path -> run(() -> Posix.link(path,
                path.parent().orElseThrow().resolve("linked"))));
        compare(differences, "symlink", absent,
                path -> run(() -> Posix.symlink("x".getBytes(), path)));
        compare(differences, "mknod", absent,
                path -> run(() -> Posix.mknod(path, 0010644, 0)));

        compare(differences, "chmod", file, path -> run(() -> Posix.chmod(path, 0600)));
        compare(differences, "lchown", link, path -> run(() -> Posix.lchown(path, 1, 1)));
        compare(differences, "utimens", file, path -> run(() -> Posix.lutimens(path,
                new Timespec(1, 0), new Timespec(1, 0))));
        compare(differences, "setxattr", file,
                path -> run(() -> Xattrs.set(path, "user.new", new byte[] {1})));
        compare(differences, "lsetxattr", link,
                path -> run(() -> Xattrs.set(path, "trusted.new", new byte[] {1})));
        compare(differences, "removexattr", BytePath.of("xattrs/user-binary"),
                path -> run(() -> Xattrs.remove(path, "user.binary".getBytes())));

        compare(differences, "ftruncate", file, path -> {
            try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY)) {
                fd.ftruncate(0);
                return "truncated";
            }
        });
        compare(differences, "write", file, path -> {
            try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY)) {
                return fd.write(new byte[] {1}, 0, 1);
            }
        });
        assertNoDifferences(differences);
    }

    @FunctionalInterface
    private interface Call {
        void run() throws PosixException;
    }

    private static String run(Call call) throws PosixException {
        call.run();
        return "done";
    }

    private static String open(BytePath path, int flags) throws PosixException {
        try (Fd fd = Posix.open(path, flags | OpenFlags.O_NONBLOCK, 0644)) {
            return "opened";
        }
    }

    /**
     * Compares access(2) and the opens that check the type of every entry. Device nodes are
     * left out of the opens: the FUSE mount is nodev, as upstream's nydusd mounts it.
     */
    @Test
    void accessAndTypeChecksMatch() {
        List<String> differences = new ArrayList<>();
        for (Entry entry : entries) {
            BytePath relative = entry.relative();
            compare(differences, "access W_OK", relative,
                    path -> Syscalls.access(path, Syscalls.W_OK));
            compare(differences, "access R_OK", relative,
                    path -> Syscalls.access(path, Syscalls.R_OK));
            if (entry.type() == FileType.CHAR_DEVICE || entry.type() == FileType.BLOCK_DEVICE) {
                continue;
            }
            compare(differences, "open O_NOFOLLOW", relative,
                    path -> open(path, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW));
            compare(differences, "open O_DIRECTORY", relative,
                    path -> open(path, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY));
        }
        assertNoDifferences(differences);
    }

    /**
     * Reads as user 1000 files whose ACLs grant and deny what their modes do not. Both mounts
     * must decide by the ACL, as the kernel's EROFS driver does.
     */
    @Test
    void aclsDecideAccessForOtherUsers() throws IOException {
        List<String> commands = List.of("cat xattrs/acl-file", "cat extra/acl-denies-user-1000",
                "ls xattrs/acl-directory");
        List<String> differences = new ArrayList<>();
        for (String command : commands) {
            String[] words = command.split(" ");
            BytePath relative = BytePath.of(words[1]);
            compare(differences, words[0] + " as user 1000", relative,
                    path -> asUser1000(words[0], path.toString()).exitCode());
        }
        assertNoDifferences(differences);
        assertEquals(0, asUser1000("cat", kernelRoot.resolve("xattrs/acl-file").toString())
                .exitCode());
        assertTrue(asUser1000("cat", kernelRoot.resolve("extra/acl-denies-user-1000")
                .toString()).exitCode() != 0);
    }

    /**
     * Lists xattr names as user 1000, who lacks CAP_SYS_ADMIN: the kernel leaves out the
     * {@code trusted.*} names, and so must the daemon.
     */
    @Test
    void otherUsersSeeNoTrustedNames() throws IOException {
        List<String> differences = new ArrayList<>();
        List<String> paths = List.of("xattrs/trusted", "xattrs/several", "links/short",
                "special/fifo", "hardlinks/original");
        for (String relative : paths) {
            compare(differences, "getfattr as user 1000", BytePath.of(relative),
                    FuseAgainstKernelErofsTest::namesForUser1000);
        }
        assertNoDifferences(differences);
        assertEquals(List.of("user.on-hardlink"),
                namesForUser1000(kernelRoot.resolve("hardlinks/original")));
    }

    /**
     * Writes, as user 1000, to a file of an overlayfs mount whose lower directory is each
     * mount. The copy-up lists the lower file's xattrs with the mounter's credentials, so the
     * upper copy keeps its {@code trusted.*} xattr although user 1000 may not list it.
     */
    @Test
    void overlayCopyUpKeepsTrustedXattrs() throws IOException {
        List<String> differences = new ArrayList<>();
        compare(differences, "trusted.keep after a copy-up", BytePath.of("extra"),
                FuseAgainstKernelErofsTest::copyUpAsUser1000);
        assertNoDifferences(differences);
        assertEquals("k", copyUpAsUser1000(kernelRoot.resolve("extra")));
    }

    /** Returns the {@code trusted.keep} value of the upper copy of a written lower file. */
    private static String copyUpAsUser1000(BytePath lower) throws IOException {
        Path overlay = Files.createTempDirectory(work.path(), "overlay-");
        Path upper = Files.createDirectories(overlay.resolve("upper"));
        Path scratch = Files.createDirectories(overlay.resolve("work"));
        Path merged = Files.createDirectories(overlay.resolve("merged"));
        // The merged root takes the upper directory's mode, and user 1000 must enter it.
        for (Path dir : List.of(overlay, upper, merged)) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Commands.run(List.of("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower
                + ",upperdir=" + upper + ",workdir=" + scratch, merged.toString()), TIMEOUT);
        try {
            Path file = merged.resolve("world-writable");
            CommandResult written = asUser1000("sh", "-c", "echo more >> '" + file + "'");
            assertEquals(0, written.exitCode(), written.stderrText());
            return Xattrs.get(BytePath.of(upper.resolve("world-writable")), "trusted.keep")
                    .map(String::new).orElse("absent");
        } finally {
            Commands.run(List.of("umount", merged.toString()), TIMEOUT);
        }
    }

    private static List<String> namesForUser1000(BytePath path) throws IOException {
        CommandResult listed = asUser1000("getfattr", "--no-dereference", "--absolute-names",
                "--match=.", path.toString());
        assertEquals(0, listed.exitCode(), listed.stderrText());
        return listed.stdoutText().lines()
                .filter(line -> !line.isEmpty() && !line.startsWith("# file:")).toList();
    }

    private static CommandResult asUser1000(String... command) throws IOException {
        List<String> argv = new ArrayList<>(List.of("setpriv", "--reuid=1000", "--regid=1000",
                "--clear-groups"));
        argv.addAll(List.of(command));
        return Commands.runAllowingFailure(argv, TIMEOUT, new byte[0]);
    }
}
