package io.nydus.posix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class PosixTest {

    private static final byte[] NON_UTF8_NAME = {'n', (byte) 0x80, (byte) 0xff, (byte) 0xfe, 'x'};
    private static final int CREATE = OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL
            | OpenFlags.O_CLOEXEC;

    private ScratchDirectory scratch;

    @BeforeEach
    void createScratch() throws IOException {
        scratch = ScratchDirectory.create();
    }

    @AfterEach
    void deleteScratch() throws IOException {
        scratch.close();
    }

    private BytePath createFile(BytePath path) throws PosixException {
        Posix.open(path, CREATE, 0644).close();
        return path;
    }

    @Test
    void nonUtf8NameRoundTrips() throws IOException {
        createFile(scratch.resolve(NON_UTF8_NAME));
        List<byte[]> names = Posix.readdir(scratch.path());
        assertEquals(1, names.size());
        assertArrayEquals(NON_UTF8_NAME, names.get(0));
        assertTrue(Posix.lstat(scratch.resolve(NON_UTF8_NAME)).isRegularFile());
    }

    @Test
    void nonUtf8DirectoryHoldsFiles() throws IOException {
        BytePath dir = scratch.resolve(NON_UTF8_NAME);
        Posix.mkdir(dir, 0755);
        createFile(dir.resolve(NON_UTF8_NAME));
        assertArrayEquals(NON_UTF8_NAME, Posix.readdir(dir).get(0));
    }

    @Test
    void name255BytesWorks() throws IOException {
        byte[] name = new byte[255];
        Arrays.fill(name, (byte) 0xe9);
        createFile(scratch.resolve(name));
        assertArrayEquals(name, Posix.readdir(scratch.path()).get(0));
    }

    @Test
    void name256BytesFailsWithEnametoolong() {
        byte[] name = new byte[256];
        Arrays.fill(name, (byte) 'n');
        PosixException e = assertThrows(PosixException.class,
                () -> createFile(scratch.resolve(name)));
        assertEquals(Errno.ENAMETOOLONG, e.errno());
    }

    @Test
    void missingFileIsNoSuchEntry() {
        BytePath missing = scratch.resolve(new byte[] {'m', (byte) 0xff});
        NoSuchEntryException e = assertThrows(NoSuchEntryException.class,
                () -> Posix.lstat(missing));
        assertEquals(Errno.ENOENT, e.errno());
        assertEquals("ENOENT", e.errnoName());
        assertEquals("lstat", e.call());
        assertEquals(missing, e.path().orElseThrow());
        assertEquals("lstat " + scratch.path() + "/m\\xff: No such file or directory (ENOENT)",
                e.getMessage());
    }

    @Test
    void lstatIfExistsReturnsEmptyForMissing() throws IOException {
        assertTrue(Posix.lstatIfExists(scratch.resolve("missing")).isEmpty());
    }

    @Test
    void errnoOtherThanEnoentKeepsItsName() throws IOException {
        BytePath file = createFile(scratch.resolve("f"));
        PosixException e = assertThrows(PosixException.class, () -> Posix.readdir(file));
        assertEquals(Errno.ENOTDIR, e.errno());
        assertEquals("ENOTDIR", e.errnoName());
        assertEquals("Not a directory", e.description());
    }

    @Test
    void readdirListsManyEntriesWithoutDots() throws IOException {
        for (int i = 0; i < 3000; i++) {
            createFile(scratch.resolve(String.format("entry-%04d-%s", i, "x".repeat(i % 200))));
        }
        List<byte[]> names = Posix.readdir(scratch.path());
        assertEquals(3000, names.size());
        names.sort(Arrays::compareUnsigned);
        assertEquals("entry-0000-", new String(names.get(0), StandardCharsets.UTF_8));
    }

    @Test
    void readdirOnFdReadsFromStart() throws IOException {
        createFile(scratch.resolve("a"));
        try (Fd dir = Posix.open(scratch.path(), OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY)) {
            assertEquals(1, Posix.readdir(dir).size());
            assertEquals(1, Posix.readdir(dir).size());
        }
    }

    @Test
    void charDeviceWithLargestKernelNumbers() throws IOException {
        BytePath device = scratch.resolve("chr");
        Posix.mknod(device, FileType.CHAR_DEVICE.mode(0620), Devices.makedev(4095, 1048575));
        Stat stat = Posix.lstat(device);
        assertEquals(FileType.CHAR_DEVICE, stat.type());
        assertEquals(4095, stat.rdevMajor());
        assertEquals(1048575, stat.rdevMinor());
        assertEquals("fff:fffff", statCommand("%t:%T", device));
    }

    @Test
    void blockDeviceWithSmallNumbers() throws IOException {
        BytePath device = scratch.resolve("blk");
        Posix.mknod(device, FileType.BLOCK_DEVICE.mode(0600), Devices.makedev(7, 3));
        Stat stat = Posix.lstat(device);
        assertEquals(FileType.BLOCK_DEVICE, stat.type());
        assertEquals(7, stat.rdevMajor());
        assertEquals(3, stat.rdevMinor());
    }

    @Test
    void fifoAndSocket() throws IOException {
        Posix.mknod(scratch.resolve("fifo"), FileType.FIFO.mode(0644), 0);
        // The umask applies to mknod, and owner bits alone pass the usual umasks (022, 077).
        Posix.mknod(scratch.resolve("sock"), FileType.SOCKET.mode(0700), 0);
        assertEquals(FileType.FIFO, Posix.lstat(scratch.resolve("fifo")).type());
        Stat socket = Posix.lstat(scratch.resolve("sock"));
        assertEquals(FileType.SOCKET, socket.type());
        assertEquals(0700, socket.permissions());
    }

    @Test
    void mknodRejectsModeWithoutType() {
        assertThrows(IllegalArgumentException.class,
                () -> Posix.mknod(scratch.resolve("x"), 0644, 0));
    }

    @Test
    void utimensatKeepsNanoseconds() throws IOException {
        BytePath file = createFile(scratch.resolve("f"));
        Timespec mtime = new Timespec(1_700_000_000L, 123_456_789);
        Timespec atime = new Timespec(1_600_000_000L, 1);
        Posix.lutimens(file, atime, mtime);
        Stat stat = Posix.lstat(file);
        assertEquals(mtime, stat.mtime());
        assertEquals(atime, stat.atime());
        assertEquals("1700000000.123456789", statCommand("%.9Y", file));
    }

    @Test
    void utimensatBefore1970() throws IOException {
        BytePath file = createFile(scratch.resolve("f"));
        Timespec mtime = new Timespec(-86_401L, 500_000_000);
        Posix.lutimens(file, Timespec.omit(), mtime);
        assertEquals(mtime, Posix.lstat(file).mtime());
        assertEquals("1969-12-30T23:59:59.500Z", mtime.toString());
    }

    @Test
    void utimensatOnSymlinkLeavesTarget() throws IOException {
        BytePath target = createFile(scratch.resolve("target"));
        BytePath link = scratch.resolve("link");
        Posix.symlink("target".getBytes(StandardCharsets.UTF_8), link);
        Posix.lutimens(target, Timespec.ofSeconds(5), Timespec.ofSeconds(5));
        Posix.lutimens(link, Timespec.ofSeconds(7), new Timespec(9, 9));
        assertEquals(new Timespec(9, 9), Posix.lstat(link).mtime());
        assertEquals(Timespec.ofSeconds(5), Posix.lstat(target).mtime());
    }

    @Test
    void timespecRejectsBadNanos() {
        assertThrows(IllegalArgumentException.class, () -> new Timespec(0, 1_000_000_000));
        assertThrows(IllegalArgumentException.class, () -> new Timespec(0, -1));
    }

    @Test
    void lchownToLargestId() throws IOException {
        BytePath file = createFile(scratch.resolve("f"));
        BytePath link = scratch.resolve("link");
        Posix.symlink("f".getBytes(StandardCharsets.UTF_8), link);
        Posix.lchown(link, 4294967294L, 4294967294L);
        Stat linkStat = Posix.lstat(link);
        assertEquals(4294967294L, linkStat.uid());
        assertEquals(4294967294L, linkStat.gid());
        assertEquals(0, Posix.lstat(file).uid());
    }

    @Test
    void lchownMinusOneKeepsId() throws IOException {
        BytePath file = createFile(scratch.resolve("f"));
        Posix.lchown(file, 1000, 2000);
        Posix.lchown(file, -1, 3000);
        assertEquals(1000, Posix.lstat(file).uid());
        assertEquals(3000, Posix.lstat(file).gid());
    }

    @Test
    void lchownRejectsOutOfRangeIds() {
        BytePath file = scratch.resolve("f");
        assertThrows(IllegalArgumentException.class,
                () -> Posix.lchown(file, 4294967295L, 0));
        assertThrows(IllegalArgumentException.class, () -> Posix.lchown(file, -2, 0));
    }

    @Test
    void chmodKeepsSpecialBits() throws IOException {
        BytePath file = createFile(scratch.resolve("f"));
        Posix.chmod(file, 07755);
        assertEquals(07755, Posix.lstat(file).permissions());
        Posix.chmod(file, 0);
        assertEquals(0, Posix.lstat(file).permissions());
    }

    @Test
    void fchmodatNoFollowOnSymlinkIsUnsupported() throws IOException {
        BytePath link = scratch.resolve("link");
        Posix.symlink("anything".getBytes(StandardCharsets.UTF_8), link);
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.fchmodat(Fd.CWD, link, 0600, Posix.AT_SYMLINK_NOFOLLOW));
        assertEquals(Errno.EOPNOTSUPP, e.errno());
    }

    @Test
    void symlinkKeepsLongBinaryTarget() throws IOException {
        byte[] target = new byte[4095];
        for (int i = 0; i < target.length; i++) {
            target[i] = (byte) (i % 255 + 1);
        }
        BytePath link = scratch.resolve("link");
        Posix.symlink(target, link);
        assertArrayEquals(target, Posix.readlink(link));
        assertEquals(4095, Posix.lstat(link).size());
    }

    @Test
    void symlinkTargetOf4096BytesFails() {
        byte[] target = new byte[4096];
        Arrays.fill(target, (byte) 'a');
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.symlink(target, scratch.resolve("link")));
        assertEquals(Errno.ENAMETOOLONG, e.errno());
    }

    @Test
    void hardLinkSharesInode() throws IOException {
        BytePath first = createFile(scratch.resolve("first"));
        BytePath second = scratch.resolve("second");
        Posix.link(first, second);
        Stat a = Posix.lstat(first);
        Stat b = Posix.lstat(second);
        assertEquals(a.ino(), b.ino());
        assertEquals(2, b.nlink());
    }

    @Test
    void linkatWithoutFollowLinksTheSymlink() throws IOException {
        BytePath link = scratch.resolve("link");
        Posix.symlink("dangling".getBytes(StandardCharsets.UTF_8), link);
        Posix.linkat(Fd.CWD, link, Fd.CWD, scratch.resolve("link2"), 0);
        assertEquals(2, Posix.lstat(link).nlink());
        assertTrue(Posix.lstat(scratch.resolve("link2")).isSymlink());
    }

    @Test
    void renameNoReplaceFailsOnExisting() throws IOException {
        BytePath a = createFile(scratch.resolve("a"));
        BytePath b = createFile(scratch.resolve("b"));
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.renameat(Fd.CWD, a, Fd.CWD, b, Posix.RENAME_NOREPLACE));
        assertEquals(Errno.EEXIST, e.errno());
        Posix.rename(a, b);
        assertTrue(Posix.lstatIfExists(a).isEmpty());
    }

    @Test
    void atCallsResolveAgainstDirectory() throws IOException {
        int flags = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC;
        try (Fd dir = Posix.open(scratch.path(), flags)) {
            BytePath name = BytePath.of(NON_UTF8_NAME);
            Posix.mkdirat(dir, name, 0700);
            Posix.mknodat(dir, BytePath.of("fifo"), FileType.FIFO.mode(0600), 0);
            Posix.symlinkat(NON_UTF8_NAME, dir, BytePath.of("link"));
            assertArrayEquals(NON_UTF8_NAME, Posix.readlinkat(dir, BytePath.of("link")));
            Posix.fchownat(dir, BytePath.of("link"), 5, 6, Posix.AT_SYMLINK_NOFOLLOW);
            Stat link = Posix.fstatat(dir, BytePath.of("link"), Posix.AT_SYMLINK_NOFOLLOW);
            assertEquals(5, link.uid());
            Stat followed = Posix.fstatat(dir, BytePath.of("link"), 0);
            assertTrue(followed.isDirectory());
            Posix.unlinkat(dir, name, Posix.AT_REMOVEDIR);
            assertTrue(Posix.lstatIfExists(scratch.resolve(NON_UTF8_NAME)).isEmpty());
        }
    }

    @Test
    void atErrorsNameTheFullPath() throws IOException {
        try (Fd dir = Posix.open(scratch.path(), OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY)) {
            NoSuchEntryException e = assertThrows(NoSuchEntryException.class,
                    () -> Posix.fstatat(dir, BytePath.of("gone"), 0));
            assertEquals(scratch.resolve("gone"), e.path().orElseThrow());
        }
    }

    @Test
    void rmdirOfNonEmptyDirectoryFails() throws IOException {
        BytePath dir = scratch.resolve("d");
        Posix.mkdir(dir, 0755);
        createFile(dir.resolve("f"));
        PosixException e = assertThrows(PosixException.class, () -> Posix.rmdir(dir));
        assertEquals(Errno.ENOTEMPTY, e.errno());
    }

    @Test
    void umaskReturnsPrevious() {
        int previous = Posix.umask(027);
        try {
            assertEquals(027, Posix.umask(027));
        } finally {
            Posix.umask(previous);
        }
    }

    @Test
    void mountTmpfsAndUnmount() throws IOException {
        BytePath target = scratch.resolve("mnt");
        Posix.mkdir(target, 0755);
        long diskDevice = Posix.lstat(target).dev();
        Posix.mount(BytePath.of("tmpfs"), target, "tmpfs", MountFlags.MS_NOSUID,
                "size=1m,mode=0710");
        try {
            Stat mounted = Posix.lstat(target);
            assertNotEquals(diskDevice, mounted.dev());
            assertEquals(0710, mounted.permissions());
        } finally {
            Posix.umount2(target, 0);
        }
        assertEquals(diskDevice, Posix.lstat(target).dev());
    }

    @Test
    void mountFailureNamesTarget() {
        BytePath target = scratch.resolve("missing");
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.mount(BytePath.of("tmpfs"), target, "tmpfs", 0, null));
        assertEquals(Errno.ENOENT, e.errno());
        assertTrue(e.getMessage().startsWith("mount tmpfs tmpfs on " + target), e.getMessage());
    }

    @Test
    void deleteRecursivelyRemovesOddTree() throws IOException {
        BytePath root = scratch.resolve("tree");
        Posix.mkdir(root, 0);
        Posix.mkdir(root.resolve(NON_UTF8_NAME), 0);
        createFile(root.resolve(NON_UTF8_NAME).resolve(NON_UTF8_NAME));
        Posix.symlink("/".getBytes(StandardCharsets.UTF_8), root.resolve("to-root"));
        FileTrees.deleteRecursively(root);
        assertTrue(Posix.lstatIfExists(root).isEmpty());
    }

    @Test
    void deleteRecursivelyBeyondOpenFileLimit() throws IOException {
        int openNow = Posix.readdir(BytePath.of("/proc/self/fd")).size();
        // Room for the deletion's own descriptors and for classes loaded meanwhile, but not for
        // a descriptor per level of the tree.
        long lowered = openNow + FileTrees.OPEN_LEVELS + 64L;
        BytePath root = scratch.resolve("deep");
        Path top = root.toPath();
        Path deepest = Files.createDirectories(top.resolve("a/".repeat((int) lowered + 100)));
        Files.writeString(deepest.resolve("bottom"), "x");
        for (int i = 0; i < 20; i++) {
            // Some of these come after "a" in the listing, so they are deleted through the
            // descriptor of "deep/a" opened again after the deep part is gone.
            Files.createDirectories(top.resolve("a/sibling-" + i));
        }
        OpenFileLimit before = OpenFileLimit.current();
        new OpenFileLimit(lowered, before.hard()).apply();
        try {
            FileTrees.deleteRecursively(root);
        } finally {
            before.apply();
        }
        assertTrue(Posix.lstatIfExists(root).isEmpty());
    }

    @Test
    void deleteRecursivelyStopsAtMountPoint() throws IOException {
        BytePath root = scratch.resolve("tree");
        BytePath target = root.resolve("mnt");
        Posix.mkdir(root, 0755);
        Posix.mkdir(target, 0755);
        Posix.mount(BytePath.of("tmpfs"), target, "tmpfs", 0, "size=1m");
        try {
            createFile(target.resolve("inside"));
            IOException e = assertThrows(IOException.class,
                    () -> FileTrees.deleteRecursively(root));
            assertTrue(e.getMessage().contains("mounted"), e.getMessage());
            assertTrue(Posix.lstatIfExists(target.resolve("inside")).isPresent());
        } finally {
            Posix.umount2(target, 0);
        }
    }

    @Test
    void deleteRecursivelyStopsAtBindMount() throws IOException {
        // A bind mount of a directory of the same file system has the same st_dev.
        BytePath kept = scratch.resolve("kept");
        Posix.mkdir(kept, 0755);
        createFile(kept.resolve("file"));
        BytePath root = scratch.resolve("tree");
        BytePath target = root.resolve("bind");
        Posix.mkdir(root, 0755);
        Posix.mkdir(target, 0755);
        Posix.mount(kept, target, null, MountFlags.MS_BIND, null);
        try {
            IOException e = assertThrows(IOException.class,
                    () -> FileTrees.deleteRecursively(root));
            assertTrue(e.getMessage().contains("mounted"), e.getMessage());
        } finally {
            Posix.umount2(target, 0);
        }
        assertTrue(Posix.lstatIfExists(kept.resolve("file")).isPresent());
    }

    @Test
    void statTypesOfEveryKind() throws IOException {
        Posix.mkdir(scratch.resolve("d"), 0755);
        createFile(scratch.resolve("f"));
        Posix.symlink("f".getBytes(StandardCharsets.UTF_8), scratch.resolve("l"));
        List<FileType> types = Posix.readdir(scratch.path()).stream()
                .sorted(Arrays::compareUnsigned)
                .map(name -> {
                    try {
                        return Posix.lstat(scratch.resolve(name)).type();
                    } catch (PosixException e) {
                        throw new AssertionError(e);
                    }
                })
                .toList();
        assertEquals(List.of(FileType.DIRECTORY, FileType.REGULAR, FileType.SYMLINK), types);
        assertFalse(Posix.lstat(scratch.resolve("l")).isRegularFile());
        assertTrue(Posix.stat(scratch.resolve("l")).isRegularFile());
    }

    @Test
    void lstatCarriesNanosecondsAboveOneSecond() throws Exception {
        // The kernel passes the 32-bit nanoseconds of an EROFS inode through unchecked.
        BytePath source = scratch.resolve("source");
        Posix.mkdir(source, 0755);
        BytePath file = createFile(source.resolve("f"));
        Posix.lutimens(file, Timespec.ofSeconds(1_000_000), Timespec.ofSeconds(1_000_000));
        Path image = scratch.resolve("image.erofs").toPath();
        run("mkfs.erofs", "-Eforce-inode-extended", image.toString(), source.toString());
        setMtimeNanos(image, "/f", 0xffff_fff0);
        BytePath mountpoint = scratch.resolve("mnt");
        Posix.mkdir(mountpoint, 0755);
        run("mount", "-t", "erofs", "-o", "ro", image.toString(), mountpoint.toString());
        Stat stat;
        try {
            stat = Posix.lstat(mountpoint.resolve("f"));
        } finally {
            Posix.umount2(mountpoint, 0);
        }

        assertEquals(new Timespec(1_000_004, 294_967_280), stat.mtime());
    }

    /**
     * Writes {@code nanos} into the mtime of the extended inode at {@code path} in an EROFS
     * image, and clears the superblock checksum flag that the change would fail.
     */
    private static void setMtimeNanos(Path image, String path, int nanos)
            throws IOException, InterruptedException {
        String dump = run("dump.erofs", "--path=" + path, image.toString());
        Matcher nid = Pattern.compile("NID: (\\d+)").matcher(dump);
        assertTrue(nid.find(), dump);
        String superblock = run("dump.erofs", "-s", image.toString());
        Matcher start = Pattern.compile("inode metadata start block:\\s+(\\d+)")
                .matcher(superblock);
        assertTrue(start.find(), superblock);
        long inode = Long.parseLong(start.group(1)) * 4096 + Long.parseLong(nid.group(1)) * 32;
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(image))
                .order(ByteOrder.LITTLE_ENDIAN);
        // i_mtime_nsec is at offset 40 of struct erofs_inode_extended. Bit 0 of feature_compat,
        // at offset 8 of the superblock, is EROFS_FEATURE_COMPAT_SB_CHKSUM.
        bytes.putInt(Math.toIntExact(inode + 40), nanos);
        bytes.putInt(1024 + 8, bytes.getInt(1024 + 8) & ~1);
        Files.write(image, bytes.array());
    }

    private static String run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8);
        assertEquals(0, process.waitFor(), String.join(" ", command) + ": " + output);
        return output;
    }

    private static String statCommand(String format, BytePath path) throws IOException {
        Process process = new ProcessBuilder("stat", "-c", format, path.toPath().toString())
                .redirectErrorStream(true).start();
        try {
            String output = new String(process.getInputStream().readAllBytes(),
                    StandardCharsets.UTF_8).strip();
            assertEquals(0, process.waitFor(), output);
            return output;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }
}
