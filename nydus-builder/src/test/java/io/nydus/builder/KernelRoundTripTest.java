package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Xattrs;
import io.nydus.rafs.Compressor;
import io.nydus.testkit.Commands;
import io.nydus.testkit.Difference;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Builds the every-case tree into images, from the directory and from GNU tar archives, and
 * checks that the kernel's EROFS mount of each image, and its unpacked copy, equal the source.
 * Needs root for the mounts, devices, owners and trusted xattrs.
 */
class KernelRoundTripTest {
    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    /** The directory builder stores the root's mtime as 0. */
    private static final TreeComparator.Options DIRECTORY_BUILD =
            TreeComparator.Options.defaults().ignoringRootMtime();
    /** Tar archives cannot hold sockets. Their "./" entry carries the root's metadata. */
    private static final TreeComparator.Options TAR_BUILD =
            TreeComparator.Options.defaults().skippingSockets();

    private static TempDir work;
    private static Path source;
    private static TreeSnapshot expected;
    private static final Map<String, TestImage> IMAGES = new HashMap<>();

    @BeforeAll
    static void createTree() throws IOException {
        work = TempDirs.create("kernel-round-trip-");
        source = work.resolve("source");
        TreeGenerator.createEveryCase(BytePath.of(source));
        expected = TreeSnapshot.capture(source);
    }

    @AfterAll
    static void removeTree() throws IOException {
        if (work != null) {
            work.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"zstd", "lz4_block", "none"})
    void directoryImageMountsAsSource(String compressor) throws IOException {
        TestImage image = directoryImage(compressor);
        assertMountEquals(image, "mount-dir-" + compressor, DIRECTORY_BUILD);
    }

