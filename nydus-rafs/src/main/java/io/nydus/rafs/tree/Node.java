package io.nydus.rafs.tree;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.TreeMap;

/**
 * One name in the file system tree. A directory node keeps its children sorted by the unsigned
 * bytes of their names, which is the order EROFS directories are stored and searched in.
 */
public final class Node {
    /** The maximum file name length the kernel accepts, in bytes. */
    public static final int MAX_NAME = 255;

    /**
     * The maximum number of names in a path below the root. Within Linux's PATH_MAX of 4096
     * bytes an absolute path of one-byte names reaches 2047 levels, so trees made from real file
     * systems fit. Walks of a tree use {@link #descendants()} or a stack of their own instead of
     * recursion, because a frame per level at this depth overflows a thread's default stack.
     */
    public static final int MAX_DEPTH = 2048;

    private final byte[] name;
    private Inode inode;
    private Node parent;
    private final TreeMap<byte[], Node> children;

    private Node(byte[] name, Inode inode) {
        this.name = name;
        this.inode = inode;
        this.children = inode.type() == FileType.DIRECTORY
                ? new TreeMap<>(Arrays::compareUnsigned) : null;
    }

    /** Creates a root directory node (empty name). */
    public static Node root(Inode inode) {
        if (inode.type() != FileType.DIRECTORY) {
            throw new IllegalArgumentException("the root must be a directory, not a "
                    + inode.type());
        }
        return new Node(new byte[0], inode);
    }

    /** Creates a detached node; {@link #put} attaches it to a directory. */
    public static Node of(byte[] name, Inode inode) {
        checkName(name);
        return new Node(name.clone(), inode);
    }

    /** Rejects names the kernel would reject: empty, `.`, `..`, with `/` or NUL, too long. */
    public static void checkName(byte[] name) {
        if (name.length == 0 || name.length > MAX_NAME) {
            throw new IllegalArgumentException("file name '" + display(name) + "' has "
                    + name.length + " bytes, expected 1.." + MAX_NAME);
        }
        if (Arrays.equals(name, new byte[] {'.'}) || Arrays.equals(name, new byte[] {'.', '.'})) {
            throw new IllegalArgumentException("'" + display(name) + "' is not a file name");
        }
        for (byte b : name) {
            if (b == '/' || b == 0) {
                throw new IllegalArgumentException("file name '" + display(name)
                        + "' contains a '/' or NUL byte");
            }
        }
    }

    /** Returns why a path of {@code depth} names cannot be stored, or null when it can. */
    public static String depthProblem(int depth) {
        if (depth <= MAX_DEPTH) {
            return null;
        }
        return "lies " + depth + " levels below the root, deeper than the " + MAX_DEPTH
                + " levels a tree may have";
    }

    /** Returns a copy of the name bytes. */
    public byte[] name() {
        return name.clone();
    }

    /** Returns the name bytes without copying; callers must not change them. */
    public byte[] nameBytes() {
        return name;
    }

    public Inode inode() {
        return inode;
    }

    public void inode(Inode value) {
        if (value.type() == FileType.DIRECTORY != isDirectory()) {
            throw new IllegalArgumentException("cannot change " + path() + " between directory"
                    + " and non-directory in place");
        }
        this.inode = value;
    }

    public Node parent() {
        return parent;
    }

    public boolean isDirectory() {
        return children != null;
    }

    public boolean isRoot() {
        return parent == null && name.length == 0;
    }

    /** Returns the child called {@code childName}, or null. */
    public Node child(byte[] childName) {
        return children == null ? null : children.get(childName);
    }

    /** Returns the children in name order (a live, unmodifiable view). */
    public Collection<Node> children() {
        if (children == null) {
            return List.of();
        }
        return java.util.Collections.unmodifiableCollection(children.values());
    }

    /**
     * Returns every node below this one in depth-first preorder: each child, then everything
     * below it, then the next child. The walk keeps one iterator per level on a stack instead
     * of recursing. The tree must not change while it runs.
     */
    public Iterable<Node> descendants() {
        return () -> new Iterator<>() {
            private final Deque<Iterator<Node>> levels = new ArrayDeque<>(
                    List.of(children().iterator()));

            @Override
            public boolean hasNext() {
                while (!levels.isEmpty() && !levels.peek().hasNext()) {
                    levels.pop();
                }
                return !levels.isEmpty();
            }

            @Override
            public Node next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                Node node = levels.peek().next();
                if (node.isDirectory()) {
                    levels.push(node.children().iterator());
                }
                return node;
            }
        };
    }

    public int childCount() {
        return children == null ? 0 : children.size();
    }

    /** Adds {@code child}, replacing (and returning) any child of the same name. */
    public Node put(Node child) {
        requireDirectory();
        child.parent = this;
        Node old = children.put(child.name, child);
        if (old != null && old != child) {
            old.parent = null;
        }
        return old;
    }

    /** Removes and returns the child called {@code childName}, or null. */
    public Node remove(byte[] childName) {
        requireDirectory();
        Node old = children.remove(childName);
        if (old != null) {
            old.parent = null;
        }
        return old;
    }

    /** Removes every child. */
    public void clear() {
        requireDirectory();
        for (Node c : children.values()) {
            c.parent = null;
        }
        children.clear();
    }

    private void requireDirectory() {
        if (children == null) {
            throw new IllegalStateException(path() + " is not a directory");
        }
    }

    /** Returns the absolute path bytes, "/" for the root. */
    public byte[] pathBytes() {
        if (parent == null) {
            return name.length == 0 ? new byte[] {'/'} : name.clone();
        }
        List<byte[]> parts = new ArrayList<>();
        for (Node n = this; n.parent != null; n = n.parent) {
            parts.add(n.name);
        }
        int length = 0;
        for (byte[] p : parts) {
            length += p.length + 1;
        }
        byte[] path = new byte[length];
        int pos = 0;
        for (int i = parts.size() - 1; i >= 0; i--) {
            path[pos++] = '/';
            byte[] p = parts.get(i);
            System.arraycopy(p, 0, path, pos, p.length);
            pos += p.length;
        }
        return path;
    }

    /** Returns the absolute path for messages, with bytes that are not UTF-8 as \xNN. */
    public String path() {
        return display(pathBytes());
    }

    /** Renders bytes as text for messages, escaping bytes that are not valid UTF-8 as \xNN. */
    public static String display(byte[] bytes) {
        var decoder = StandardCharsets.UTF_8.newDecoder();
        try {
            return decoder.decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            StringBuilder sb = new StringBuilder();
            for (byte b : bytes) {
                int v = b & 0xff;
                if (v >= 0x20 && v < 0x7f && v != '\\') {
                    sb.append((char) v);
                } else {
                    sb.append(String.format("\\x%02x", v));
                }
            }
            return sb.toString();
        }
    }

    @Override
    public String toString() {
        return path();
    }
}
