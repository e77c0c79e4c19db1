package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which nodes a prefetch list names, for the line forms that upstream's builder accepts. */
class PrefetchListTest {
    private final Node root = tree();

    @Test
    void absolutePathsResolveInOrder() {
        assertEquals(List.of("/etc/hosts", "/usr/bin"), resolve("/etc/hosts\n/usr/bin/\n"));
    }

    @Test
    void relativePathIsSkipped() {
        assertEquals(List.of("/etc/hosts"), resolve("usr/bin\n/etc/hosts\n  \n"));
    }

    @Test
    void pathBelowEarlierPatternIsSkipped() {
        assertEquals(List.of("/usr"), resolve("/usr\n/usr/bin\n/usr/\n"));
    }

    @Test
    void siblingWithSharedPrefixIsKept() {
        assertEquals(List.of("/usr/bin", "/usr/bin2"), resolve("/usr/bin\n/usr/bin2\n"));
    }

    @Test
    void rootCoversEveryLaterPattern() {
        assertEquals(List.of("/"), resolve("/\n/etc/hosts\n"));
    }

    @Test
    void laterParentIsKept() {
        assertEquals(List.of("/usr/bin", "/usr"), resolve("/usr/bin\n/usr\n"));
    }

    private List<String> resolve(String text) {
        return PrefetchList.parse(text.getBytes(StandardCharsets.UTF_8)).resolve(root).stream()
                .map(Node::path).toList();
    }

    private static Node tree() {
        Node root = Node.root(directory());
        Node usr = Node.of(name("usr"), directory());
        Node etc = Node.of(name("etc"), directory());
        root.put(usr);
        root.put(etc);
        usr.put(Node.of(name("bin"), directory()));
        usr.put(Node.of(name("bin2"), directory()));
        etc.put(Node.of(name("hosts"), new Inode(FileType.REGULAR)));
        return root;
    }

    private static Inode directory() {
        return new Inode(FileType.DIRECTORY).permissions(0755);
    }

    private static byte[] name(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
