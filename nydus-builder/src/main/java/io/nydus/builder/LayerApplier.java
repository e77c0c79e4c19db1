package io.nydus.builder;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;

/**
 * Applies an upper layer's tree onto a lower tree as an OCI image unpack does: whiteouts delete
 * lower entries, an opaque directory hides everything below it, other entries replace or are
 * added, and directories merge. Whiteouts apply only to lower layers, so an entry that the same
 * layer deletes and re-creates shows only the layer's own version. No whiteout name is left in
 * the result.
 */
public final class LayerApplier {
    static final byte[] WHITEOUT_PREFIX = ".wh.".getBytes(StandardCharsets.US_ASCII);
    static final byte[] OPAQUE_MARKER = ".wh..wh..opq".getBytes(StandardCharsets.US_ASCII);
    static final byte[] OVERLAY_OPAQUE =
            "trusted.overlay.opaque".getBytes(StandardCharsets.US_ASCII);

    private final WhiteoutSpec spec;

    public LayerApplier(WhiteoutSpec spec) {
        this.spec = spec;
    }

    /**
     * Applies {@code upper} onto {@code lower} in place; both are root directories. Every
     * whiteout and opaque marker takes effect before any entry is added, because a whiteout
     * reached through a lower symlink may name a path that the layer also adds elsewhere.
     */
    public void apply(Node lower, Node upper) {
        deleteLower(lower, upper);
        replaceDirectory(lower, upper);
        applyDirectory(lower, upper);
    }

    /** A pair of directories being walked, with the upper one's children still to visit. */
    private record DirectoryPair(Node lower, Node upper, Iterator<Node> upperChildren) {
        DirectoryPair(Node lower, Node upper) {
            this(lower, upper, upper.children().iterator());
        }
    }

    /**
     * Removes what the whiteouts and opaque markers of the upper directory {@code upperDir}
     * and of its subdirectories delete from {@code lowerDir}. Each directory's whiteouts go
     * first, so a subdirectory that they delete is not entered.
     */
    private void deleteLower(Node lowerDir, Node upperDir) {
        walkPairs(deleteInDirectory(lowerDir, upperDir), this::enterForDeletion);
    }

    /**
     * Applies the whiteouts of the upper subdirectory {@code child} to its match below
     * {@code lowerDir} and returns that pair, or null when {@code child} is not a directory or
     * has no match.
     */
    private DirectoryPair enterForDeletion(Node lowerDir, Node child) {
        if (!child.isDirectory() || isWhiteout(child)) {
            return null;
        }
        Node existing = lowerDir.child(child.nameBytes());
        Node target = existing != null && existing.isDirectory() ? existing
                : linkedDirectory(existing, ImplicitDirectory.isMarked(child.inode()), false);
        return target == null ? null : deleteInDirectory(target, child);
    }

    /** The step of {@link #walkPairs} into one upper child of a pair's lower directory. */
    @FunctionalInterface
    private interface PairStep {
        /** Handles {@code upperChild} and returns the pair to walk next below it, or null. */
        DirectoryPair enter(Node lowerDir, Node upperChild);
    }

    /**
     * Walks pairs of directories depth first from {@code first}, giving each upper child to
     * {@code step}. A stack replaces recursion, because a tree may be thousands of levels deep.
     */
    private static void walkPairs(DirectoryPair first, PairStep step) {
        Deque<DirectoryPair> pairs = new ArrayDeque<>();
        pairs.push(first);
        while (!pairs.isEmpty()) {
            DirectoryPair pair = pairs.peek();
            if (!pair.upperChildren().hasNext()) {
                pairs.pop();
                continue;
            }
            DirectoryPair next = step.enter(pair.lower(), pair.upperChildren().next());
            if (next != null) {
                pairs.push(next);
            }
        }
    }

    /** Applies the opaque marker and whiteouts of {@code upperDir} itself to {@code lowerDir}. */
    private DirectoryPair deleteInDirectory(Node lowerDir, Node upperDir) {
        if (isOpaque(upperDir)) {
            lowerDir.clear();
        }
        for (Node child : upperDir.children()) {
            if (isWhiteout(child)) {
                removeTarget(lowerDir, child);
            }
        }
        return new DirectoryPair(lowerDir, upperDir);
    }

