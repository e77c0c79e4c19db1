package io.nydus.builder.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.builder.BlockExporter;
import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.posix.FileType;
import io.nydus.testkit.Commands;
import io.nydus.testkit.Difference;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * An image's layers as a test builds them: each layer is a real tarball, built on its own into
 * a layer bootstrap with {@link WhiteoutSpec#NONE} as nydusify does, and also applied to an
 * {@code expected} directory with GNU tar the way an OCI unpack applies it: whiteouts and opaque
 * markers delete what lower layers left, a directory and a non-directory replace each other,
 * and {@code .wh.} names are never extracted.
 *
 * <p>Layer bootstraps are saved as {@code <blob id>.boot} with the blob id replaced by 64 'x',
 * as nydusify saves the bootstrap it extracts from a layer blob, so every merge also has to
 * take the blob id from the file name.
 */
final class LayerStack implements AutoCloseable {
    static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final String OPAQUE = ".wh..wh..opq";
    private static final String WHITEOUT = ".wh.";

    private final TempDir temp;
    private final Path blobDir;
    private final Path expected;
    private final List<Path> bootstraps = new ArrayList<>();
    private final List<Path> unpackedTars = new ArrayList<>();
    private BuildOptions options = layerOptions(0x10_0000);
    private int count;

    private LayerStack(TempDir temp) throws IOException {
        this.temp = temp;
        this.blobDir = Files.createDirectories(temp.resolve("blobs"));
        this.expected = Files.createDirectories(temp.resolve("expected"));
    }

    static LayerStack create() throws IOException {
        return new LayerStack(TempDirs.create("merge-"));
    }

    static BuildOptions layerOptions(int chunkSize) {
        return new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3, chunkSize,
                WhiteoutSpec.NONE, 2, true, true);
    }

    LayerStack options(BuildOptions value) {
        this.options = value;
        return this;
    }

    Path temp() {
        return temp.path();
    }

    Path blobDir() {
        return blobDir;
    }

    Path expected() {
        return expected;
    }

    List<Path> bootstraps() {
        return List.copyOf(bootstraps);
    }

    /** Creates an empty directory for the next layer's files. */
    Path newLayerDirectory() throws IOException {
        return Files.createDirectories(temp.resolve("layer" + (count + 1)));
    }

    /** Archives {@code dir} with GNU tar, in name order, and adds the tarball as a layer. */
    Path addDirectory(Path dir) throws IOException {
        Path tar = temp.resolve("layer" + (count + 1) + ".tar");
        Commands.run(List.of("tar", "--format=gnu", "--sort=name", "--numeric-owner", "-C",
                dir.toString(), "-cf", tar.toString(), "."), TIMEOUT);
        addTar(tar);
        return tar;
    }

    /** Builds {@code tar} into a layer bootstrap and applies it to the expected tree. */
    void addTar(Path tar) throws IOException {
        buildLayer(tar);
        applyToExpected(tar, expected);
        unpackedTars.add(tar);
    }

    /**
     * Builds {@code tar} into a layer bootstrap and adds it to the layers that umoci unpacks,
     * but not to the expected tree, for layers that GNU tar does not unpack as an OCI unpack
     * does, such as one that writes below a lower layer's dangling symlink.
     */
    void addTarForUmoci(Path tar) throws IOException {
        buildLayer(tar);
        unpackedTars.add(tar);
    }

    /**
     * Builds {@code tar} into a layer bootstrap without applying it to the expected tree, for
     * layers that GNU tar cannot unpack either.
     */
    void buildLayer(Path tar) throws IOException {
        count++;
        Path built = temp.resolve("layer" + count + ".built.boot");
        BuildResult result;
        try (InputStream in = Files.newInputStream(tar)) {
            result = new ImageBuilder(options).buildTar(in, tar.getFileName().toString(), built,
                    ImageBuilder.BlobTarget.inDirectory(blobDir));
        }
        bootstraps.add(saveAsNydusify(result, built));
    }

    /**
     * Builds {@code tar} on {@code parent} (or alone if null) into {@code bootstrap} with
     * whiteout spec oci, as a chain of {@code --parent-bootstrap} builds does.
     */
    void buildOnParent(Path parent, Path tar, Path bootstrap) throws IOException {
        BuildOptions chained = new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                0x10_0000, WhiteoutSpec.OCI, 2, false, true);
        try (InputStream in = Files.newInputStream(tar)) {
            new ImageBuilder(chained).parentBootstrap(parent).buildTar(in,
                    tar.getFileName().toString(), bootstrap,
                    ImageBuilder.BlobTarget.inDirectory(blobDir));
        }
    }

    /** Rewrites the layer's own blob id to 64 'x' and names the file by the blob id. */
    private Path saveAsNydusify(BuildResult result, Path built) throws IOException {
        Bootstrap b = BootstrapReader.read(built);
        List<BlobInfo> blobs = new ArrayList<>();
        for (BlobInfo blob : b.blobs()) {
            blobs.add(blob.has(BlobFeatures.INLINED_FS_META) ? blob.withBlobId("x".repeat(64))
                    : blob);
        }
        String name = (result.blob() == null ? "layer" + count : result.blob().blobId())
                + ".boot";
        Path file = Files.createDirectories(temp.resolve("boot" + count)).resolve(name);
        Files.write(file, BootstrapWriter.write(new Bootstrap(b.root(), blobs, b.chunkSize(),
                b.flags(), b.prefetch())));
        return file;
    }

    /** Merges the layers added so far into {@code name} in the temp directory. */
    Path merge(String name) throws IOException {
        Path out = temp.resolve(name);
        new ImageMerger().blobDirectory(blobDir).merge(bootstraps, out);
        return out;
    }

    /** Mounts {@code bootstrap} with the kernel (via a block export) and records its tree. */
    TreeSnapshot mountAndCapture(Path bootstrap) throws IOException {
        return withMount(bootstrap, TreeSnapshot::capture);
    }

    /** Runs {@code action} on the kernel mount of {@code bootstrap} and unmounts it after. */
    <T> T withMount(Path bootstrap, MountAction<T> action) throws IOException {
        Path image = temp.resolve(bootstrap.getFileName() + ".img");
        BlockExporter.export(bootstrap, blobDir, image);
        Path mountPoint = Files.createDirectories(temp.resolve(bootstrap.getFileName()
                + ".mnt"));
        try (KernelErofs mount = KernelErofs.mount(image, mountPoint)) {
            return action.apply(mount.mountPoint());
        } finally {
            Files.deleteIfExists(image);
        }
    }

    @FunctionalInterface
    interface MountAction<T> {
        T apply(Path mountPoint) throws IOException;
    }

    /**
     * Merges the layers and compares the kernel mount with umoci's unpack alone. GNU tar leaves
     * the time of the unpack as the mtime of a directory that a layer writes into without
     * listing it, which umoci restores and an image cannot store.
     */
    TreeSnapshot assertMergeMatchesUmoci() throws IOException {
        return assertImageMatchesUmoci(merge("merged.boot"));
    }

    /**
     * Compares the kernel mount of {@code bootstrap}, an image of every layer added so far, with
     * umoci's unpack of those layers. umoci unpacks into fixed names, so call it once per stack.
     */
    TreeSnapshot assertImageMatchesUmoci(Path bootstrap) throws IOException {
        TreeSnapshot image = mountAndCapture(bootstrap);
        TreeComparator.assertSameTree(TreeSnapshot.capture(unpackWithUmoci()), image,
                TreeComparator.Options.defaults());
        return image;
    }

    /**
     * Merges the layers and checks the kernel mount of the result against the expected tree,
     * and against the root file system that umoci unpacks from an OCI layout of the same layers.
     */
    TreeSnapshot assertMergeMatchesUnpack() throws IOException {
        TreeSnapshot merged = mountAndCapture(merge("merged.boot"));
        TreeComparator.assertSameTree(TreeSnapshot.capture(expected), merged,
                TreeComparator.Options.defaults());
        TreeComparator.assertSameTree(TreeSnapshot.capture(unpackWithUmoci()), merged,
                TreeComparator.Options.defaults());
        return merged;
    }

    /**
     * Compares the kernel mount of {@code bootstrap} with umoci's unpack like
     * {@link #assertImageMatchesUmoci}, except for directory mtimes that umoci left at the time
     * of its unpack: those of directories it made for entries whose parents the layer does not
     * list, and of a symlink's target directory that it wrote into. An image stores the times
     * the layers give instead.
     */
    TreeSnapshot assertImageMatchesUmociBesideUnpackTimes(Path bootstrap) throws IOException {
        TreeSnapshot image = mountAndCapture(bootstrap);
        long unpackStart = Instant.now().getEpochSecond();
        TreeSnapshot umoci = TreeSnapshot.capture(unpackWithUmoci());
        List<Difference> differences = TreeComparator.compare(umoci, image,
                TreeComparator.Options.defaults()).stream()
                .filter(d -> !isUnpackTime(umoci, d, unpackStart)).toList();
        assertEquals(List.of(), differences, () -> "kernel mount of " + bootstrap
                + " differs from umoci's unpack");
        return image;
    }

    private static boolean isUnpackTime(TreeSnapshot umoci, Difference difference,
            long unpackStart) {
        TreeSnapshot.Entry entry = umoci.entry(difference.path()).orElse(null);
        return difference.field() == Difference.Field.MTIME && entry != null
                && entry.type() == FileType.DIRECTORY
                && entry.mtime().seconds() >= unpackStart;
    }

    /** Adds the layer tarballs to a new OCI layout and unpacks it with umoci. */
    private Path unpackWithUmoci() throws IOException {
        Path layout = temp.resolve("oci");
        String image = layout + ":merged";
        run("umoci", "init", "--layout", layout.toString());
        run("umoci", "new", "--image", image);
        for (Path tar : unpackedTars) {
            run("umoci", "raw", "add-layer", "--image", image, tar.toString());
        }
        Path bundle = temp.resolve("bundle");
        // umoci makes a directory that the layers lack with mode 0777 minus the umask, and the
        // image gets 0755 as from containerd, so the unpack runs with the usual umask 022.
        run("sh", "-c", "umask 022 && exec \"$0\" \"$@\"", "umoci", "unpack", "--image", image,
                bundle.toString());
        return bundle.resolve("rootfs");
    }

    /**
     * Applies one layer tarball to {@code root} as an OCI unpack does, using GNU tar for the
     * extraction itself.
     */
    static void applyToExpected(Path tar, Path root) throws IOException {
        List<TarArchiveEntry> entries = listEntries(tar);
        for (TarArchiveEntry e : entries) {
            applyWhiteout(root, entryPath(e));
        }
        for (TarArchiveEntry e : entries) {
            String path = entryPath(e);
            if (!path.isEmpty() && !baseName(path).startsWith(WHITEOUT)) {
                clearTypeConflict(root.resolve(path), e.isDirectory());
            }
        }
        // GNU tar, too, makes a missing parent directory with mode 0777 minus the umask.
        Commands.run(List.of("sh", "-c", "umask 022 && exec \"$0\" \"$@\"", "tar", "-xpf",
                tar.toString(), "-C", root.toString(), "--numeric-owner", "--exclude=.wh.*"),
                TIMEOUT);
    }

    private static void applyWhiteout(Path root, String path) throws IOException {
        String base = baseName(path);
        Path parent = path.contains("/") ? root.resolve(path.substring(0, path.lastIndexOf('/')))
                : root;
        if (base.equals(OPAQUE)) {
            if (Files.isDirectory(parent, LinkOption.NOFOLLOW_LINKS)) {
                try (Stream<Path> children = Files.list(parent)) {
                    for (Path child : children.toList()) {
                        removeTree(child);
                    }
                }
            }
        } else if (base.startsWith(WHITEOUT) && base.length() > WHITEOUT.length()) {
            removeTree(parent.resolve(base.substring(WHITEOUT.length())));
        }
    }

    private static void clearTypeConflict(Path target, boolean entryIsDirectory)
            throws IOException {
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        boolean existingIsDirectory = Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS);
        if (existingIsDirectory != entryIsDirectory) {
            removeTree(target);
        }
    }

    private static void removeTree(Path path) throws IOException {
        Commands.run(List.of("rm", "-rf", "--", path.toString()), TIMEOUT);
    }

    private static List<TarArchiveEntry> listEntries(Path tar) throws IOException {
        List<TarArchiveEntry> entries = new ArrayList<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(Files.newInputStream(tar))) {
            TarArchiveEntry e;
            while ((e = in.getNextEntry()) != null) {
                entries.add(e);
            }
        }
        return entries;
    }

    /** Returns the entry's path without "./" and trailing "/", empty for the root. */
    private static String entryPath(TarArchiveEntry e) {
        String name = e.getName();
        while (name.startsWith("./")) {
            name = name.substring(2);
        }
        while (name.endsWith("/")) {
            name = name.substring(0, name.length() - 1);
        }
        return name.equals(".") ? "" : name;
    }

    private static String baseName(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    /** Writes a file with {@code text} as its content, making parent directories. */
    static Path write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.writeString(file, text);
    }

    static void run(String... argv) throws IOException {
        Commands.run(List.of(argv), TIMEOUT);
    }

    /** Returns the {@code unix:} attribute {@code name} of {@code path}, not following links. */
    static Object attribute(Path path, String name) throws IOException {
        return Files.getAttribute(path, "unix:" + name, LinkOption.NOFOLLOW_LINKS);
    }

    @Override
    public void close() throws IOException {
        temp.close();
    }
}
