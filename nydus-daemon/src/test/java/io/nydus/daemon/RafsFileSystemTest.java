package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildResult;
import io.nydus.fuse.Attr;
import io.nydus.fuse.DirEntry;
import io.nydus.fuse.DirSink;
import io.nydus.fuse.Entry;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.posix.Errno;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.OnDiskInode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.lang.ref.WeakReference;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The file system side of a mount, driven directly without the kernel. */
class RafsFileSystemTest {
    private static final int CHUNK = 0x4000;
    private static TempDir work;
    private static byte[] big;
    private static DirectBlobData data;
    private static RafsFileSystem fs;
    private static FsMetrics metrics;
    private static Path bootstrapFile;

    @BeforeAll
    static void build() throws IOException {
        work = TempDirs.create("rafs-fs-");
        Path source = Files.createDirectories(work.resolve("source"));
        big = new byte[CHUNK * 5 + 123];
        new Random(7).nextBytes(big);
        Files.write(source.resolve("big"), big);
        Files.createLink(source.resolve("big-link"), source.resolve("big"));
        Files.writeString(source.resolve("empty"), "");
        Path many = Files.createDirectories(source.resolve("many"));
        for (int i = 0; i < 700; i++) {
            Files.writeString(many.resolve(String.format("entry-%04d", i)), "x" + i);
        }
        Files.createSymbolicLink(source.resolve("link"), Path.of("big"));
        Path punctuation = Files.createDirectories(source.resolve("punctuation"));
        for (String name : List.of("!bang", "-dash", ".#lock", "zed")) {
            Files.writeString(punctuation.resolve(name), name);
        }
        Files.setPosixFilePermissions(Files.writeString(source.resolve("secret"), "s"),
                PosixFilePermissions.fromString("rw-------"));
        Files.setAttribute(source.resolve("big"), "user:note",
                java.nio.ByteBuffer.wrap(new byte[] {0, 1, 2, (byte) 0xff}));
        BuildResult result = TestImages.build(source, work.resolve("image"), CHUNK);
        bootstrapFile = result.bootstrapFile();
        DecodedBootstrap image = BootstrapReader.decode(bootstrapFile);
        data = new DirectBlobData(work.resolve("image/blobs"), image.bootstrap().blobs());
        metrics = new FsMetrics("/", true, true, true);
        fs = new RafsFileSystem("test", image, data, RafsOptions.defaults(), metrics);
    }

    @AfterAll
    static void remove() throws IOException {
        data.close();
        work.close();
    }

