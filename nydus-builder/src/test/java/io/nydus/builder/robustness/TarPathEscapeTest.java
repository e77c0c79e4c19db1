package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageChecker;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Builds tarballs whose entry names climb out with {@code ..} or start with {@code /}, and
 * expects every entry inside the image root: a {@code ..} at the root is dropped, a leading
 * {@code /} is ignored, and the builder writes nothing but the bootstrap and the blob.
 */
class TarPathEscapeTest {
    private static final byte[] X = "x".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] Y = "y".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] B = "b".getBytes(StandardCharsets.US_ASCII);

    @Test
    void escapingNamesStayInsideRoot() throws IOException {
        byte[] tar = new TarWriter()
                .file("../../etc/x", X)
                .file("/abs/y", Y)
                .file("a/../../b", B)
                .directory("../")
                .file("./c/./d/../../../e", X)
                .symlink("../../link", "../../../etc/shadow")
                .hardlink("/hard", "../../etc/x")
                .file("//double//slash", Y)
                .finish();
        try (TempDir work = TempDirs.create("tar-escape-")) {
            Bootstrap image = build(work, tar);

            assertEquals(new TreeSet<>(List.of("/", "/etc", "/etc/x", "/abs", "/abs/y", "/b",
                    "/e", "/link", "/hard", "/double", "/double/slash")),
                    paths(image.root()));
            assertArrayEquals(X, content(work, image, "etc", "x"));
            assertArrayEquals(Y, content(work, image, "abs", "y"));
            assertArrayEquals(B, content(work, image, "b"));
            Node hard = image.root().child(bytes("hard"));
            Node target = image.root().child(bytes("etc")).child(X);
            assertEquals(target.inode(), hard.inode(), "the hard link does not share x's inode");
            assertArrayEquals(bytes("../../../etc/shadow"),
                    image.root().child(bytes("link")).inode().symlinkTarget(),
                    "symlink targets are data and stay as stored");
            assertEquals(Set.of("bootstrap", "blobs"), listing(work.path(), "tree"));
            assertEquals(1, listing(work.resolve("blobs"), "").size());
            assertFalse(Files.exists(work.path().getParent().resolve("etc/x")));
        }
    }

    private static Bootstrap build(TempDir work, byte[] tar) throws IOException {
        BuildOptions options = BuildOptions.defaults().withThreads(2);
        Path bootstrap = work.resolve("bootstrap");
        new ImageBuilder(options).buildTar(new ByteArrayInputStream(tar), "escape.tar",
                bootstrap, ImageBuilder.BlobTarget.inDirectory(work.resolve("blobs")));
        ImageChecker.check(bootstrap, work.resolve("blobs"));
        return BootstrapReader.read(bootstrap);
    }

    private static Set<String> paths(Node root) {
        Set<String> paths = new TreeSet<>();
        Deque<Node> pending = new ArrayDeque<>(List.of(root));
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            paths.add(node.path());
            pending.addAll(node.children());
        }
        return paths;
    }

    /** Reads a file of the image through the blob, chunk by chunk. */
    private static byte[] content(TempDir work, Bootstrap image, String... path)
            throws IOException {
        Node node = image.root();
        for (String name : path) {
            node = node.child(bytes(name));
        }
        var blob = image.blobs().getFirst();
        try (var reader = io.nydus.rafs.blob.BlobReader.open(
                work.resolve("blobs").resolve(blob.blobId()), blob)) {
            var out = new java.io.ByteArrayOutputStream();
            for (var chunk : node.inode().chunks()) {
                out.writeBytes(reader.readChunk(chunk));
            }
            return Arrays.copyOf(out.toByteArray(), (int) node.inode().size());
        }
    }

    private static Set<String> listing(Path dir, String excluded) throws IOException {
        try (var names = Files.list(dir)) {
            return new TreeSet<>(names.map(p -> p.getFileName().toString())
                    .filter(n -> !n.equals(excluded)).toList());
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