    /**
     * Gives the lower directory the upper one's inode, unless the upper layer did not list the
     * directory ({@link ImplicitDirectory}): an unpack leaves the lower one's metadata then.
     */
    private static void replaceDirectory(Node lower, Node upper) {
        if (!ImplicitDirectory.isMarked(upper.inode())) {
            lower.inode(upper.inode());
        }
    }

    /**
     * Removes whiteouts, opaque markers and the marks of unlisted directories from a tree that
     * has nothing below it. An unlisted directory that contains nothing else goes too: an OCI
     * unpack makes the parents of the entries it writes, and a whiteout writes nothing.
     */
    public void strip(Node root) {
        // A layer built with whiteout spec none is merged later, where the marks are used.
        if (spec == WhiteoutSpec.NONE) {
            return;
        }
        Deque<StrippedDirectory> open = new ArrayDeque<>();
        open.push(new StrippedDirectory(root, false));
        while (!open.isEmpty()) {
            StrippedDirectory dir = open.peek();
            if (!dir.children.hasNext()) {
                open.pop();
                finishStrip(dir, open.peek());
                continue;
            }
            Node child = dir.children.next();
            if (isWhiteout(child) || isOpaqueMarker(child)) {
                dir.doomed.add(child);
            } else if (child.isDirectory()) {
                boolean implicit = ImplicitDirectory.isMarked(child.inode());
                if (implicit) {
                    ImplicitDirectory.inheritSetgid(dir.node.inode(), child.inode());
                }
                clearOverlayOpaque(child);
                open.push(new StrippedDirectory(child, implicit));
            }
        }
    }

    /**
     * A directory that {@link #strip} has entered, and what it found there so far. Entering it
     * clears its mark, and whether it was unlisted is kept, because an empty unlisted directory
     * goes.
     */
    private static final class StrippedDirectory {
        final Node node;
        final boolean implicit;
        final Iterator<Node> children;
        final List<Node> doomed = new ArrayList<>();

        StrippedDirectory(Node node, boolean implicit) {
            this.node = node;
            this.implicit = implicit;
            ImplicitDirectory.clear(node.inode());
            this.children = node.children().iterator();
        }
    }

    /**
     * Removes the entries that {@code dir} marked for removal, then {@code dir} itself from its
     * parent if it is an empty unlisted directory.
     */
    private void finishStrip(StrippedDirectory dir, StrippedDirectory parent) {
        for (Node n : dir.doomed) {
            dir.node.remove(n.nameBytes());
        }
        clearOverlayOpaque(dir.node);
        if (parent != null && dir.implicit && dir.node.childCount() == 0) {
            parent.doomed.add(dir.node);
        }
    }

    /**
     * Adds the upper directory's entries, and those of the directories below it, depth first.
     * {@link #deleteLower} has run already.
     */
    private void applyDirectory(Node lower, Node upper) {
        walkPairs(additions(lower, upper), (lowerDir, child) -> {
            Node into = addOrMerge(lowerDir, child);
            return into == null ? null : additions(into, child);
        });
    }

    /** Clears the opaque mark of {@code upper} and returns it paired with the entries to add. */
    private DirectoryPair additions(Node lower, Node upper) {
        if (isOpaque(upper)) {
            clearOverlayOpaque(upper);
        }
        List<Node> additions = new ArrayList<>();
        for (Node child : upper.children()) {
            if (!isOpaqueMarker(child) && !isWhiteout(child)) {
                additions.add(child);
            }
        }
        return new DirectoryPair(lower, upper, additions.iterator());
    }

    /**
     * Adds or merges one upper entry into {@code lowerDir}. Returns the lower directory that
     * the entry's own children are applied to next, or null when there is nothing more to do.
     */
    private Node addOrMerge(Node lowerDir, Node upperChild) {
        Node existing = lowerDir.child(upperChild.nameBytes());
        if (existing != null && existing.isDirectory() && upperChild.isDirectory()) {
            replaceDirectory(existing, upperChild);
            return existing;
        }
        boolean implicit = ImplicitDirectory.isMarked(upperChild.inode());
        Node linked = linkedDirectory(existing, implicit, false);
        if (linked != null) {
            return linked;
        }
        if (implicit) {
            ImplicitDirectory.inheritSetgid(lowerDir.inode(), upperChild.inode());
        }
        upper(upperChild);
        if (implicit && spec != WhiteoutSpec.NONE && upperChild.childCount() == 0) {
            return null;
        }
        // Only entries to add make the directories that a dangling symlink leads to.
        Node linkTarget = linkedDirectory(existing, implicit, true);
        if (linkTarget != null) {
            return linkTarget;
        }
        lowerDir.remove(upperChild.nameBytes());
        lowerDir.put(upperChild);
        return null;
    }

