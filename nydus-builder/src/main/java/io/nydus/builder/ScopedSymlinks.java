package io.nydus.builder;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;

/**
 * Resolves a symlink inside an image tree the way umoci and containerd resolve a parent path
 * inside the root directory they unpack to. An absolute target starts at the image root, and
 * ".." at the root stays at the root, so no path leaves the tree.
 */
final class ScopedSymlinks {
    /** The maximum number of symlinks one resolution follows, as Linux's MAXSYMLINKS. */
    static final int MAX_HOPS = 40;

    private ScopedSymlinks() {
    }

    /**
     * Returns the directory that the symlink {@code link} leads to, or null if it leads to a
     * missing name or a non-directory, or through more than {@value #MAX_HOPS} symlinks.
     */
    static Node directory(Node link, Node root) {
        return resolve(link, root, false);
    }

    /**
     * Returns the directory that the symlink {@code link} leads to like {@link #directory},
     * making the missing directories on the way (mode 0755, owner 0:0, mtime 0), as an
     * unpack that writes below a dangling symlink makes them. Returns null where
     * {@link #directory} would for another reason, or when a ".." follows a missing name.
     */
    static Node makeDirectory(Node link, Node root) {
        return resolve(link, root, true);
    }

    private static Node resolve(Node link, Node root, boolean make) {
        Deque<byte[]> pending = new ArrayDeque<>();
        Node dir = push(pending, link.inode().symlinkTarget(), link.parent(), root);
        int hops = 1;
        while (!pending.isEmpty()) {
            byte[] component = pending.pop();
            if (isDotDot(component)) {
                dir = dir == root ? root : dir.parent();
                continue;
            }
            Node next = dir.child(component);
            if (next == null && make && !containsDotDot(pending)) {
                Inode made = new Inode(FileType.DIRECTORY).permissions(0755);
                ImplicitDirectory.inheritSetgid(dir.inode(), made);
                next = Node.of(component, made);
                dir.put(next);
            }
            if (next == null) {
                return null;
            }
            if (next.inode().type() == FileType.SYMLINK) {
                if (++hops > MAX_HOPS) {
                    return null;
                }
                dir = push(pending, next.inode().symlinkTarget(), dir, root);
            } else if (next.isDirectory()) {
                dir = next;
            } else {
                return null;
            }
        }
        return dir;
    }

    /**
     * Returns the node at {@code path} below {@code root}, following symlinks in every
     * component but the last, as a hard link's target is found: the link names the last
     * component itself, even when it is a symlink. Returns null if a component is missing or
     * is not a directory.
     */
    static Node find(Node root, List<byte[]> path) {
        Node node = root;
        for (int i = 0; i < path.size(); i++) {
            if (i > 0 && node.inode().type() == FileType.SYMLINK) {
                node = directory(node, root);
            }
            if (node == null || !node.isDirectory()) {
                return null;
            }
            node = node.child(path.get(i));
            if (node == null) {
                return null;
            }
        }
        return node;
    }

    /** Returns the node at the absolute {@code path} below {@code root}; see {@link #find}. */
    static Node find(Node root, byte[] path) {
        List<byte[]> components = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= path.length; i++) {
            if (i == path.length || path[i] == '/') {
                if (i > start) {
                    components.add(Arrays.copyOfRange(path, start, i));
                }
                start = i + 1;
            }
        }
        return find(root, components);
    }

    /**
     * Puts the components of {@code target} in front of {@code pending}, leaving out empty
     * ones and ".", and returns where they start: the root for an absolute target, else
     * {@code dir}.
     */
    private static Node push(Deque<byte[]> pending, byte[] target, Node dir, Node root) {
        int end = target.length;
        for (int i = target.length - 1; i >= -1; i--) {
            if (i >= 0 && target[i] != '/') {
                continue;
            }
            byte[] component = Arrays.copyOfRange(target, i + 1, end);
            if (component.length > 0 && !Arrays.equals(component, new byte[] {'.'})) {
                pending.push(component);
            }
            end = i;
        }
        return target.length > 0 && target[0] == '/' ? root : dir;
    }

    private static boolean containsDotDot(Deque<byte[]> components) {
        return components.stream().anyMatch(ScopedSymlinks::isDotDot);
    }

    private static boolean isDotDot(byte[] component) {
        return Arrays.equals(component, new byte[] {'.', '.'});
    }
}
