package io.nydus.builder.robustness;

import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Posix;
import io.nydus.posix.Timespec;
import io.nydus.posix.Xattrs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Writes a seeded directory tree with every kind of entry a bootstrap stores: many small files,
 * duplicate files, files of several chunks, xattrs in the user, trusted and security
 * namespaces, symlinks, hard links, character and block devices, a FIFO, an empty file and a
 * directory whose entries need several 4096-byte blocks. The same seed gives the same tree.
 */
final class SampleTree {
    /** Chunk size the tests build with, small so that files span several chunks. */
    static final int CHUNK_SIZE = 0x10000;

    /** A version 2 file capability granting cap_net_bind_service, as setcap stores it. */
    private static final byte[] CAP_NET_BIND_SERVICE = {
        0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

    private final SplittableRandom random;

    private SampleTree(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /** Fills the empty directory {@code root}. Needs root for the device nodes. */
    static void create(Path root, long seed) throws IOException {
        new SampleTree(seed).fill(root);
    }

    private void fill(Path root) throws IOException {
        Path data = Files.createDirectories(root.resolve("data"));
        byte[] shared = bytes(3 * CHUNK_SIZE + 1234);
        for (int i = 0; i < 40; i++) {
            byte[] content = i % 5 == 0 ? shared : bytes(random.nextInt(3 * CHUNK_SIZE));
            Files.write(data.resolve("file-" + i), content);
        }
        Files.write(data.resolve("multi-chunk"), bytes(7 * CHUNK_SIZE + 17));
        Files.write(data.resolve("empty"), new byte[0]);
        Files.createLink(data.resolve("hardlink-a"), data.resolve("file-1"));
        Files.createLink(data.resolve("hardlink-b"), data.resolve("file-1"));
        addLinks(root);
        addXattrs(data);
        addSpecialFiles(root);
        addWideDirectory(root);
        setTimes(root);
    }

    private void addLinks(Path root) throws IOException {
        Path links = Files.createDirectories(root.resolve("links"));
        Files.createSymbolicLink(links.resolve("relative"), Path.of("../data/file-2"));
        Files.createSymbolicLink(links.resolve("absolute"), Path.of("/etc/passwd"));
        Files.createSymbolicLink(links.resolve("dangling"), Path.of("no/such/target"));
        Files.createSymbolicLink(links.resolve("long"), Path.of("x".repeat(300)));
    }

    private void addXattrs(Path data) throws IOException {
        BytePath file = BytePath.of(data.resolve("file-3"));
        Xattrs.set(file, "user.comment", "sample value".getBytes(StandardCharsets.UTF_8));
        Xattrs.set(file, "user.binary", bytes(200));
        Xattrs.set(file, "trusted.overlay.opaque", "y".getBytes(StandardCharsets.UTF_8));
        Xattrs.set(file, "security.capability", CAP_NET_BIND_SERVICE);
        Xattrs.set(BytePath.of(data), "user.directory", "d".getBytes(StandardCharsets.UTF_8));
        Xattrs.set(BytePath.of(data.resolve("empty")), "user.empty", new byte[0]);
    }

    private void addSpecialFiles(Path root) throws IOException {
        Path dev = Files.createDirectories(root.resolve("dev"));
        Posix.mknod(BytePath.of(dev.resolve("null")), 0020666, Devices.makedev(1, 3));
        Posix.mknod(BytePath.of(dev.resolve("large")), 0020600, Devices.makedev(4095, 1048575));
        Posix.mknod(BytePath.of(dev.resolve("loop0")), 0060660, Devices.makedev(7, 0));
        Posix.mknod(BytePath.of(dev.resolve("fifo")), 0010644, 0);
    }

    /** 400 names of 40 bytes need about 20 KiB of dirents, five blocks. */
    private void addWideDirectory(Path root) throws IOException {
        Path wide = Files.createDirectories(root.resolve("wide"));
        for (int i = 0; i < 400; i++) {
            String name = String.format("entry-%04d-", i) + "n".repeat(29);
            Files.write(wide.resolve(name), bytes(random.nextInt(64)));
        }
    }

    /**
     * Gives every entry the same times, so two trees of one seed have equal metadata. The
     * calls do not follow symlinks and never open the FIFO, which would block.
     */
    private static void setTimes(Path root) throws IOException {
        Timespec time = new Timespec(1_700_000_000L, 0);
        try (var paths = Files.walk(root)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                Posix.lutimens(BytePath.of(p), time, time);
            }
        }
    }

    private byte[] bytes(int length) {
        byte[] b = new byte[length];
        random.nextBytes(b);
        return b;
    }
}
