package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.nydus.builder.BuildResult;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.Posix;
import io.nydus.posix.UnixSockets;
import io.nydus.registry.LogCapture;
import io.nydus.testkit.SupervisorSockets;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Slots of images unmounted from a shared daemon on a real FUSE mount: they are reused once the
 * kernel has forgotten their node ids, and not while it refers to any.
 */
class SlotReuseTest {
    /** Larger than the kernel's read-ahead, so that a read at its end reaches the daemon. */
    private static final int DATA_SIZE = 4 << 20;
    private static final long FAR_OFFSET = 3 << 20;
    /**
     * Runs the supervisor's side and the readers apart from the common pool, which may have a
     * single thread.
     */
    private static final ExecutorService BACKGROUND = Executors.newCachedThreadPool(
            Thread.ofPlatform().daemon().factory());
    private static TempDir work;
    private static Image alpha;
    private static Image beta;
    /** An image with the file {@code deep/er/data} as well. */
    private static Image nested;

    /** A built image whose files "hello" and "data" hold its own bytes. */
    private record Image(Path bootstrap, DaemonConfig config, byte fill) {
    }

    @BeforeAll
    static void build() throws IOException {
        work = TempDirs.create("slot-reuse-");
        alpha = image("alpha", (byte) 'A');
        beta = image("beta", (byte) 'B');
        nested = image("nested", (byte) 'N', "deep/er/data");
    }

    @AfterAll
    static void remove() throws IOException {
        work.close();
    }

    private static Image image(String name, byte fill, String... nestedFiles)
            throws IOException {
        Path source = Files.createDirectories(work.resolve(name + "-source"));
        Files.writeString(source.resolve("hello"), name);
        byte[] data = new byte[DATA_SIZE];
        java.util.Arrays.fill(data, fill);
        Files.write(source.resolve("data"), data);
        for (String file : nestedFiles) {
            Path path = source.resolve(file);
            Files.createDirectories(path.getParent());
            Files.write(path, data);
        }
        BuildResult built = TestImages.build(source, work.resolve(name + "-image"));
        String json = "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\": {\"dir\": \""
                + work.resolve(name + "-image/blobs") + "\"}}, \"cache\": {\"type\":"
                + " \"blobcache\", \"config\": {\"work_dir\": \"" + work.resolve("cache-" + name)
                + "\"}}}, \"mode\": \"direct\", \"digest_validate\": false,"
                + " \"fs_prefetch\": {\"enable\": false}}";
        return new Image(built.bootstrapFile(), DaemonConfig.parse(name, json), fill);
    }

    private static MountOptions options() {
        return new MountOptions("nydusd", "nydusd", 4, MountOptions.DEFAULT_READ_AHEAD_KIB);
    }

