package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BlockExporter;
import io.nydus.builder.BuildOptions;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageChecker;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.Unpacker;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.SmallStack;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Trees as deep as a tree may be pass every step that walks them, and one level deeper is
 * rejected with the entry's name instead of overflowing the stack of a recursive walk. Each
 * case runs on a small stack, so a walk that recurses per level fails here on any machine.
 */
class TreeDepthTest {
    private static final byte[] CONTENT = "deepest\n".getBytes(StandardCharsets.US_ASCII);

    /** Returns "a/a/.../a/f" with {@code depth} names in all. */
    private static String deepPath(int depth) {
        return "a/".repeat(depth - 1) + "f";
    }

    private static byte[] deepTar(int depth) {
        return new TarWriter().pax("path", deepPath(depth)).file("placeholder", CONTENT)
                .finish();
    }

    /** Returns a layer with the symlink "l" to a directory 2000 levels deep. */
    private static byte[] deepSymlinkLayer() {
        String target = "/" + "a/".repeat(1999) + "a";
        return new TarWriter().pax("linkpath", target).symlink("l", "placeholder").finish();
    }

    /** Returns a layer with a file 2000 levels below "l", 4000 below the root through "l". */
    private static byte[] layerBelowSymlink() {
        return new TarWriter().pax("path", "l/" + "b/".repeat(1999) + "f")
                .file("placeholder", CONTENT).finish();
    }

    private static Path buildTar(TempDir work, byte[] tar, String name) throws IOException {
        Path bootstrap = work.resolve(name + ".boot");
        new ImageBuilder(BuildOptions.defaults()).buildTar(new ByteArrayInputStream(tar),
                name + ".tar", bootstrap,
                ImageBuilder.BlobTarget.inDirectory(work.resolve("blobs")));
        return bootstrap;
    }

    @Test
    void treeAtDepthLimitPassesEveryStep() throws Exception {
        SmallStack.run(() -> {
            try (TempDir work = TempDirs.create("tree-depth-")) {
                Path blobs = work.resolve("blobs");
                Path bootstrap = buildTar(work, deepTar(Node.MAX_DEPTH), "deep");
                Path merged = work.resolve("merged.boot");
                new ImageMerger().blobDirectory(blobs).merge(List.of(bootstrap, bootstrap), merged);
                ImageChecker.check(merged, blobs);
                Unpacker.unpackToTar(merged, blobs, work.resolve("deep-unpacked.tar"));
                Path block = work.resolve("deep.erofs");
                BlockExporter.export(merged, blobs, block);
                Path mountPoint = Files.createDirectories(work.resolve("mnt"));
                try (KernelErofs mount = KernelErofs.mount(block, mountPoint)) {
                    assertArrayEquals(CONTENT, readThroughShortPaths(mountPoint, Node.MAX_DEPTH));
                }
            }
        });
    }

    @Test
    void tarEntryBeyondDepthLimitIsNamed() throws Exception {
        SmallStack.run(() -> {
            try (TempDir work = TempDirs.create("tree-depth-")) {
                IOException e = assertThrows(IOException.class,
                        () -> buildTar(work, deepTar(Node.MAX_DEPTH + 1), "too-deep"));

                assertTrue(e.getMessage().startsWith("too-deep.tar: tar entry 0 'a/a/"),
                        e.getMessage());
                assertTrue(e.getMessage().endsWith("/f' lies 2049 levels below the root, deeper"
                        + " than the 2048 levels a tree may have"), e.getMessage());
            }
        });
    }

    @Test
    void layerBelowDeepLowerSymlinkIsNamed() throws Exception {
        SmallStack.run(() -> {
            byte[] lower = deepSymlinkLayer();
            byte[] upper = layerBelowSymlink();
            try (TempDir work = TempDirs.create("tree-depth-")) {
                Path parent = buildTar(work, lower, "lower");
                Path child = work.resolve("upper.boot");

                IOException e = assertThrows(IOException.class, () -> new ImageBuilder(
                        BuildOptions.defaults()).parentBootstrap(parent).buildTar(
                        new ByteArrayInputStream(upper), "upper.tar", child,
                        ImageBuilder.BlobTarget.inDirectory(work.resolve("blobs"))));

                assertTrue(e.getMessage().startsWith(child + ": entry '/a/a/"), e.getMessage());
                assertTrue(e.getMessage().endsWith("' lies 2049 levels below the root, deeper than"
                        + " the 2048 levels a tree may have once the layers are applied"),
                        e.getMessage());
            }
        });
    }