    @ParameterizedTest
    @ValueSource(strings = {"zstd", "lz4_block", "none"})
    void directoryImageUnpacksAsSource(String compressor) throws IOException {
        TestImage image = directoryImage(compressor);
        Path output = work.resolve("unpack-dir-" + compressor);
        Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output);
        TreeComparator.assertSameTree(expected, TreeSnapshot.capture(output), DIRECTORY_BUILD);
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "gzip", "zstd"})
    void tarImageMountsAsSource(String compression) throws IOException {
        TestImage image = tarImage(compression);
        assertMountEquals(image, "mount-tar-" + compression, TAR_BUILD);
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "gzip", "zstd"})
    void tarImageUnpacksAsSource(String compression) throws IOException {
        TestImage image = tarImage(compression);
        Path output = work.resolve("unpack-tar-" + compression);
        Unpacker.unpackToDirectory(image.bootstrap(), image.blobDir(), output);
        TreeComparator.assertSameTree(expected, TreeSnapshot.capture(output), TAR_BUILD);
    }

    @Test
    void directoryBeyondPathMaxMountsAsSource() throws IOException {
        Path deepSource = work.resolve("deep-source");
        createDeepTree(BytePath.of(deepSource));
        TreeSnapshot deepExpected = TreeSnapshot.capture(deepSource);
        assertTrue(deepExpected.paths().stream().anyMatch(p -> p.length() > 4096),
                "the tree has paths longer than PATH_MAX");

        TestImage image = TestImage.fromDirectory(deepSource, Compressor.ZSTD,
                work.resolve("image-deep"));

        Path block = work.resolve("deep.erofs");
        BlockExporter.export(image.bootstrap(), image.blobDir(), block);
        Path mountPoint = Files.createDirectory(work.resolve("mount-deep"));
        try (KernelErofs mount = KernelErofs.mount(block, mountPoint)) {
            TreeComparator.assertSameTree(deepExpected,
                    TreeSnapshot.capture(mount.mountPointBytes()), DIRECTORY_BUILD);
        }
    }

    @Test
    void unpackedTarExtractsAsSource() throws IOException {
        TestImage image = directoryImage("zstd");
        Path archive = work.resolve("unpacked.tar");
        Unpacker.Result result = Unpacker.unpack(image.bootstrap(), image.blobDir(), archive);
        Path extracted = work.resolve("gnu-tar-extract");
        Files.createDirectory(extracted);
        Commands.run(List.of("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                "-xpf", archive.toString(), "-C", extracted.toString()), TIMEOUT);
        assertEquals(1, result.skipped(), "sockets skipped");
        assertTrue(Files.size(archive) < 32L << 20, "holes and zero chunks stay out of the"
                + " archive, which has " + Files.size(archive) + " bytes");
        TreeComparator.assertSameTree(expected, TreeSnapshot.capture(extracted),
                DIRECTORY_BUILD.skippingSockets());
    }

    @Test
    void unpackedTarRebuildsAsSource() throws IOException {
        TestImage image = directoryImage("zstd");
        Path archive = work.resolve("rebuild.tar");
        Unpacker.unpackToTar(image.bootstrap(), image.blobDir(), archive);
        TestImage rebuilt = TestImage.fromTar(archive, Compressor.ZSTD,
                work.resolve("image-rebuilt"));
        Path output = work.resolve("unpack-rebuilt");
        Unpacker.unpackToDirectory(rebuilt.bootstrap(), rebuilt.blobDir(), output);
        TreeComparator.assertSameTree(expected, TreeSnapshot.capture(output),
                TAR_BUILD.ignoringRootMtime());
    }

    /**
     * Extracts the image with erofs-utils' fsck from the bootstrap and the blob device file.
     * fsck.erofs 1.5 restores names, types, permissions, owners, sizes, contents, symlink
     * targets, device numbers and nanosecond mtimes. It restores no xattrs and writes every
     * hardlink as a separate file, so xattrs, link counts and hardlink groups are not
     * compared. It also sets the owner after the mode, which clears setuid and setgid, so a
     * mode difference in those two bits alone is accepted.
     */
    @Test
    void fsckErofsExtractsFromBlobDevice() throws IOException {
        TestImage image = directoryImage("lz4_block");
        Path device = work.resolve("blob-device");
        BlockExporter.exportBlobDevice(image.bootstrap(), image.blobDir(), image.blobId(),
                device);
        Path extracted = work.resolve("fsck-extract");
        Commands.run(List.of("fsck.erofs", "--device=" + device, "--extract=" + extracted,
                image.bootstrap().toString()), TIMEOUT);
        Set<Difference.Field> notRestored = EnumSet.of(Difference.Field.XATTR,
                Difference.Field.HARDLINKS, Difference.Field.NLINK);
        List<Difference> differences = TreeComparator.compare(expected,
                TreeSnapshot.capture(extracted), DIRECTORY_BUILD).stream()
                .filter(d -> !notRestored.contains(d.field()))
                .filter(d -> !(d.field() == Difference.Field.MODE
                        && onlySetIdBitsDiffer(d.expected(), d.actual())))
                .toList();
        assertTrue(differences.isEmpty(), () -> differences.stream().limit(50)
                .map(Difference::toString).collect(Collectors.joining("\n")));
    }

    @Test
    void blobDeviceMountsWithBootstrap() throws IOException {
        TestImage image = directoryImage("zstd");
        Path device = work.resolve("blob-device-mount");
        BlockExporter.exportBlobDevice(image.bootstrap(), image.blobDir(), image.blobId(),
                device);
        Path mountPoint = Files.createDirectory(work.resolve("mount-blob-device"));
        try (KernelErofs mount = KernelErofs.mount(image.bootstrap(), List.of(device),
                mountPoint)) {
            TreeComparator.assertSameTree(expected,
                    TreeSnapshot.capture(mount.mountPointBytes()), DIRECTORY_BUILD);
        }
    }

    /**
     * Creates 20 nested directories with 250-byte names below {@code root}, and at the bottom,
     * more than 5000 bytes below it, a file with an xattr, a symlink and a fifo. Every entry is
     * made relative to its directory's descriptor, as a path this long fails in one call.
     */
    private static void createDeepTree(BytePath root) throws IOException {
        int openDirectory = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC;
        Posix.mkdir(root, 0755);
        Fd dir = Posix.open(root, openDirectory);
        try {
            for (int level = 0; level < 20; level++) {
                BytePath name = BytePath.of(String.format("%02d", level) + "d".repeat(248));
                Posix.mkdirat(dir, name, 0750);
                Fd next = Posix.openat(dir, name, openDirectory, 0);
                dir.close();
                dir = next;
            }
            int createFile = OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL
                    | OpenFlags.O_CLOEXEC;
            try (Fd file = Posix.openat(dir, BytePath.of("leaf"), createFile, 0640)) {
                file.writeAll("deep leaf".getBytes(StandardCharsets.US_ASCII));
                Xattrs.set(file, "user.depth".getBytes(StandardCharsets.US_ASCII),
                        "20".getBytes(StandardCharsets.US_ASCII), 0);
            }
            Posix.symlinkat("leaf".getBytes(StandardCharsets.US_ASCII), dir,
                    BytePath.of("link"));
            Posix.mknodat(dir, BytePath.of("fifo"), io.nydus.posix.FileType.FIFO.mode(0644), 0);
        } finally {
            dir.close();
        }
    }

    private static boolean onlySetIdBitsDiffer(String expectedMode, String actualMode) {
        int difference = Integer.parseInt(expectedMode, 8) ^ Integer.parseInt(actualMode, 8);
        return difference != 0 && (difference & ~06000) == 0;
    }

    private static void assertMountEquals(TestImage image, String name,
            TreeComparator.Options options) throws IOException {
        Path block = work.resolve(name + ".erofs");
        BlockExporter.export(image.bootstrap(), image.blobDir(), block);
        Path mountPoint = Files.createDirectory(work.resolve(name));
        try (KernelErofs mount = KernelErofs.mount(block, mountPoint)) {
            TreeComparator.assertSameTree(expected,
                    TreeSnapshot.capture(mount.mountPointBytes()), options);
        }
    }

    private static synchronized TestImage directoryImage(String compressor) throws IOException {
        String key = "dir-" + compressor;
        TestImage image = IMAGES.get(key);
        if (image == null) {
            image = TestImage.fromDirectory(source, Compressor.fromLabel(compressor),
                    work.resolve("image-" + key));
            IMAGES.put(key, image);
        }
        return image;
    }

    private static synchronized TestImage tarImage(String compression) throws IOException {
        String key = "tar-" + compression;
        TestImage image = IMAGES.get(key);
        if (image == null) {
            Path archive = work.resolve("source-" + compression + ".tar");
            Commands.run(tarCommand(compression, archive), TIMEOUT);
            image = TestImage.fromTar(archive, Compressor.ZSTD, work.resolve("image-" + key));
            IMAGES.put(key, image);
        }
        return image;
    }

    /**
     * Returns the GNU tar command that archives the source. {@code --xattrs-include=*} keeps
     * every xattr, ACLs and security.capability included, as raw SCHILY.xattr records.
     * {@code --acls} is left out because it adds text ACLs derived from the mode to
     * directories that have none.
     */
    private static List<String> tarCommand(String compression, Path archive) {
        String filter = switch (compression) {
            case "plain" -> "--no-auto-compress";
            case "gzip" -> "--gzip";
            case "zstd" -> "--zstd";
            default -> throw new IllegalArgumentException("unknown compression " + compression);
        };
        return List.of("tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--sparse",
                "--numeric-owner", filter, "-cf", archive.toString(), "-C", source.toString(),
                ".");
    }
}
