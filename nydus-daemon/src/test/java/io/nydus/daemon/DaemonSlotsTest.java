package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.nydus.builder.BuildResult;
import io.nydus.fuse.DirEntry;
import io.nydus.fuse.DirSink;
import io.nydus.fuse.Entry;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.posix.Errno;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Vfs slots of a shared daemon: an unmounted image's slot is reused once the lookups of its
 * node ids are forgotten, and the slots of a predecessor never are.
 */
class DaemonSlotsTest {

    private TempDir work;
    private Path bootstrap;
    private DaemonConfig config;

    @BeforeEach
    void build() throws IOException {
        work = TempDirs.create("slots-");
        Path source = Files.createDirectories(work.resolve("source"));
        Files.writeString(source.resolve("hello"), "hello world");
        BuildResult image = TestImages.build(source, work.resolve("image"));
        bootstrap = image.bootstrapFile();
        config = DaemonConfig.parse("test", "{\"fs_prefetch\": {\"enable\": false}}");
    }

    @AfterEach
    void delete() throws IOException {
        work.close();
    }

    private Daemon daemon() {
        Path blobs = work.resolve("image/blobs");
        return new Daemon("slots", true, (cfg, decoded, settings) ->
                new DirectBlobData(blobs, decoded.bootstrap().blobs()));
    }

    @Test
    void unmountedSlotWithoutLookupsIsReused() throws IOException {
        try (Daemon daemon = daemon()) {
            daemon.mount("/a", bootstrap, config, List.of());
            daemon.mount("/b", bootstrap, config, List.of());
            daemon.umount("/b");
            daemon.mount("/c", bootstrap, config, List.of());

            assertEquals(2, daemon.slotOf("/c"));
            assertEquals(3, daemon.nextSlot());
        }
    }

    @Test
    void slotWaitsForForgetOfItsLookups() throws Exception {
        try (Daemon daemon = daemon()) {
            daemon.mount("/a", bootstrap, config, List.of());
            daemon.mount("/b", bootstrap, config, List.of());
            Vfs vfs = daemon.vfs();
            long root = vfs.lookup(FuseFileSystem.ROOT, bytes("b")).attr().inode();
            long hello = vfs.lookup(root, bytes("hello")).attr().inode();
            vfs.lookup(root, bytes("hello"));
            daemon.umount("/b");
            FuseException retired = assertThrows(FuseException.class, () -> vfs.getattr(hello));
            daemon.mount("/c", bootstrap, config, List.of());
            vfs.forget(hello, 2);
            Set<Integer> freeWithRootHeld = vfs.freeSlots();
            vfs.forget(root, 1);
            Set<Integer> freeAfterForget = vfs.freeSlots();
            daemon.mount("/d", bootstrap, config, List.of());

            assertEquals(2, root >>> Vfs.SLOT_SHIFT);
            assertEquals(3, daemon.slotOf("/c"));
            assertEquals(Set.of(), freeWithRootHeld);
            assertEquals(Set.of(2), freeAfterForget);
            assertEquals(2, daemon.slotOf("/d"));
            assertEquals(Errno.ENOENT, retired.errno());
            assertEquals(0, vfs.forgetMismatches());
        }
    }

    @Test
    void retiredSlotRejectsRequests() throws Exception {
        try (Daemon daemon = daemon()) {
            Vfs vfs = daemon.vfs();
            long root = mountAndLookUp(daemon, "a");
            daemon.umount("/a");

            FuseException e = assertThrows(FuseException.class,
                    () -> vfs.lookup(root, bytes("hello")));
            assertEquals(Errno.ENOENT, e.errno());
            assertEquals(1, vfs.lookupsInSlot(1));
            assertEquals(Set.of(), vfs.freeSlots());
        }
    }

    @Test
    void forgetBeyondCountKeepsSlotFromReuse() throws Exception {
        try (Daemon daemon = daemon()) {
            Vfs vfs = daemon.vfs();
            long root = mountAndLookUp(daemon, "a");
            vfs.forget(root, 2);
            daemon.umount("/a");
            daemon.mount("/b", bootstrap, config, List.of());

            assertEquals(2, daemon.slotOf("/b"));
            assertEquals(Set.of(), vfs.freeSlots());
            assertEquals(1, vfs.forgetMismatches());
        }
    }