    @Test
    void mergeBelowDeepLowerSymlinkIsNamed() throws Exception {
        SmallStack.run(() -> {
            byte[] lower = deepSymlinkLayer();
            byte[] upper = layerBelowSymlink();
            BuildOptions perLayer = new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                    Bootstrap.DEFAULT_CHUNK_SIZE, WhiteoutSpec.NONE, 2, false, true);
            try (TempDir work = TempDirs.create("tree-depth-")) {
                Path blobs = work.resolve("blobs");
                Path lowerBoot = work.resolve("lower.boot");
                Path upperBoot = work.resolve("upper.boot");
                new ImageBuilder(perLayer).buildTar(new ByteArrayInputStream(lower), "lower.tar",
                        lowerBoot, ImageBuilder.BlobTarget.inDirectory(blobs));
                new ImageBuilder(perLayer).buildTar(new ByteArrayInputStream(upper), "upper.tar",
                        upperBoot, ImageBuilder.BlobTarget.inDirectory(blobs));
                Path merged = work.resolve("merged.boot");

                IOException e = assertThrows(IOException.class, () -> new ImageMerger()
                        .blobDirectory(blobs).merge(List.of(lowerBoot, upperBoot), merged));

                assertTrue(e.getMessage().startsWith(merged + ": entry '/a/a/"), e.getMessage());
                assertTrue(e.getMessage().endsWith("levels a tree may have once the layers are"
                        + " applied"), e.getMessage());
                assertFalse(Files.exists(merged));
            }
        });
    }

    @Test
    void directoryBeyondDepthLimitIsNamed() throws Exception {
        SmallStack.run(() -> {
            try (TempDir work = TempDirs.create("tree-depth-")) {
                Path source = work.resolve("source");
                Path deepest = makeDeepDirectories(source, Node.MAX_DEPTH, work);
                Files.write(deepest.resolve("f"), CONTENT);

                IOException e = assertThrows(IOException.class,
                        () -> new ImageBuilder(BuildOptions.defaults()).buildDirectory(source,
                                work.resolve("too-deep.boot"),
                                ImageBuilder.BlobTarget.inDirectory(work.resolve("blobs"))));

                assertTrue(e.getMessage().startsWith(source + "/a/a/"), e.getMessage());
                assertTrue(e.getMessage().endsWith("/a/f lies 2049 levels below the root, deeper"
                        + " than the 2048 levels a tree may have"), e.getMessage());
            }
        });
    }

    /**
     * Makes {@code levels} nested directories named "a" below {@code root} and returns the
     * deepest through a chain of short symlinks in {@code work}, because the full path is
     * longer than one system call takes.
     */
    private static Path makeDeepDirectories(Path root, int levels, TempDir work)
            throws IOException {
        Path base = root;
        int created = 0;
        while (created < levels) {
            int step = Math.min(1000, levels - created);
            Path deepest = Files.createDirectories(base.resolve("a/".repeat(step)));
            created += step;
            base = Files.createSymbolicLink(work.resolve("hop-" + created), deepest);
        }
        return base;
    }

    /** Reads "a/.../a/f" below {@code root} by following symlinks that each span 1000 levels. */
    private static byte[] readThroughShortPaths(Path root, int depth) throws IOException {
        Path hops = Files.createTempDirectory("tree-depth-hops-");
        try {
            Path base = root;
            int remaining = depth - 1;
            int hop = 0;
            while (remaining > 1000) {
                base = Files.createSymbolicLink(hops.resolve("hop-" + hop++),
                        base.resolve("a/".repeat(1000)));
                remaining -= 1000;
            }
            return Files.readAllBytes(base.resolve("a/".repeat(remaining) + "f"));
        } finally {
            try (var links = Files.list(hops)) {
                for (Path link : links.toList()) {
                    Files.delete(link);
                }
            }
            Files.delete(hops);
        }
    }
}
