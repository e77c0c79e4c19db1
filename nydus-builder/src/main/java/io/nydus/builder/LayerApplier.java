package io.nydus.builder;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
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

    /**
     * Removes what the whiteouts and opaque markers of the upper directory {@code upperDir}
     * and of its subdirectories delete from {@code lowerDir}. Each directory's whiteouts go
     * first, so a subdirectory that they delete is not entered.
     */
    private void deleteLower(Node lowerDir, Node upperDir) {
        if (isOpaque(upperDir)) {
            lowerDir.clear();
        }
        for (Node child : upperDir.children()) {
            if (isWhiteout(child)) {
                removeTarget(lowerDir, child);
            }
        }
        for (Node child : upperDir.children()) {
            if (!child.isDirectory() || isWhiteout(child)) {
                continue;
            }
            Node existing = lowerDir.child(child.nameBytes());
            Node target = existing != null && existing.isDirectory() ? existing
                    : linkedDirectory(existing, ImplicitDirectory.isMarked(child.inode()),
                            false);
            if (target != null) {
                deleteLower(target, child);
            }
        }
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
        ImplicitDirectory.clear(root.inode());
        List<Node> doomed = new ArrayList<>();
        for (Node child : root.children()) {
            if (isWhiteout(child) || isOpaqueMarker(child)) {
                doomed.add(child);
            } else if (child.isDirectory()) {
                boolean implicit = ImplicitDirectory.isMarked(child.inode());
                if (implicit) {
                    ImplicitDirectory.inheritSetgid(root.inode(), child.inode());
                }
                clearOverlayOpaque(child);
                strip(child);
                if (implicit && child.childCount() == 0) {
                    doomed.add(child);
                }
            }
        }
        for (Node n : doomed) {
            root.remove(n.nameBytes());
        }
        clearOverlayOpaque(root);
    }

    /** Adds the upper directory's entries; {@link #deleteLower} has run already. */
    private void applyDirectory(Node lower, Node upper) {
        if (isOpaque(upper)) {
            clearOverlayOpaque(upper);
        }
        List<Node> additions = new ArrayList<>();
        for (Node child : upper.children()) {
            if (!isOpaqueMarker(child) && !isWhiteout(child)) {
                additions.add(child);
            }
        }
        for (Node child : additions) {
            addOrMerge(lower, child);
        }
    }

    private void addOrMerge(Node lowerDir, Node upperChild) {
        Node existing = lowerDir.child(upperChild.nameBytes());
        if (existing != null && existing.isDirectory() && upperChild.isDirectory()) {
            replaceDirectory(existing, upperChild);
            applyDirectory(existing, upperChild);
            return;
        }
        boolean implicit = ImplicitDirectory.isMarked(upperChild.inode());
        Node linked = linkedDirectory(existing, implicit, false);
        if (linked != null) {
            applyDirectory(linked, upperChild);
            return;
        }
        if (implicit) {
            ImplicitDirectory.inheritSetgid(lowerDir.inode(), upperChild.inode());
        }
        upper(upperChild);
        if (implicit && spec != WhiteoutSpec.NONE && upperChild.childCount() == 0) {
            return;
        }
        // Only entries to add make the directories that a dangling symlink leads to.
        Node linkTarget = linkedDirectory(existing, implicit, true);
        if (linkTarget != null) {
            applyDirectory(linkTarget, upperChild);
            return;
        }
        lowerDir.remove(upperChild.nameBytes());
        lowerDir.put(upperChild);
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

    private static void clearImplicitMarks(Node dir) {
        ImplicitDirectory.clear(dir.inode());
        for (Node child : dir.children()) {
            if (child.isDirectory()) {
                clearImplicitMarks(child);
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