    private static Entry lookup(String name) throws FuseException {
        return fs.lookup(FuseFileSystem.ROOT, name.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] read(long inode, long offset, int length) throws FuseException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = arena.allocate(length);
            int count = fs.read(inode, 0, offset, target);
            return target.asSlice(0, count).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    @Test
    void mountKeepsNoInodeRecords() throws Exception {
        DecodedBootstrap image = BootstrapReader.decode(bootstrapFile);
        WeakReference<Map<Node, OnDiskInode>> records = new WeakReference<>(image.inodes());
        RafsFileSystem mounted = new RafsFileSystem("records", image, data,
                RafsOptions.defaults(), new FsMetrics("/records", false, false, false));
        image = null;
        boolean collected = awaitCollected(records);
        Attr big = mounted.lookup(FuseFileSystem.ROOT, "big".getBytes(StandardCharsets.UTF_8))
                .attr();
        Attr many = mounted.lookup(FuseFileSystem.ROOT, "many".getBytes(StandardCharsets.UTF_8))
                .attr();

        DecodedBootstrap reread = BootstrapReader.decode(bootstrapFile);
        long storedManySize = reread.inode(reread.bootstrap().root()
                .child("many".getBytes(StandardCharsets.UTF_8))).size();

        assertTrue(collected, "the file system keeps the decoded inode records");
        assertEquals(2, big.nlink());
        assertEquals(big.inode(), lookup("big").attr().inode());
        assertTrue(storedManySize > 4096, "stored size " + storedManySize);
        assertEquals(storedManySize, many.size());
        assertEquals(2, many.nlink());
    }

    /** Runs full collections until {@code reference} is cleared, at most 50 times. */
    private static boolean awaitCollected(WeakReference<?> reference) throws InterruptedException {
        for (int i = 0; i < 50 && reference.get() != null; i++) {
            System.gc();
            Thread.sleep(10);
        }
        return reference.get() == null;
    }

    @Test
    void rootIsNodeOne() throws FuseException {
        Attr root = fs.getattr(FuseFileSystem.ROOT);
        assertEquals(FuseFileSystem.ROOT, root.inode());
        assertEquals(0040000, root.mode() & 0170000);
    }

    @Test
    void missingNameIsEnoent() {
        FuseException e = assertThrows(FuseException.class, () -> lookup("absent"));
        assertEquals(Errno.ENOENT, e.errno());
    }

    @Test
    void readAcrossChunkBoundaries() throws FuseException {
        long inode = lookup("big").attr().inode();
        int offset = CHUNK - 100;
        byte[] got = read(inode, offset, CHUNK * 2 + 50);
        assertArrayEquals(Arrays.copyOfRange(big, offset, offset + CHUNK * 2 + 50), got);
    }

    @Test
    void readWholeFileStopsAtItsEnd() throws FuseException {
        long inode = lookup("big").attr().inode();
        assertArrayEquals(big, read(inode, 0, big.length + 4096));
        assertEquals(0, read(inode, big.length, 10).length);
    }

    @Test
    void emptyFileReadsNothing() throws FuseException {
        assertEquals(0, read(lookup("empty").attr().inode(), 0, 10).length);
    }

    @Test
    void hardlinksShareNodeAndCount() throws FuseException {
        Attr a = lookup("big").attr();
        Attr b = lookup("big-link").attr();
        assertEquals(a.inode(), b.inode());
        assertEquals(2, a.nlink());
    }

    @Test
    void attributesComeFromTheImage() throws FuseException {
        Attr secret = lookup("secret").attr();
        assertEquals(0100600, secret.mode());
        assertEquals(1, secret.size());
        assertEquals(big.length, lookup("big").attr().size());
    }

    @Test
    void symlinkTarget() throws FuseException {
        assertArrayEquals("big".getBytes(), fs.readlink(lookup("link").attr().inode()));
    }

    @Test
    void readlinkOfFileIsEinval() {
        FuseException e = assertThrows(FuseException.class,
                () -> fs.readlink(lookup("big").attr().inode()));
        assertEquals(Errno.EINVAL, e.errno());
    }

    @Test
    void xattrsAsBytes() throws FuseException {
        long inode = lookup("big").attr().inode();
        assertArrayEquals(new byte[] {0, 1, 2, (byte) 0xff},
                fs.getxattr(inode, "user.note".getBytes()));
        assertEquals(List.of("user.note"), fs.listxattr(inode).stream()
                .map(String::new).toList());
        FuseException e = assertThrows(FuseException.class,
                () -> fs.getxattr(inode, "user.other".getBytes()));
        assertEquals(Errno.ENODATA, e.errno());
    }

    @Test
    void readdirResumesFromOffsets() throws FuseException {
        long dir = lookup("many").attr().inode();
        List<String> names = new ArrayList<>();
        long offset = 0;
        while (true) {
            List<DirEntry> batch = new ArrayList<>();
            fs.readdir(dir, 0, offset, limitedSink(batch, 64));
            if (batch.isEmpty()) {
                break;
            }
            batch.forEach(entry -> names.add(new String(entry.name())));
            offset = batch.getLast().nextOffset();
        }
        assertEquals(702, names.size());
        assertEquals(List.of(".", "..", "entry-0000"), names.subList(0, 3));
        assertEquals("entry-0699", names.getLast());
    }

    @Test
    void readdirListsDotsInByteOrder() throws FuseException {
        long dir = lookup("punctuation").attr().inode();
        List<DirEntry> listing = new ArrayList<>();
        fs.readdir(dir, 0, 0, limitedSink(listing, 64));
        assertEquals(List.of("!bang", "-dash", ".", ".#lock", "..", "zed"), listing.stream()
                .map(entry -> new String(entry.name())).toList());
        assertEquals(dir, listing.get(2).inode());
        assertEquals(FuseFileSystem.ROOT, listing.get(4).inode());
    }

    @Test
    void blocksCountWholeBlocks() throws FuseException {
        assertEquals((big.length + 4095) / 4096 * 8, lookup("big").attr().blocks());
        assertEquals(0, lookup("empty").attr().blocks());
        assertEquals(8, lookup("link").attr().blocks());
    }

    @Test
    void readdirplusCarriesAttributes() throws FuseException {
        List<Entry> entries = new ArrayList<>();
        fs.readdir(FuseFileSystem.ROOT, 0, 0, new DirSink() {
            @Override
            public boolean wantsAttributes() {
                return true;
            }

            @Override
            public boolean add(DirEntry dirEntry, Entry entry) {
                assertEquals(dirEntry.inode(), entry.attr().inode());
                return entries.add(entry);
            }
        });
        assertEquals(2 + 7, entries.size());
    }

    @Test
    void directoryIsNotOpenedAsFile() {
        FuseException e = assertThrows(FuseException.class,
                () -> fs.open(lookup("many").attr().inode(), 0));
        assertEquals(Errno.EISDIR, e.errno());
    }

    @Test
    void readsAreCounted() throws FuseException {
        long before = metrics.bytesRead();
        read(lookup("secret").attr().inode(), 0, 100);
        assertEquals(before + 1, metrics.bytesRead());
        assertTrue(metrics.pattern().stream().anyMatch(row -> "/secret".equals(row.get("path"))));
    }

    @Test
    void deviceNumbersUseTheKernelEncoding() {
        assertEquals(0x0801, RafsFileSystem.encodeDevice(8, 1));
        assertEquals((0x12 << 20) | (0x123 << 8) | 0x34,
                RafsFileSystem.encodeDevice(0x123, 0x1234));
        assertNotEquals(0, RafsFileSystem.encodeDevice(0, 256));
    }

    private static DirSink limitedSink(List<DirEntry> out, int limit) {
        return new DirSink() {
            @Override
            public boolean wantsAttributes() {
                return false;
            }

            @Override
            public boolean add(DirEntry dirEntry, Entry entry) {
                if (out.size() == limit) {
                    return false;
                }
                return out.add(dirEntry);
            }
        };
    }
}