    @Test
    void successorSkipsSlotsOfPredecessor() throws IOException {
        try (Daemon successor = daemon()) {
            successor.restore("/a", 1, bootstrap, config, List.of());
            successor.reserveSlotsBelow(4);
            successor.mount("/d", bootstrap, config, List.of());

            assertEquals(1, successor.slotOf("/a"));
            assertEquals(4, successor.slotOf("/d"));
        }
    }

    @Test
    void forgetOfNegativeCountKeepsSlotFromReuse() throws Exception {
        try (Daemon daemon = daemon()) {
            Vfs vfs = daemon.vfs();
            long root = mountAndLookUp(daemon, "a");
            // An nlookup of 2^64 - 1, which a long stores as -1.
            vfs.forget(root, -1);
            long lookupsAfterForget = vfs.lookupsInSlot(1);
            daemon.umount("/a");
            daemon.mount("/b", bootstrap, config, List.of());

            assertEquals(1, lookupsAfterForget);
            assertEquals(2, daemon.slotOf("/b"));
            assertEquals(1, vfs.forgetMismatches());
        }
    }

    @Test
    void restoredSlotIsNeverReused() throws Exception {
        try (Daemon successor = daemon()) {
            successor.restore("/a", 1, bootstrap, config, List.of());
            successor.reserveSlotsBelow(4);
            successor.umount("/a");
            successor.vfs().forget(1L << Vfs.SLOT_SHIFT | FuseFileSystem.ROOT, 1);
            successor.mount("/b", bootstrap, config, List.of());
            successor.umount("/b");
            successor.mount("/c", bootstrap, config, List.of());

            assertEquals(Set.of(), successor.vfs().freeSlots());
            assertEquals(4, successor.slotOf("/c"));
        }
    }

    @Test
    void restoredImagePrefetchesListedFiles() throws IOException {
        DaemonConfig prefetching = DaemonConfig.parse("test",
                "{\"fs_prefetch\": {\"enable\": true}}");
        List<DirectBlobData> opened = new java.util.ArrayList<>();
        Path blobs = work.resolve("image/blobs");
        try (Daemon successor = new Daemon("slots", true, (cfg, decoded, settings) -> {
            DirectBlobData data = new DirectBlobData(blobs, decoded.bootstrap().blobs());
            opened.add(data);
            return data;
        })) {
            MountedImage image = successor.restore("/a", 1, bootstrap, prefetching,
                    List.of("/hello"));

            assertEquals(List.of("/hello"), image.prefetchFiles());
            assertEquals(1, opened.getFirst().prefetched.size());
        }
    }

    /**
     * Unmounts /b after the root listing has read its slot and before it counts the entry's
     * lookup, the moment a concurrent unmount can take. A kernel cannot be made to hit it, so
     * the listing's own sink unmounts /b.
     */
    @Test
    void rootListingGoesOnPastImageFreedMidway() throws Exception {
        try (Daemon daemon = daemon()) {
            daemon.mount("/a", bootstrap, config, List.of());
            daemon.mount("/b", bootstrap, config, List.of());
            daemon.mount("/c", bootstrap, config, List.of());
            List<String> listed = new ArrayList<>();
            DirSink sink = new DirSink() {
                @Override
                public boolean wantsAttributes() {
                    if (!listed.isEmpty() && listed.getLast().equals("a")
                            && daemon.slotOf("/b") > 0) {
                        unmount(daemon, "/b");
                    }
                    return true;
                }

                @Override
                public boolean add(DirEntry dirEntry, Entry entry) {
                    listed.add(new String(dirEntry.name(), StandardCharsets.UTF_8));
                    return true;
                }
            };

            daemon.vfs().readdir(FuseFileSystem.ROOT, 0, 0, sink);

            assertEquals(List.of(".", "..", "a", "c"), listed);
            assertEquals(Set.of(2), daemon.vfs().freeSlots());
        }
    }

    private static void unmount(Daemon daemon, String mountpoint) {
        try {
            daemon.umount(mountpoint);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] bytes(String name) {
        return name.getBytes(StandardCharsets.UTF_8);
    }

    /** Mounts the image at /{@code name} and returns the node id that a lookup of it gets. */
    private long mountAndLookUp(Daemon daemon, String name) throws Exception {
        daemon.mount("/" + name, bootstrap, config, List.of());
        return daemon.vfs().lookup(FuseFileSystem.ROOT, bytes(name)).attr().inode();
    }
}
