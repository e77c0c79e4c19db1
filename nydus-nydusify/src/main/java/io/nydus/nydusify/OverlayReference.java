package io.nydus.nydusify;

import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.posix.BytePath;
import io.nydus.posix.FileTrees;
import io.nydus.posix.FileType;
import io.nydus.posix.Posix;
import io.nydus.posix.Xattrs;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Manifest;
import io.nydus.tar.TarArchive;
import io.nydus.tar.TarReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source image's file tree as the kernel merges it: each source layer unpacked into its
 * own directory by {@link OverlayLayerUnpacker}, and all of them mounted read-only as the
 * lower layers of one overlayfs. The tree comes from neither the builder nor the merger of the
 * conversion, so a merge fault of the conversion shows as a difference.
 *
 * <p>The layer directories are named by their index (the bottom layer is "0") and sit in one
 * directory with an empty directory "base" that is always the bottom lower layer, because
 * overlayfs needs at least two. {@link #close} unmounts and deletes everything; a shutdown
 * hook detaches a mount that is left when the JVM stops.
 */
final class OverlayReference implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OverlayReference.class);
    private static final String BASE = "base";

    private final Path layersDir;
    private final Path mountsDir;
    private final List<OverlayMount> mounts = new ArrayList<>();
    private OverlayMount root;
    /**
     * The lowest layer that is stacked. OCI hides every lower entry below a layer whose root
     * is opaque, but overlayfs ignores an opaque root, so the layers below it are left out.
     */
    private int lowestVisible;

    private OverlayReference(Path layersDir, Path mountsDir) {
        this.layersDir = layersDir;
        this.mountsDir = mountsDir;
    }

    /**
     * Returns why the overlay reference cannot be used here, or empty if it can: it needs
     * a source of fewer layers than overlayfs stacks, root, a kernel with overlayfs, and a
     * file system under {@code runDir} that takes whiteout devices and
     * {@code trusted.overlay.*} xattrs, which an overlayfs does not.
     */
    static Optional<String> unavailableReason(Path runDir, int layers) {
        if (layers + 1 > OverlayMount.MAX_LOWER_DIRS) {
            return Optional.of("the source has " + layers + " layers, more than the "
                    + (OverlayMount.MAX_LOWER_DIRS - 1) + " that one overlay can stack");
        }
        try {
            long uid = effectiveUid();
            if (uid != 0) {
                return Optional.of("nydusify does not run as root (effective uid " + uid + ")");
            }
            // Each line is "nodev" or nothing, a tab, and the file system's name.
            boolean overlay = Files.readAllLines(Path.of("/proc/filesystems")).stream()
                    .map(line -> line.substring(line.lastIndexOf('\t') + 1).strip())
                    .anyMatch("overlay"::equals);
            if (!overlay) {
                return Optional.of("the kernel has no overlay file system"
                        + " (not listed in /proc/filesystems)");
            }
        } catch (IOException e) {
            return Optional.of("cannot read the process status or /proc/filesystems: "
                    + e.getMessage());
        }
        return probeWorkDir(runDir);
    }

    private static Optional<String> probeWorkDir(Path runDir) {
        BytePath probe = BytePath.of(runDir.toAbsolutePath().resolve("overlay-probe"));
        try {
            Posix.mkdir(probe, 0700);
            try {
                Posix.mknod(probe.resolve("whiteout"), FileType.CHAR_DEVICE.mode(0), 0);
                Xattrs.set(probe, OverlayLayerUnpacker.OPAQUE_XATTR,
                        OverlayLayerUnpacker.OPAQUE_VALUE, 0);
            } finally {
                FileTrees.deleteRecursively(probe);
            }
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of("the work directory's file system takes no overlayfs whiteouts ("
                    + e.getMessage() + ")");
        }
    }

    /**
     * Unpacks the layers of {@code source} below {@code runDir} and mounts them in a new
     * directory below {@code mountParent}.
     *
     * @throws IOException if a layer cannot be read or unpacked, or the mount fails; what was
     *     made is removed first
     */
    static OverlayReference create(Path runDir, Path mountParent, ImageStore store,
            Manifest source) throws IOException {
        Path layersDir = Files.createDirectory(runDir.resolve("overlay-layers"));
        Path mountsDir = Files.createTempDirectory(mountParent.toAbsolutePath(),
                "check-overlay-");
        OverlayReference reference = new OverlayReference(layersDir, mountsDir);
        try {
            Files.createDirectory(layersDir.resolve(BASE));
            List<Descriptor> layers = source.layers();
            if (layers.isEmpty()) {
                throw new IOException("source image " + store.describe() + " has no layers,"
                        + " so there is no tree to compare with");
            }
            if (layers.size() + 1 > OverlayMount.MAX_LOWER_DIRS) {
                throw new IOException("source image " + store.describe() + " has "
                        + layers.size() + " layers, more than the "
                        + (OverlayMount.MAX_LOWER_DIRS - 1) + " that one overlay reference"
                        + " can stack");
            }
            for (int i = 0; i < layers.size(); i++) {
                reference.unpackLayer(store, layers, i);
                if (Xattrs.get(reference.layerPath(i), OverlayLayerUnpacker.OPAQUE_XATTR)
                        .isPresent()) {
                    reference.lowestVisible = i;
                }
            }
            reference.root = reference.mount(layers.size(), "root");
            return reference;
        } catch (IOException | RuntimeException e) {
            try {
                reference.close();
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    /** Returns the root of the mounted tree. */
    BytePath root() {
        return root.mountPoint();
    }

    /** Unmounts the tree and deletes the layer directories and mount points. */
    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (OverlayMount mount : mounts.reversed()) {
            try {
                mount.close();
            } catch (IOException e) {
                failure = add(failure, e);
            }
        }
        try {
            FileTrees.deleteRecursively(BytePath.of(layersDir.toAbsolutePath()));
        } catch (IOException e) {
            failure = add(failure, new IOException("cannot delete the overlay reference's"
                    + " layers in " + layersDir + ": " + e.getMessage(), e));
        }
        if (failure == null) {
            FileTrees.deleteRecursively(BytePath.of(mountsDir));
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void unpackLayer(ImageStore store, List<Descriptor> layers, int index)
            throws IOException {
        Descriptor layer = layers.get(index);
        long started = System.nanoTime();
        String name = layer.digest() + " of " + store.describe();
        LowerMount lower = new LowerMount(index);
        try (InputStream in = store.blob(layer.digest(), layer.size())) {
            try (TarReader tar = TarArchive.open(new UnclosedStream(in))) {
                BytePath previous = index == 0 ? null : layerPath(index - 1);
                new OverlayLayerUnpacker(layerPath(index), previous, lower, name).unpack(tar);
            }
            // Reading to the end checks the layer's digest and size.
            in.transferTo(OutputStream.nullOutputStream());
        } finally {
            lower.close();
        }
        LOG.debug("unpacked source layer {}/{} {} for the overlay reference in {} ms",
                index + 1, layers.size(), name, (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * Mounts layers {@code count - 1} down to the lowest visible one over the empty base
     * layer.
     */
    private OverlayMount mount(int count, String mountName) throws IOException {
        List<String> lowerNames = new ArrayList<>();
        for (int i = count - 1; i >= lowestVisible; i--) {
            lowerNames.add(Integer.toString(i));
        }
        lowerNames.add(BASE);
        Path mountPoint = Files.createDirectory(mountsDir.resolve(mountName));
        OverlayMount mount = OverlayMount.mount(layersDir, lowerNames, mountPoint);
        mounts.add(mount);
        return mount;
    }

    private BytePath layerPath(int index) {
        return BytePath.of(layersDir.toAbsolutePath().resolve(Integer.toString(index)));
    }

    private static IOException add(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    private static long effectiveUid() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("Uid:")) {
                return Long.parseLong(line.substring(4).strip().split("\\s+")[1]);
            }
        }
        throw new IOException("/proc/self/status has no Uid line");
    }

    /**
     * The layers below the one being unpacked, mounted on first use: most layers list every
     * parent directory and link only within themselves, so they never need it.
     */
    private final class LowerMount implements OverlayLayerUnpacker.LowerView {
        private final int layerIndex;
        private OverlayMount mount;

        LowerMount(int layerIndex) {
            this.layerIndex = layerIndex;
        }

        @Override
        public BytePath root() throws IOException {
            if (layerIndex == 0) {
                return null;
            }
            if (mount == null) {
                mount = OverlayReference.this.mount(layerIndex, "lower-" + layerIndex);
            }
            return mount.mountPoint();
        }

        void close() throws IOException {
            if (mount != null) {
                mount.close();
                mounts.remove(mount);
                Posix.rmdir(mount.mountPoint());
            }
        }
    }
}
