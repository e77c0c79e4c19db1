package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.tree.Xattrs;
import io.nydus.testkit.SmallStack;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Compares in-memory trees that differ in one field of one entry, for the fields the registry
 * tests cannot vary without root or a hand-made tarball.
 */
class TreeDiffTest {

    @Test
    void equalTreesHaveNoDifferences() {
        assertEquals(List.of(), diff(tree(t -> { }), tree(t -> { })));
    }

    @Test
    void differenceAtDepthLimitIsReported() throws Exception {
        SmallStack.run(() -> {
            Node source = deepTree(Node.MAX_DEPTH);
            Node target = deepTree(Node.MAX_DEPTH);
            Node deepest = target;
            while (deepest.isDirectory()) {
                deepest = deepest.children().iterator().next();
            }
            deepest.inode().owner(1000, 0);

            List<String> differences = diff(source, target);

            assertEquals(1, differences.size());
            assertEquals(deepest.path() + ": uid differs: source 0, target 1000",
                    differences.getFirst());
        });
    }

    @Test
    void uidIsReported() {
        List<String> differences = diff(tree(t -> { }),
                tree(t -> file(t, "data").owner(1000, 0)));

        assertEquals(List.of("/etc/data: uid differs: source 0, target 1000"), differences);
    }

    @Test
    void mtimeNanosecondsAreReported() {
        List<String> differences = diff(tree(t -> { }),
                tree(t -> file(t, "data").mtime(1_700_000_000, 5)));

        assertEquals(List.of("/etc/data: mtime nanoseconds differs: source 0, target 5"),
                differences);
    }

    @Test
    void symlinkTargetIsReported() {
        List<String> differences = diff(tree(t -> { }),
                tree(t -> t.child(bytes("link")).inode().symlinkTarget(bytes("/etc/date"))));

        assertEquals(List.of("/link: symlink target differs: source \"/etc/data\","
                + " target \"/etc/date\""), differences);
    }

    @Test
    void rdevIsReported() {
        List<String> differences = diff(tree(t -> { }),
                tree(t -> t.child(bytes("null")).inode().rdev(1, 5)));

        assertEquals(List.of("/null: rdev differs: source 1:3, target 1:5"), differences);
    }

    @Test
    void contentIsReported() {
        List<String> differences = diff(tree(t -> { }),
                tree(t -> file(t, "data").chunks(List.of(chunk(9)))));

        assertEquals(List.of("/etc/data: content differs: source chunk 0 digest "
                + digest(1) + ", target digest " + digest(9)), differences);
    }

    @Test
    void brokenHardLinkIsReported() {
        List<String> differences = diff(tree(t -> { }), tree(t -> {
            Node etc = t.child(bytes("etc"));
            etc.put(Node.of(bytes("data-hard"), file(t, "data").copy()));
        }));

        assertEquals(List.of("/etc/data-hard: hard link differs: source linked to /etc/data,"
                + " target (first of its group)"), differences);
    }

    @Test
    void missingAndExtraEntriesAreReported() {
        List<String> differences = diff(tree(t -> { }), tree(t -> {
            t.child(bytes("etc")).remove(bytes("data-hard"));
            t.put(Node.of(bytes("extra"), new Inode(FileType.FIFO).permissions(0600)));
        }));

        assertEquals(List.of("/etc/data-hard: missing from target", "/extra: not in source"),
                differences);
    }

    @Test
    void typeChangeIsReported() {
        List<String> differences = diff(tree(t -> { }), tree(t -> {
            t.remove(bytes("null"));
            t.put(Node.of(bytes("null"), new Inode(FileType.FIFO).permissions(0666)));
        }));

        assertEquals(List.of("/null: type differs: source CHAR_DEVICE, target FIFO"),
                differences);
    }

    private static List<String> diff(Node source, Node target) {
        return TreeDiff.compare(source, target).differences();
    }

    /**
     * Returns a tree with {@code /etc/data} (an xattr, one chunk) and its hard link
     * {@code /etc/data-hard}, the symlink {@code /link} and the device {@code /null}, after
     * {@code edit}.
     */
    private static Node tree(Consumer<Node> edit) {
        Node root = Node.root(new Inode(FileType.DIRECTORY).permissions(0755));
        Node etc = Node.of(bytes("etc"), new Inode(FileType.DIRECTORY).permissions(0755));
        root.put(etc);
        Xattrs xattrs = new Xattrs();
        xattrs.put(bytes("user.kind"), bytes("config"));
        Inode data = new Inode(FileType.REGULAR).permissions(0644).size(4)
                .mtime(1_700_000_000, 0).xattrs(xattrs).chunks(List.of(chunk(1)));
        etc.put(Node.of(bytes("data"), data));
        etc.put(Node.of(bytes("data-hard"), data));
        root.put(Node.of(bytes("link"),
                new Inode(FileType.SYMLINK).permissions(0777).symlinkTarget(bytes("/etc/data"))));
        root.put(Node.of(bytes("null"),
                new Inode(FileType.CHAR_DEVICE).permissions(0666).rdev(1, 3)));
        edit.accept(root);
        return root;
    }

    /** Returns a root with "a/a/.../a/f" below it, {@code depth} names in all. */
    private static Node deepTree(int depth) {
        Node root = Node.root(new Inode(FileType.DIRECTORY));
        Node dir = root;
        for (int level = 1; level < depth; level++) {
            Node child = Node.of(bytes("a"), new Inode(FileType.DIRECTORY));
            dir.put(child);
            dir = child;
        }
        dir.put(Node.of(bytes("f"), new Inode(FileType.REGULAR)));
        return root;
    }

    private static Inode file(Node root, String name) {
        return root.child(bytes("etc")).child(bytes(name)).inode();
    }

    private static Chunk chunk(int fill) {
        return new Chunk(digest(fill), 0, 0, 0, 4, 0, 4, false, 0, false);
    }

    private static ChunkDigest digest(int fill) {
        byte[] bytes = new byte[ChunkDigest.SIZE];
        Arrays.fill(bytes, (byte) fill);
        return ChunkDigest.of(bytes);
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
