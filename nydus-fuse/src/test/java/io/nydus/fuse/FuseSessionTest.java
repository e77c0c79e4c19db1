package io.nydus.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Errno;
import io.nydus.posix.FileType;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Stat;
import io.nydus.posix.Xattrs;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/** Mounts {@link TestTree} through the real kernel and reads it with system calls and tools. */
class FuseSessionTest {

    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);
    /** Not in {@link Errno}: what requests to an aborted connection fail with. */
    private static final int ENOTCONN = 107;
    /** Not in {@link Errno}: what a request fails with when the connection aborts under it. */
    private static final int ECONNABORTED = 103;

    private final Arena arena = Arena.ofShared();
    private TempDir temp;
    private Path mountpoint;
    private BytePath root;
    private TestTree tree;
    private FuseSession session;

    @BeforeEach
    void mount() throws IOException {
        temp = TempDirs.create("fuse-session");
        // The uid 1000 test needs to reach the mount point.
        Posix.chmod(temp.bytes(), 0755);
        mountpoint = Files.createDirectory(temp.resolve("mnt"));
        root = BytePath.of(mountpoint);
        tree = new TestTree(arena);
        session = FuseSession.mount(mountpoint, tree.fileSystem, MountOptions.defaults());
    }

    @AfterEach
    void unmount() throws IOException {
        try {
            session.close();
        } finally {
            temp.close();
            arena.close();
        }
    }

    @Test
    void statOfFileCarriesAttributes() throws IOException {
        Stat stat = Posix.lstat(root.resolve("public"));

        assertEquals(tree.publicFile, stat.ino());
        assertEquals(FileType.REGULAR, stat.type());
        assertEquals(0644, stat.permissions());
        assertEquals(7, stat.size());
        assertEquals(1, stat.nlink());
        assertEquals(0, stat.uid());
        assertEquals(0, stat.gid());
        assertEquals(4096, stat.blockSize());
        assertEquals(1, stat.blocks());
        assertEquals(MemoryFileSystem.MTIME_SECONDS, stat.mtime().seconds());
        assertEquals(MemoryFileSystem.MTIME_NANOS, stat.mtime().nanos());
        assertEquals(stat.mtime(), stat.atime());
        assertEquals(stat.mtime(), stat.ctime());
    }

    @Test
    void statCommandShowsModeAndSize() throws IOException {
        CommandResult result = run("stat", "-c", "%A %s %U %i %Y", mountpoint + "/private");

        assertEquals("-rw------- 8 root " + tree.privateFile + " "
                + MemoryFileSystem.MTIME_SECONDS + "\n", result.stdoutText());
    }

    @Test
    void bigDirectoryListsAllEntries() throws IOException {
        List<byte[]> names = Posix.readdir(root.resolve("big"));

        Set<String> distinct = new HashSet<>();
        for (byte[] name : names) {
            distinct.add(new String(name, StandardCharsets.UTF_8));
        }
        assertEquals(TestTree.BIG_DIRECTORY_ENTRIES, names.size());
        assertEquals(TestTree.BIG_DIRECTORY_ENTRIES, distinct.size());
        assertTrue(distinct.contains("entry-2999"));
    }

    @Test
    void lsOfBigDirectoryShowsAttributes() throws IOException {
        CommandResult result = run("ls", "-ln", mountpoint + "/big");

        String[] lines = result.stdoutText().split("\n");
        assertEquals(TestTree.BIG_DIRECTORY_ENTRIES + 1, lines.length);
        assertTrue(lines[1].matches("-rw-r--r-- 1 0 0 +8 .* entry-0000"), lines[1]);
        assertTrue(lines[lines.length - 1].endsWith(" entry-2999"), lines[lines.length - 1]);
    }

    @Test
    void nonUtf8NameIsListedAndFound() throws IOException {
        List<byte[]> names = Posix.readdir(root);
        byte[] content = readAll(root.resolve(TestTree.NON_UTF8_NAME));

        assertTrue(names.stream().anyMatch(n -> Arrays.equals(n,
                TestTree.NON_UTF8_NAME)));
        assertArrayEquals(TestTree.bytes("not utf-8\n"), content);
    }

    @Test
    void nameOf255BytesIsFound() throws IOException {
        Stat stat = Posix.lstat(root.resolve(TestTree.LONG_NAME));

        assertEquals(10, stat.size());
    }

    @Test
    void nameOf256BytesIsRejected() {
        byte[] tooLong = new byte[256];
        Arrays.fill(tooLong, (byte) 'n');

        PosixException e = assertThrows(PosixException.class,
                () -> Posix.lstat(root.resolve(tooLong)));
        assertEquals(Errno.ENAMETOOLONG, e.errno());
    }

    @Test
    void missingNameIsNotFound() {
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.lstat(root.resolve("missing")));

        assertEquals(Errno.ENOENT, e.errno());
    }

    @Test
    void absentNameIsCachedByKernel() throws IOException {
        tree.fileSystem.setNegativeTimeout(3600);

        assertTrue(Posix.lstatIfExists(root.resolve("absent")).isEmpty());
        assertTrue(Posix.lstatIfExists(root.resolve("absent")).isEmpty());
        assertEquals(1, tree.fileSystem.missedLookups());
    }

    @Test
    void symlinkTargetOf4095Bytes() throws IOException {
        byte[] target = Posix.readlink(root.resolve("link"));
        Stat stat = Posix.lstat(root.resolve("link"));

        assertArrayEquals(TestTree.LONG_TARGET, target);
        assertEquals(FileType.SYMLINK, stat.type());
        assertEquals(4095, stat.size());
    }

    @Test
    void readlinkCommandPrintsTarget() throws IOException {
        CommandResult result = run("readlink", mountpoint + "/link");

        assertEquals(new String(TestTree.LONG_TARGET, StandardCharsets.UTF_8)
                + "\n", result.stdoutText());
    }

    @Test
    void hardlinksShareInode() throws IOException {
        Stat first = Posix.lstat(root.resolve("hard1"));
        Stat second = Posix.lstat(root.resolve("hard2"));

        assertEquals(tree.hardlinked, first.ino());
        assertEquals(first.ino(), second.ino());
        assertEquals(2, second.nlink());
    }

    @Test
    void deviceNodeCarriesNumber() throws IOException {
        Stat stat = Posix.lstat(root.resolve("null"));

        assertEquals(FileType.CHAR_DEVICE, stat.type());
        assertEquals(1, Devices.major(stat.rdev()));
        assertEquals(3, Devices.minor(stat.rdev()));
    }

    @Test
    void fifoIsFifo() throws IOException {
        assertEquals(FileType.FIFO, Posix.lstat(root.resolve("fifo")).type());
    }

    @Test
    void xattrsCarryBinaryValues() throws IOException {
        BytePath file = root.resolve("xattrs");

        List<byte[]> names = Xattrs.list(file);
        assertEquals(2, names.size());
        assertArrayEquals(TestTree.bytes("user.binary"), names.get(0));
        assertArrayEquals(TestTree.bytes("user.text"), names.get(1));
        assertArrayEquals(TestTree.BINARY_VALUE, Xattrs.get(file, "user.binary").orElseThrow());
        assertArrayEquals(TestTree.TEXT_VALUE, Xattrs.get(file, "user.text").orElseThrow());
        assertTrue(Xattrs.get(file, "user.missing").isEmpty());
    }

    @Test
    void getfattrPrintsValues() throws IOException {
        CommandResult result = run("getfattr", "-d", "-e", "hex", mountpoint + "/xattrs");

        assertTrue(result.stdoutText().contains("user.binary=0x000102fffe0078\n"),
                result.stdoutText());
        assertTrue(result.stdoutText().contains("user.text=0x68656c6c6f\n"),
                result.stdoutText());
    }

    @Test
    void xattrBufferTooSmallIsRange() {
        BytePath file = root.resolve("xattrs");

        assertEquals(7, RawXattrs.getxattr(file, "user.binary", 0));
        assertEquals(-Errno.ERANGE, RawXattrs.getxattr(file, "user.binary", 3));
        assertEquals(7, RawXattrs.getxattr(file, "user.binary", 7));
        assertEquals(22, RawXattrs.listxattr(file, 0));
        assertEquals(-Errno.ERANGE, RawXattrs.listxattr(file, 21));
        assertEquals(22, RawXattrs.listxattr(file, 22));
    }

    @Test
    void largeFileReadsBackEqual() throws IOException {
        Path expected = writeExpectedLargeFile();

        run("cmp", mountpoint + "/large", expected.toString());
        CommandResult dd = run("sh", "-c", "dd if='" + mountpoint
                + "/large' bs=1M status=none | cmp - '" + expected + "'");
        CommandResult cat = run("sh", "-c", "cat '" + mountpoint + "/large' | cmp - '" + expected
                + "'");
        assertEquals(0, dd.exitCode());
        assertEquals(0, cat.exitCode());
    }

    @Test
    void parallelReadersGetEqualBytes() throws IOException {
        Path expected = writeExpectedLargeFile();
        StringBuilder script = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            script.append("cmp '").append(mountpoint).append("/large' '").append(expected)
                    .append("' & ");
            script.append("ls -l '").append(mountpoint).append("/big' > /dev/null & ");
        }
        script.append("for job in $(jobs -p); do wait $job || exit 1; done");

        CommandResult result = run("bash", "-c", script.toString());
        assertEquals(0, result.exitCode(), result.stderrText());
    }

    @Test
    void largeFileReadAtOddOffset() throws IOException {
        long offset = 3L * 1024 * 1024 + 777;
        byte[] buffer = new byte[100_000];
        try (Fd fd = Posix.open(root.resolve("large"), OpenFlags.O_RDONLY)) {
            int count = fd.pread(buffer, 0, buffer.length, offset);

            assertEquals(buffer.length, count);
        }
        assertArrayEquals(tree.largeData.bytes(offset, buffer.length), buffer);
        assertTrue(tree.fileSystem.reads() > 0);
        assertEquals(0, tree.fileSystem.unalignedTargets());
    }

    @Test
    void writesAreReadOnlyFileSystem() throws IOException {
        CommandResult touch = runFailing("touch", mountpoint + "/new");
        CommandResult mkdir = runFailing("mkdir", mountpoint + "/dir");
        CommandResult rm = runFailing("rm", "-f", mountpoint + "/public");

        assertTrue(touch.stderrText().contains("Read-only file system"), touch.stderrText());
        assertTrue(mkdir.stderrText().contains("Read-only file system"), mkdir.stderrText());
        assertTrue(rm.stderrText().contains("Read-only file system"), rm.stderrText());
    }

    @Test
    void openForWritingIsReadOnly() {
        PosixException e = assertThrows(PosixException.class,
                () -> Posix.open(root.resolve("public"), OpenFlags.O_WRONLY).close());

        assertEquals(Errno.EROFS, e.errno());
    }

    @Test
    void otherUserReadsOnlyPublicFile() throws IOException {
        CommandResult allowed = asUser1000("cat", mountpoint + "/public");
        CommandResult denied = asUser1000("cat", mountpoint + "/private");

        assertEquals(0, allowed.exitCode(), allowed.stderrText());
        assertEquals("public\n", allowed.stdoutText());
        assertNotEquals(0, denied.exitCode());
        assertTrue(denied.stderrText().contains("Permission denied"), denied.stderrText());
    }

    @Test
    void failingReadGivesEioAndServingGoesOn() throws IOException {
        CommandResult broken = runFailing("cat", mountpoint + "/broken");
        CommandResult fine = run("cat", mountpoint + "/public");

        assertTrue(broken.stderrText().contains("Input/output error"), broken.stderrText());
        assertEquals("public\n", fine.stdoutText());
    }

    @Test
    void statfsReportsFigures() throws IOException {
        CommandResult result = run("stat", "-f", "-c", "%S %l", mountpoint.toString());

        assertEquals("4096 255\n", result.stdoutText());
    }

    @Test
    void mountinfoShowsSourceAndType() throws IOException {
        String mounts = Files.readString(Path.of("/proc/self/mounts"));

        assertTrue(mounts.contains("nydusd " + mountpoint + " fuse.nydusd ro,nosuid,nodev"),
                mounts);
    }

    @Test
    void connectionReportsAgreedValues() {
        FuseConnection connection = session.connection();

        assertEquals(7, connection.major());
        assertEquals(Protocol.MAX_MINOR, connection.minor());
        assertEquals(1 << 20, connection.maxRead());
    }

    @Test
    void readAheadIsRaised() throws IOException {
        Stat stat = Posix.stat(root);
        Path readAhead = Path.of("/sys/class/bdi",
                Devices.major(stat.dev()) + ":" + Devices.minor(stat.dev()), "read_ahead_kb");

        assertEquals("1024", Files.readString(readAhead).trim());
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void umountFromOutsideEndsSession() throws Exception {
        run("umount", mountpoint.toString());

        session.awaitUnmount();
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void closeLeavesNoMount() throws IOException, InterruptedException {
        session.close();

        assertFalse(TempDirs.isMountPoint(mountpoint));
        session.awaitUnmount();
        session.close();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void closeOfBusyMountDetachesIt() throws IOException {
        try (Fd open = Posix.open(root.resolve("public"), OpenFlags.O_RDONLY)) {
            session.close();

            assertFalse(TempDirs.isMountPoint(mountpoint));
            PosixException e = assertThrows(PosixException.class,
                    () -> open.pread(new byte[16], 0, 16, 0));
            assertTrue(e.errno() == ENOTCONN || e.errno() == Errno.EIO, e.getMessage());
        }
    }

    @Test
    void secondMountServesBesideFirst() throws IOException {
        Path second = Files.createDirectory(temp.resolve("second"));
        MemoryFileSystem other = new MemoryFileSystem();
        other.file(FuseFileSystem.ROOT, TestTree.bytes("only-here"), 0644, 0, 0,
                new MemoryFileSystem.ArrayData(TestTree.bytes("other\n")));

        try (FuseSession secondSession = FuseSession.mount(second, other,
                MountOptions.defaults().withName("other", "").withWorkers(1))) {
            assertEquals("other\n", run("cat", second + "/only-here").stdoutText());
            assertEquals("public\n", run("cat", mountpoint + "/public").stdoutText());
            assertTrue(TempDirs.isMountPoint(second));
        }
        assertFalse(TempDirs.isMountPoint(second));
        assertTrue(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void mountOnMissingDirectoryNamesIt() {
        Path missing = temp.resolve("missing");

        IOException e = assertThrows(IOException.class,
                () -> FuseSession.mount(missing, tree.fileSystem, MountOptions.defaults()));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("ENOENT"), e.getMessage());
    }

    @Test
    void evictedInodesAreForgotten() throws IOException {
        Path single = Files.createDirectory(temp.resolve("single"));
        TestTree other = new TestTree(arena);
        long first;
        try (FuseSession oneWorker = FuseSession.mount(single, other.fileSystem,
                MountOptions.defaults().withWorkers(1))) {
            run("ls", "-l", single + "/big");
            first = Posix.lstat(BytePath.of(single).resolve("big/entry-0000")).ino();
            long before = other.fileSystem.lookupCount(first);

            // Eviction queues FORGET requests, which the kernel hands to the only worker before
            // the requests that wait. Some inodes leave the cache only after drop_caches returns,
            // so each round drops the caches again and makes one request.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            do {
                Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "2");
                Posix.lstatIfExists(BytePath.of(single).resolve("no-such-name"));
            } while (other.fileSystem.lookupCount(first) + other.fileSystem.lookupCount(
                    first + 2999) > 0 && System.nanoTime() < deadline);
            assertTrue(before > 0, "lookups before eviction: " + before);
            assertEquals(0, other.fileSystem.lookupCount(first));
            assertEquals(0, other.fileSystem.lookupCount(first + 2999));
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void lastWorkerFailingAbortsMount() throws Exception {
        Path single = Files.createDirectory(temp.resolve("failing"));
        TestTree other = new TestTree(arena);
        other.fileSystem.failReads(other.publicFile, new InternalError("test error in read"));
        try (FuseSession oneWorker = FuseSession.mount(single, other.fileSystem,
                MountOptions.defaults().withWorkers(1))) {
            CommandResult cat = runFailing("cat", single + "/public");

            oneWorker.awaitUnmount();
            // The read gets EIO before the worker stops, unless the kernel sends it again
            // after a failed read-ahead and finds no worker.
            assertTrue(cat.stderrText().contains("Input/output error")
                    || cat.stderrText().contains("Software caused connection abort")
                    || cat.stderrText().contains("not connected"), cat.stderrText());
            CommandResult after = runFailing("cat", single + "/private");
            assertTrue(after.stderrText().contains("Software caused connection abort")
                    || after.stderrText().contains("not connected"), after.stderrText());
        }
        assertFalse(TempDirs.isMountPoint(single));
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void linkageErrorGivesEioAndWorkerGoesOn() throws Exception {
        Path oneWorkerMount = Files.createDirectory(temp.resolve("linkage-error"));
        TestTree other = new TestTree(arena);
        other.fileSystem.failReads(other.privateFile,
                new NoSuchMethodError("test error in read"));
        try (FuseSession oneWorker = FuseSession.mount(oneWorkerMount, other.fileSystem,
                MountOptions.defaults().withWorkers(1))) {
            CommandResult first = runFailing("cat", oneWorkerMount + "/private");
            CommandResult second = runFailing("cat", oneWorkerMount + "/private");
            CommandResult served = run("cat", oneWorkerMount + "/public");

            assertTrue(first.stderrText().contains("Input/output error"), first.stderrText());
            assertTrue(second.stderrText().contains("Input/output error"),
                    second.stderrText());
            assertEquals("public\n", served.stdoutText());
        }
        assertFalse(TempDirs.isMountPoint(oneWorkerMount));
    }

    private Path writeExpectedLargeFile() throws IOException {
        Path expected = temp.resolve("large.expected");
        Files.write(expected, tree.largeData.bytes(0, (int) TestTree.LARGE_FILE_SIZE));
        return expected;
    }

    @Test
    @Timeout(60)
    void inflightListsReadUntilItIsAnswered() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        tree.fileSystem.holdReads(tree.publicFile, gate);
        long before = System.currentTimeMillis() / 1000;
        Thread reader = Thread.ofPlatform().start(() -> {
            try {
                readAll(root.resolve("public"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });

        InflightRequest read = awaitInflightRead(true);
        gate.countDown();
        reader.join();

        assertEquals(tree.publicFile, read.nodeId());
        assertTrue(read.unique() > 0, "unique " + read.unique());
        assertTrue(read.startedEpochSecond() >= before, "started " + read.startedEpochSecond());
        assertEquals(null, awaitInflightRead(false));
    }

    @Test
    void entryInvalidationDropsAbsentName() throws IOException {
        tree.fileSystem.setNegativeTimeout(3600);
        BytePath later = root.resolve("later");
        assertTrue(Posix.lstatIfExists(later).isEmpty());

        tree.fileSystem.setHidden(tree.hiddenFile, false);
        boolean cachedAbsent = Posix.lstatIfExists(later).isEmpty();
        boolean received = session.invalidateEntry(FuseFileSystem.ROOT, TestTree.bytes("later"));
        Stat found = Posix.lstat(later);

        assertTrue(cachedAbsent, "the kernel did not cache the absent name");
        assertTrue(received);
        assertEquals(tree.hiddenFile, found.ino());
    }

    @Test
    void inodeInvalidationDropsAttributes() throws IOException {
        tree.fileSystem.setAttrTimeout(3600);
        assertEquals(MemoryFileSystem.MTIME_SECONDS, Posix.stat(root).mtime().seconds());

        tree.fileSystem.setMtime(FuseFileSystem.ROOT, MemoryFileSystem.MTIME_SECONDS + 60);
        long cachedMtime = Posix.stat(root).mtime().seconds();
        boolean received = session.invalidateInode(FuseFileSystem.ROOT);
        long mtime = Posix.stat(root).mtime().seconds();

        assertEquals(MemoryFileSystem.MTIME_SECONDS, cachedMtime);
        assertTrue(received);
        assertEquals(MemoryFileSystem.MTIME_SECONDS + 60, mtime);
    }

    @Test
    void cachedListingLastsUntilInvalidated() throws IOException {
        assertFalse(rootNames().contains("later"));

        tree.fileSystem.setHidden(tree.hiddenFile, false);
        List<String> cached = rootNames();
        boolean received = session.invalidateInode(FuseFileSystem.ROOT);
        List<String> listed = rootNames();

        assertFalse(cached.contains("later"), "the kernel did not cache the listing");
        assertTrue(received);
        assertTrue(listed.contains("later"), listed.toString());
    }

    @Test
    void uncacheableListingShowsChangeAtOnce() throws IOException {
        tree.fileSystem.setListingsCacheable(false);
        assertFalse(rootNames().contains("later"));

        tree.fileSystem.setHidden(tree.hiddenFile, false);

        assertTrue(rootNames().contains("later"));
    }

    @Test
    void invalidationAfterCloseIsNotSent() throws IOException {
        session.close();

        assertFalse(session.invalidateInode(FuseFileSystem.ROOT));
        assertFalse(session.invalidateEntry(FuseFileSystem.ROOT, TestTree.bytes("later")));
    }

    @Test
    void invalidationFromWorkerIsRejected() throws IOException {
        List<RuntimeException> failures = new CopyOnWriteArrayList<>();
        tree.fileSystem.runOnRead(tree.publicFile, () -> {
            try {
                tree.fileSystem.notifier().invalidateInode(FuseFileSystem.ROOT);
            } catch (IllegalStateException e) {
                failures.add(e);
            }
        });

        byte[] content = readAll(root.resolve("public"));

        assertArrayEquals(TestTree.bytes("public\n"), content);
        assertEquals(1, failures.size());
        assertTrue(failures.getFirst().getMessage().contains("worker"),
                failures.getFirst().getMessage());
    }

    @Test
    void invalidEntryNamesAreRejected() {
        byte[] tooLong = new byte[256];
        Arrays.fill(tooLong, (byte) 'n');
        List<byte[]> names = List.of(new byte[0], TestTree.bytes("a/b"), new byte[] {'a', 0},
                tooLong);

        for (byte[] name : names) {
            assertThrows(IllegalArgumentException.class,
                    () -> session.invalidateEntry(FuseFileSystem.ROOT, name),
                    BytePath.escape(name));
        }
    }

    private List<String> rootNames() throws IOException {
        List<String> names = new ArrayList<>();
        for (byte[] name : Posix.readdir(root)) {
            names.add(new String(name, StandardCharsets.UTF_8));
        }
        return names;
    }

    @Test
    @Timeout(60)
    void closeAbandonsReadThatStalls() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        tree.fileSystem.holdReads(tree.publicFile, gate);
        CompletableFuture<Integer> readerErrno = CompletableFuture.supplyAsync(() -> {
            try {
                readAll(root.resolve("public"));
                return 0;
            } catch (PosixException e) {
                return e.errno();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, command -> Thread.ofPlatform().daemon().start(command));
        InflightRequest read = awaitInflightRead(true);

        ListAppender<ILoggingEvent> logs = captureLogs();
        long start = System.nanoTime();
        session.close();
        Duration closing = Duration.ofNanos(System.nanoTime() - start);
        gate.countDown();
        awaitInflightRead(false);
        detachLogs(logs);

        assertTrue(closing.compareTo(FuseSession.STOP_TIMEOUT) >= 0, "closed in " + closing);
        assertTrue(closing.compareTo(FuseSession.STOP_TIMEOUT.plusSeconds(3)) < 0,
                "closed in " + closing);
        String expected = "READ of inode " + tree.publicFile + " (request " + read.unique();
        assertTrue(messages(logs, Level.WARN).stream().anyMatch(m -> m.contains(expected)),
                messages(logs, Level.WARN).toString());
        assertEquals(List.of(), messages(logs, Level.ERROR));
        int errno = readerErrno.get(10, TimeUnit.SECONDS);
        assertTrue(errno == ENOTCONN || errno == ECONNABORTED, "reader errno " + errno);
        assertFalse(TempDirs.isMountPoint(mountpoint));
        session.awaitUnmount();
    }

    @Test
    @Timeout(90)
    void closeAbortsConnectionWhenInvalidationStaysHeld() throws Exception {
        withControlFileSystem(() -> {
            CountDownLatch gate = new CountDownLatch(1);
            tree.fileSystem.holdLookups(TestTree.bytes("held"), gate);
            // The lookup holds the root's lock in the kernel, which the invalidation needs.
            CompletableFuture<Integer> lookupErrno = onDaemonThread(() -> {
                try {
                    Posix.stat(root.resolve("held"));
                    return 0;
                } catch (PosixException e) {
                    return e.errno();
                }
            });
            awaitInflight(Protocol.LOOKUP);
            CompletableFuture<Boolean> invalidation = onDaemonThread(
                    () -> session.invalidateEntry(FuseFileSystem.ROOT, TestTree.bytes("other")));
            while (session.invalidationsInFlight() == 0) {
                Thread.sleep(10);
            }

            ListAppender<ILoggingEvent> logs = captureLogs();
            session.close();
            gate.countDown();
            detachLogs(logs);

            invalidation.get(10, TimeUnit.SECONDS);
            int errno = lookupErrno.get(10, TimeUnit.SECONDS);
            assertTrue(errno == ENOTCONN || errno == ECONNABORTED, "lookup errno " + errno);
            assertTrue(messages(logs, Level.WARN).stream()
                    .anyMatch(m -> m.startsWith("Aborted the FUSE connection of " + mountpoint)),
                    messages(logs, Level.WARN).toString());
            assertFalse(TempDirs.isMountPoint(mountpoint));
        });
    }

    @Test
    @Timeout(60)
    void abortFromOutsideEndsSessionAndCloseUnmounts() throws Exception {
        withControlFileSystem(() -> {
            Stat stat = Posix.stat(root);
            String number = Devices.major(stat.dev()) + ":" + Devices.minor(stat.dev());
            ListAppender<ILoggingEvent> logs = captureLogs();
            Files.writeString(FuseSession.controlFile(number, "abort"), "1");

            session.awaitUnmount();
            detachLogs(logs);
            assertTrue(messages(logs, Level.WARN).stream()
                    .anyMatch(m -> m.startsWith("FUSE connection of " + mountpoint
                            + " was aborted")), messages(logs, Level.WARN).toString());
            assertTrue(TempDirs.isMountPoint(mountpoint));

            session.close();
            assertFalse(TempDirs.isMountPoint(mountpoint));
        });
    }

    /** A test step that may throw. */
    private interface Step {
        void run() throws Exception;
    }

    /** Runs {@code step} with the FUSE control file system mounted, as this machine may not. */
    private static void withControlFileSystem(Step step) throws Exception {
        Path connections = Path.of("/sys/fs/fuse/connections");
        boolean mountedHere = !TempDirs.isMountPoint(connections);
        if (mountedHere) {
            run("mount", "-t", "fusectl", "none", connections.toString());
        }
        try {
            step.run();
        } finally {
            if (mountedHere) {
                Posix.umount2(BytePath.of(connections), 0);
            }
        }
    }

    private static <T> CompletableFuture<T> onDaemonThread(Callable<T> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                result.complete(task.call());
            } catch (Exception e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    private void awaitInflight(int opcode) throws InterruptedException {
        while (session.inflight().stream().noneMatch(request -> request.opcode() == opcode)) {
            Thread.sleep(10);
        }
    }

    /** Starts collecting what this package's loggers log at their configured levels. */
    private static ListAppender<ILoggingEvent> captureLogs() {
        Logger logger = (Logger) LoggerFactory.getLogger("io.nydus.fuse");
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        return appender;
    }

    private static void detachLogs(ListAppender<ILoggingEvent> appender) {
        ((Logger) LoggerFactory.getLogger("io.nydus.fuse")).detachAppender(appender);
    }

    private static List<String> messages(ListAppender<ILoggingEvent> appender, Level level) {
        return appender.list.stream().filter(event -> event.getLevel() == level)
                .map(ILoggingEvent::getFormattedMessage).toList();
    }

    /** Polls until a READ is in flight (returns it) or until none is (returns null). */
    private InflightRequest awaitInflightRead(boolean present) throws InterruptedException {
        while (true) {
            InflightRequest read = session.inflight().stream()
                    .filter(request -> request.opcode() == Protocol.READ)
                    .findFirst().orElse(null);
            if ((read != null) == present) {
                return read;
            }
            Thread.sleep(10);
        }
    }

    private static byte[] readAll(BytePath path) throws IOException {
        try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY)) {
            byte[] buffer = new byte[4096];
            int count = fd.read(buffer, 0, buffer.length);
            return Arrays.copyOf(buffer, count);
        }
    }

    private static CommandResult run(String... argv) throws IOException {
        return Commands.run(List.of(argv), COMMAND_TIMEOUT);
    }

    private static CommandResult runFailing(String... argv) throws IOException {
        CommandResult result =
                Commands.runAllowingFailure(List.of(argv), COMMAND_TIMEOUT, new byte[0]);
        assertNotEquals(0, result.exitCode(), "expected " + String.join(" ", argv) + " to fail");
        return result;
    }

    private static CommandResult asUser1000(String... argv) throws IOException {
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=1000",
                "--regid=1000", "--clear-groups"));
        command.addAll(List.of(argv));
        return Commands.runAllowingFailure(command, COMMAND_TIMEOUT, new byte[0]);
    }
}