    /**
     * Returns the lower directory that the entries below an unlisted upper directory go to
     * when the lower layers have a symlink to a directory by that name, or null. An unpack
     * follows such a symlink and leaves it in place, because the layer has no entry for it.
     * With {@code make}, the missing directories that a dangling symlink leads to are made.
     *
     * @param implicit whether the upper directory is one that the layer does not list
     */
    private static Node linkedDirectory(Node existing, boolean implicit, boolean make) {
        if (existing == null || existing.inode().type() != FileType.SYMLINK || !implicit) {
            return null;
        }
        Node root = existing;
        while (root.parent() != null) {
            root = root.parent();
        }
        return make ? ScopedSymlinks.makeDirectory(existing, root)
                : ScopedSymlinks.directory(existing, root);
    }

    /**
     * Prepares an upper subtree that lands where nothing was. Its whiteouts delete nothing, and
     * its unlisted directories lose their marks, because this apply is the merge that uses
     * them, or go when they contained only whiteouts. Under spec none, whiteouts are ordinary files
     * and stay.
     */
    private void upper(Node node) {
        if (!node.isDirectory()) {
            return;
        }
        if (spec == WhiteoutSpec.NONE) {
            clearImplicitMarks(node);
        } else {
            strip(node);
        }
    }

    private static void clearImplicitMarks(Node top) {
        ImplicitDirectory.clear(top.inode());
        for (Node node : top.descendants()) {
            if (node.isDirectory()) {
                ImplicitDirectory.clear(node.inode());
            }
        }
    }

    private boolean isOpaque(Node dir) {
        return switch (spec) {
            case OCI -> dir.child(OPAQUE_MARKER) != null;
            case OVERLAYFS -> {
                byte[] v = dir.inode().xattrs().get(OVERLAY_OPAQUE);
                yield v != null && Arrays.equals(v, new byte[] {'y'});
            }
            case NONE -> false;
        };
    }

    private boolean isOpaqueMarker(Node node) {
        return spec == WhiteoutSpec.OCI && Arrays.equals(node.nameBytes(), OPAQUE_MARKER);
    }

    private boolean isWhiteout(Node node) {
        return switch (spec) {
            // A bare ".wh." names nothing to delete but is still a whiteout, so it is dropped.
            case OCI -> startsWith(node.nameBytes(), WHITEOUT_PREFIX)
                    && !Arrays.equals(node.nameBytes(), OPAQUE_MARKER);
            case OVERLAYFS -> {
                Inode inode = node.inode();
                yield inode.type() == FileType.CHAR_DEVICE && inode.rdevMajor() == 0
                        && inode.rdevMinor() == 0;
            }
            case NONE -> false;
        };
    }

    private void removeTarget(Node lowerDir, Node whiteout) {
        byte[] target = whiteoutTarget(whiteout);
        if (target.length > 0) {
            lowerDir.remove(target);
        }
    }

    private byte[] whiteoutTarget(Node whiteout) {
        byte[] name = whiteout.nameBytes();
        if (spec == WhiteoutSpec.OVERLAYFS) {
            return name;
        }
        return Arrays.copyOfRange(name, WHITEOUT_PREFIX.length, name.length);
    }

    private void clearOverlayOpaque(Node dir) {
        if (spec == WhiteoutSpec.OVERLAYFS) {
            dir.inode().xattrs().remove(OVERLAY_OPAQUE);
        }
    }

    private static boolean startsWith(byte[] name, byte[] prefix) {
        return name.length >= prefix.length
                && Arrays.equals(name, 0, prefix.length, prefix, 0, prefix.length);
    }
}