    /**
     * Has the kernel evict what it caches of {@code mnt} until {@code done} is true, at most
     * 30 s. Eviction queues FORGET requests, and some inodes leave the cache only after
     * drop_caches returns, so each round drops the caches again and makes one request.
     */
    private static void evictUntil(Path mnt, BooleanSupplier done) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        do {
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "2");
            Posix.lstatIfExists(BytePath.of(mnt.resolve("no-such-name")));
        } while (!done.getAsBoolean() && System.nanoTime() < deadline);
    }

    /** Evicts the kernel's caches of {@code mnt} in 20 rounds, enough to forget unused nodes. */
    private static void evict(Path mnt) throws IOException {
        int[] rounds = {0};
        evictUntil(mnt, () -> ++rounds[0] >= 20);
    }

    /** A shared daemon served over a FUSE mount at {@code mnt}. */
    private record SharedMount(Path mnt, Daemon daemon, FuseSession session)
            implements AutoCloseable {

        static SharedMount start(String name) throws IOException {
            Path mnt = Files.createDirectories(work.resolve("mnt-" + name));
            Daemon daemon = new Daemon(name, true, StorageImageData::open);
            try {
                FuseSession session = FuseSession.mount(mnt, daemon.vfs(), options());
                daemon.running(mnt.toString());
                return new SharedMount(mnt, daemon, session);
            } catch (IOException | RuntimeException e) {
                daemon.close();
                throw e;
            }
        }

        Vfs vfs() {
            return daemon.vfs();
        }

        int mount(String path, Image image) throws IOException {
            daemon.mount(path, image.bootstrap(), image.config(), List.of());
            return daemon.slotOf(path);
        }

        /** Returns the names in the directory at {@code path} below the mount, sorted. */
        List<String> list(String path) throws IOException {
            return Posix.readdir(BytePath.of(mnt.resolve(path))).stream()
                    .map(String::new).sorted().toList();
        }

        /** Returns the slot in the node id of the file at {@code path} below the mount. */
        long slotOfInode(String path) throws IOException {
            return Posix.stat(BytePath.of(mnt.resolve(path))).ino() >>> Vfs.SLOT_SHIFT;
        }

        void evictUntil(BooleanSupplier done) throws IOException {
            SlotReuseTest.evictUntil(mnt, done);
        }

        @Override
        public void close() throws IOException {
            try (daemon; session) {
                // Closes the mount, then the daemon.
            }
        }
    }

    @Test
    void forgottenSlotGoesToNextMount() throws IOException {
        try (SharedMount shared = SharedMount.start("reuse")) {
            int first = shared.mount("/first", alpha);
            int second = shared.mount("/second", alpha);
            String secondHello = Files.readString(shared.mnt().resolve("second/hello"));
            // Listings at position 0 are readdirplus, whose entries count as lookups.
            List<String> secondListing = shared.list("second");
            List<String> rootListing = shared.list("");
            long lookupsBeforeUmount = shared.vfs().lookupsInSlot(second);
            shared.daemon().umount("/second");
            shared.evictUntil(() -> shared.vfs().freeSlots().contains(second));
            Set<Integer> freeAfterForget = shared.vfs().freeSlots();
            int third = shared.mount("/third", beta);

            assertEquals(1, first);
            assertEquals(2, second);
            assertEquals("alpha", secondHello);
            assertEquals(List.of("data", "hello"), secondListing);
            assertEquals(List.of("first", "second"), rootListing);
            assertTrue(lookupsBeforeUmount > 0, "lookups " + lookupsBeforeUmount);
            assertEquals(Set.of(2), freeAfterForget);
            assertEquals(2, third);
            assertEquals(2, shared.slotOfInode("third/hello"));
            assertEquals("beta", Files.readString(shared.mnt().resolve("third/hello")));
            assertEquals(Set.of(), shared.vfs().freeSlots());
            assertEquals(3, shared.daemon().nextSlot());
            assertEquals(0, shared.vfs().forgetMismatches());
        }
    }

    @Test
    void openFileKeepsSlotRetired() throws IOException {
        try (SharedMount shared = SharedMount.start("open")) {
            int retained = shared.mount("/kept", alpha);
            FileChannel open = FileChannel.open(shared.mnt().resolve("kept/data"),
                    StandardOpenOption.READ);
            byte firstByte;
            int other;
            try (open) {
                firstByte = readByte(open, 0);
                shared.daemon().umount("/kept");
                evict(shared.mnt());
                other = shared.mount("/other", beta);

                assertEquals('A', firstByte);
                assertFalse(shared.vfs().freeSlots().contains(retained));
                assertTrue(shared.vfs().lookupsInSlot(retained) > 0);
                assertEquals(2, other);
                IOException e = assertThrows(IOException.class,
                        () -> readByte(open, FAR_OFFSET));
                assertTrue(e.getMessage().contains("No such file or directory"),
                        e.getMessage());
            }
            shared.evictUntil(() -> shared.vfs().freeSlots().contains(retained));
            Set<Integer> freeAfterClose = shared.vfs().freeSlots();
            int reused = shared.mount("/reused", beta);

            assertEquals(Set.of(retained), freeAfterClose);
            assertEquals(retained, reused);
            assertEquals(retained, shared.slotOfInode("reused/data"));
            try (FileChannel data = FileChannel.open(shared.mnt().resolve("reused/data"),
                    StandardOpenOption.READ)) {
                assertEquals('B', readByte(data, FAR_OFFSET));
            }
            assertEquals(0, shared.vfs().forgetMismatches());
        }
    }

    @Test
    void closedFileFreesRetiredSlot() throws Exception {
        try (SharedMount shared = SharedMount.start("closed")) {
            int retired = shared.mount("/gone", nested);
            boolean freeWhileOpen;
            try (FileChannel open = FileChannel.open(shared.mnt().resolve("gone/deep/er/data"),
                    StandardOpenOption.READ)) {
                assertEquals('N', readByte(open, 0));
                shared.daemon().umount("/gone");
                freeWhileOpen = shared.vfs().freeSlots().contains(retired);
            }
            // No cache eviction here: the close alone has to make the kernel forget the nodes.
            boolean freedAfterClose = awaitFree(shared, retired);
            int reused = shared.mount("/next", beta);

            assertFalse(freeWhileOpen);
            assertTrue(freedAfterClose, "lookups left in slot " + retired + ": "
                    + shared.vfs().lookupsInSlot(retired));
            assertEquals(retired, reused);
            assertEquals("beta", Files.readString(shared.mnt().resolve("next/hello")));
            assertEquals(0, shared.vfs().forgetMismatches());
        }
    }

    @Test
    void churnWithOpenFilesReusesSlots() throws Exception {
        try (SharedMount shared = SharedMount.start("churn")) {
            List<String> hellos = new ArrayList<>();
            // Each image is unmounted while one of its files is open, then the file is closed.
            for (int i = 0; i < 300; i++) {
                Image image = i % 2 == 0 ? alpha : nested;
                shared.mount("/churn", image);
                try (FileChannel open = FileChannel.open(shared.mnt().resolve("churn/hello"),
                        StandardOpenOption.READ)) {
                    ByteBuffer buffer = ByteBuffer.allocate(16);
                    open.read(buffer, 0);
                    hellos.add(new String(buffer.array(), 0, buffer.position(),
                            StandardCharsets.UTF_8));
                    shared.daemon().umount("/churn");
                }
            }
            int handedOut = shared.daemon().nextSlot() - 1;
            boolean allFreed = awaitAllFree(shared, handedOut);

            assertTrue(handedOut <= 16, "slots handed out: " + handedOut);
            assertTrue(allFreed, "free slots " + shared.vfs().freeSlots() + " of " + handedOut);
            for (int i = 0; i < hellos.size(); i++) {
                assertEquals(i % 2 == 0 ? "alpha" : "nested", hellos.get(i), "mount " + i);
            }
            assertEquals(0, shared.vfs().forgetMismatches());
        }
    }

    /** Waits up to 30 s, without evicting caches, until slots 1 to {@code count} are free. */
    private static boolean awaitAllFree(SharedMount shared, int count)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (shared.vfs().freeSlots().size() < count) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /** Waits up to 30 s, without evicting caches, until slot {@code index} is free. */
    private static boolean awaitFree(SharedMount shared, int index) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!shared.vfs().freeSlots().contains(index)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    @Test
    void readsOfUnmountedImageLogOnce() throws Exception {
        List<Integer> errnos = new ArrayList<>();
        List<String> errors;
        List<String> unmountedReads;
        try (Daemon daemon = new Daemon("closing", true, StorageImageData::open);
                LogCapture log = new LogCapture("io.nydus")) {
            MountedImage image = daemon.mount("/closing", alpha.bootstrap(), alpha.config(),
                    List.of());
            long data = image.fs().lookup(FuseFileSystem.ROOT,
                    "data".getBytes(StandardCharsets.UTF_8)).attr().inode();
            // A FUSE worker that routed its read before the unmount reaches the image after it.
            daemon.umount("/closing");
            for (long offset : new long[] {0, FAR_OFFSET, 0}) {
                errnos.add(readErrno(image.fs(), data, offset));
            }
            errors = log.messages(Level.ERROR);
            unmountedReads = log.messages(Level.INFO).stream()
                    .filter(message -> message.contains("was unmounted while")).toList();
        }

        assertEquals(List.of(Errno.EIO, Errno.EIO, Errno.EIO), errnos);
        assertEquals(List.of(), errors);
        assertEquals(1, unmountedReads.size(), unmountedReads.toString());
        assertTrue(unmountedReads.getFirst().startsWith("image /closing ("),
                unmountedReads.getFirst());
    }

    /** Reads 4 KiB of node {@code inode} at {@code offset} and returns the errno it failed with. */
    private static int readErrno(RafsFileSystem fs, long inode, long offset) {
        try (Arena arena = Arena.ofConfined()) {
            FuseException e = assertThrows(FuseException.class,
                    () -> fs.read(inode, 0, offset, arena.allocate(4096)));
            return e.errno();
        }
    }

    @Test
    void successorNeverReusesPredecessorSlots() throws Exception {
        Path mnt = Files.createDirectories(work.resolve("mnt-takeover"));
        Path supervisor = work.resolve("supervisor.sock");
        Daemon first = new Daemon("first", true, StorageImageData::open);
        FuseService firstService = new FuseService(first, mnt, options(), supervisor,
                FuseService.FailoverPolicy.RESEND);
        Daemon second = new Daemon("second", true, StorageImageData::open);
        FuseService secondService = new FuseService(second, mnt, options(), supervisor,
                FuseService.FailoverPolicy.RESEND);
        UnixSockets.Message handed = null;
        try (first; second) {
            firstService.mount();
            for (String name : List.of("a", "b", "c")) {
                first.mount("/" + name, alpha.bootstrap(), alpha.config(), List.of());
                Files.readString(mnt.resolve(name + "/hello"));
            }
            first.umount("/c");
            evictUntil(mnt, () -> first.vfs().freeSlots().contains(3));
            Set<Integer> freeInFirst = first.vfs().freeSlots();
            CompletableFuture<UnixSockets.Message> states = SupervisorSockets.receiveStates(
                    supervisor, Duration.ofMinutes(1), BACKGROUND);
            firstService.sendStates();
            handed = states.get(60, TimeUnit.SECONDS);
            first.requestExitForSuccessor();
            firstService.close();
            boolean mountStays = TempDirs.isMountPoint(mnt);

            CompletableFuture<Void> served = SupervisorSockets.serveStates(supervisor, handed,
                    Duration.ofMinutes(1), BACKGROUND);
            secondService.takeover();
            served.get(60, TimeUnit.SECONDS);
            secondService.start();
            String restoredHello = Files.readString(mnt.resolve("a/hello"));
            second.umount("/b");
            evict(mnt);
            second.mount("/d", beta.bootstrap(), beta.config(), List.of());
            int fresh = second.slotOf("/d");
            Set<Integer> freeWithRetiredRestored = second.vfs().freeSlots();
            second.umount("/d");
            evictUntil(mnt, () -> second.vfs().freeSlots().contains(fresh));
            second.mount("/e", beta.bootstrap(), beta.config(), List.of());

            assertEquals(Set.of(3), freeInFirst);
            assertTrue(mountStays, "the first daemon's exit removed the mount");
            assertEquals("alpha", restoredHello);
            assertEquals(4 + FuseService.UNSENT_SLOTS, fresh);
            assertEquals(Set.of(), freeWithRetiredRestored);
            assertEquals(fresh, second.slotOf("/e"));
            assertEquals(fresh, Posix.stat(BytePath.of(mnt.resolve("e/hello"))).ino()
                    >>> Vfs.SLOT_SHIFT);
            assertEquals("beta", Files.readString(mnt.resolve("e/hello")));
            assertEquals(Set.of(), second.vfs().freeSlots());
            assertEquals(0, second.vfs().forgetMismatches());
        } finally {
            try (secondService) {
                if (handed != null) {
                    handed.closeDescriptors();
                }
            }
        }
    }

    @Test
    void readsDuringRemountsNeverMixImages() throws Exception {
        try (SharedMount shared = SharedMount.start("race")) {
            AtomicBoolean done = new AtomicBoolean();
            AtomicLong completed = new AtomicLong();
            AtomicLong failed = new AtomicLong();
            List<Future<List<String>>> readers = List.of(
                    BACKGROUND.submit(() -> readUntil(shared.mnt(), done, completed, failed)),
                    BACKGROUND.submit(() -> readUntil(shared.mnt(), done, completed, failed)));
            try {
                for (int n = 0; n < 3; n++) {
                    shared.mount("/race" + n, alpha);
                }
                // Each name gets the other image on its next mount, in a slot that may be reused,
                // while the other two names stay mounted.
                for (int i = 0; i < 600; i++) {
                    String name = "/race" + (i % 3);
                    shared.daemon().umount(name);
                    shared.mount(name, (i / 3) % 2 == 0 ? beta : alpha);
                }
            } finally {
                done.set(true);
            }
            List<String> mixed = new ArrayList<>();
            for (Future<List<String>> reader : readers) {
                mixed.addAll(reader.get(5, TimeUnit.MINUTES));
            }

            assertEquals(List.of(), mixed);
            assertTrue(completed.get() + failed.get() > 0, "no read was tried");
            assertEquals(0, shared.vfs().forgetMismatches());
        }
    }

    /**
     * Reads the data file under each mount name until {@code done}, and returns the reads
     * that saw bytes of both images. Completed and failed reads, such as those that an
     * unmount ends, are counted.
     */
    private static List<String> readUntil(Path mnt, AtomicBoolean done, AtomicLong completed,
            AtomicLong failed) {
        List<String> mixed = new ArrayList<>();
        ByteBuffer buffer = ByteBuffer.allocate(DATA_SIZE);
        while (!done.get()) {
            for (int n = 0; n < 3; n++) {
                Path data = mnt.resolve("race" + n + "/data");
                buffer.clear();
                try (FileChannel channel = FileChannel.open(data, StandardOpenOption.READ)) {
                    while (buffer.hasRemaining() && channel.read(buffer) > 0) {
                        // A read may return fewer bytes than requested, so it goes on to the end.
                    }
                } catch (IOException e) {
                    failed.incrementAndGet();
                    continue;
                }
                completed.incrementAndGet();
                String fills = fills(buffer);
                if (fills.length() > 1) {
                    mixed.add(data + " held bytes " + fills);
                }
            }
        }
        return mixed;
    }

    /** Returns the distinct byte values of what {@code buffer} holds, in order of appearance. */
    private static String fills(ByteBuffer buffer) {
        StringBuilder seen = new StringBuilder();
        for (int i = 0; i < buffer.position(); i++) {
            char value = (char) buffer.get(i);
            if (seen.indexOf(String.valueOf(value)) < 0) {
                seen.append(value);
            }
        }
        return seen.toString();
    }

    @Test
    void thousandsOfMountsKeepSlotsBounded() throws IOException {
        try (SharedMount shared = SharedMount.start("soak")) {
            // The first mounts start the pools and caches that later mounts share.
            mountReadUnmount(shared, 50);
            long fdsBefore = countEntries(Path.of("/proc/self/fd"));
            long threadsBefore = countEntries(Path.of("/proc/self/task"));
            int slotsBefore = shared.daemon().nextSlot();
            mountReadUnmount(shared, 3000);
            long fdsAfter = countEntries(Path.of("/proc/self/fd"));
            long threadsAfter = countEntries(Path.of("/proc/self/task"));
            int slotsAfter = shared.daemon().nextSlot();

            assertTrue(slotsAfter <= slotsBefore + 8, "slots before " + slotsBefore
                    + ", after " + slotsAfter);
            assertTrue(fdsAfter <= fdsBefore + 4, "fds before " + fdsBefore + ", after "
                    + fdsAfter);
            assertTrue(threadsAfter <= threadsBefore + 4, "threads before " + threadsBefore
                    + ", after " + threadsAfter);
            assertEquals(0, shared.vfs().forgetMismatches());
        }
    }

    /**
     * Mounts an image, reads a file, lists the image and the root, and unmounts the image,
     * {@code count} times, under four names in turn.
     */
    private static void mountReadUnmount(SharedMount shared, int count) throws IOException {
        for (int i = 0; i < count; i++) {
            String name = "soak" + (i % 4);
            Image image = i % 2 == 0 ? alpha : beta;
            shared.mount("/" + name, image);
            String hello = Files.readString(shared.mnt().resolve(name + "/hello"));
            List<String> listing = shared.list(name);
            List<String> root = shared.list("");
            assertEquals(image == alpha ? "alpha" : "beta", hello, "mount " + i);
            assertEquals(List.of("data", "hello"), listing, "mount " + i);
            assertEquals(List.of(name), root, "mount " + i);
            shared.daemon().umount("/" + name);
        }
    }

    private static byte readByte(FileChannel channel, long position) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(1);
        int count = channel.read(buffer, position);
        assertEquals(1, count, "bytes read at " + position);
        return buffer.get(0);
    }

    private static long countEntries(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.count();
        }
    }
}
