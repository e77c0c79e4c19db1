package io.nydus.nydusify;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.tree.Xattrs;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Compares two file trees read from bootstraps, entry by entry: type, mode, owner, size,
 * mtime, symlink target, device number, xattrs, hard link grouping and file content. Content
 * is compared by the chunk digests, so both trees must be chunked with the same chunk size and
 * digest algorithm.
 *
 * <p>Hard links are nodes that share one {@link Inode} object, as {@code BootstrapReader}
 * decodes them. Each entry's group is named by the first path of the group in name order.
 */
final class TreeDiff {
    private final List<String> differences = new ArrayList<>();
    private final Map<Inode, String> sourceLinks = new IdentityHashMap<>();
    private final Map<Inode, String> targetLinks = new IdentityHashMap<>();
    private long entries;

    private TreeDiff() {
    }

    /** The differences found and the number of target entries compared. */
    record Result(List<String> differences, long entries) {
    }

    /** Compares {@code target} with the expected tree {@code source}. Both are roots. */
    static Result compare(Node source, Node target) {
        TreeDiff diff = new TreeDiff();
        diff.compareTrees(source, target);
        return new Result(List.copyOf(diff.differences), diff.entries);
    }

    /**
     * Compares the trees depth first, children in name order. A stack of the directories'
     * pairs replaces recursion, because a tree may be thousands of levels deep.
     */
    private void compareTrees(Node sourceRoot, Node targetRoot) {
        Deque<Iterator<Node[]>> levels = new ArrayDeque<>();
        if (compareNode(sourceRoot, targetRoot)) {
            levels.push(childPairs(sourceRoot, targetRoot));
        }
        while (!levels.isEmpty()) {
            if (!levels.peek().hasNext()) {
                levels.pop();
                continue;
            }
            Node[] pair = levels.peek().next();
            if (pair[1] == null) {
                differences.add(pair[0].path() + ": missing from target");
            } else if (pair[0] == null) {
                entries++;
                differences.add(pair[1].path() + ": not in source");
            } else if (compareNode(pair[0], pair[1])) {
                levels.push(childPairs(pair[0], pair[1]));
            }
        }
    }

    /** Compares one entry and returns whether both are directories, to compare below. */
    private boolean compareNode(Node source, Node target) {
        entries++;
        String path = target.path();
        String sourceLeader = sourceLinks.putIfAbsent(source.inode(), path);
        String targetLeader = targetLinks.putIfAbsent(target.inode(), path);
        if (!Objects.equals(sourceLeader, targetLeader)) {
            add(path, "hard link", linkText(sourceLeader), linkText(targetLeader));
        }
        // A further link of a group that matches was compared at the group's first path.
        if (sourceLeader == null || !sourceLeader.equals(targetLeader)) {
            compareInodes(path, source.inode(), target.inode());
        }
        return source.isDirectory() && target.isDirectory();
    }

    /** Returns the children of both directories paired by name, null where one is missing. */
    private static Iterator<Node[]> childPairs(Node source, Node target) {
        Map<String, Node[]> pairs = new TreeMap<>();
        for (Node child : source.children()) {
            pairs.computeIfAbsent(key(child), k -> new Node[2])[0] = child;
        }
        for (Node child : target.children()) {
            pairs.computeIfAbsent(key(child), k -> new Node[2])[1] = child;
        }
        return pairs.values().iterator();
    }

    private void compareInodes(String path, Inode source, Inode target) {
        if (source.type() != target.type()) {
            add(path, "type", source.type(), target.type());
            return;
        }
        compare(path, "mode", octal(source.mode()), octal(target.mode()));
        compare(path, "uid", source.uid(), target.uid());
        compare(path, "gid", source.gid(), target.gid());
        compare(path, "size", source.size(), target.size());
        compare(path, "mtime seconds", source.mtimeSeconds(), target.mtimeSeconds());
        compare(path, "mtime nanoseconds", source.mtimeNanos(), target.mtimeNanos());
        compare(path, "rdev", source.rdevMajor() + ":" + source.rdevMinor(),
                target.rdevMajor() + ":" + target.rdevMinor());
        if (!Arrays.equals(source.symlinkTarget(), target.symlinkTarget())) {
            add(path, "symlink target", bytesText(source.symlinkTarget()),
                    bytesText(target.symlinkTarget()));
        }
        compareXattrs(path, source.xattrs(), target.xattrs());
        compareContent(path, source.chunks(), target.chunks());
    }

    private void compareXattrs(String path, Xattrs source, Xattrs target) {
        Map<String, byte[]> sourceMap = xattrMap(source);
        Map<String, byte[]> targetMap = xattrMap(target);
        TreeMap<String, Boolean> names = new TreeMap<>();
        sourceMap.keySet().forEach(name -> names.put(name, true));
        targetMap.keySet().forEach(name -> names.put(name, true));
        for (String name : names.keySet()) {
            byte[] expected = sourceMap.get(name);
            byte[] actual = targetMap.get(name);
            if (!Arrays.equals(expected, actual)) {
                add(path, "xattr " + displayKey(name), bytesText(expected), bytesText(actual));
            }
        }
    }

    private void compareContent(String path, List<Chunk> source, List<Chunk> target) {
        List<ChunkDigest> expected = source.stream().map(Chunk::digest).toList();
        List<ChunkDigest> actual = target.stream().map(Chunk::digest).toList();
        if (expected.size() != actual.size()) {
            add(path, "content", expected.size() + " chunks", actual.size() + " chunks");
            return;
        }
        for (int i = 0; i < expected.size(); i++) {
            if (!expected.get(i).equals(actual.get(i))) {
                add(path, "content", "chunk " + i + " digest " + expected.get(i),
                        "digest " + actual.get(i));
                return;
            }
        }
    }

    private void compare(String path, String field, Object source, Object target) {
        if (!source.equals(target)) {
            add(path, field, source, target);
        }
    }

    private void add(String path, String field, Object source, Object target) {
        differences.add(difference(path, field, source, target));
    }

    /** Returns the report line of a field that differs, as both tree comparisons write it. */
    static String difference(String path, String field, Object source, Object target) {
        return path + ": " + field + " differs: source " + source + ", target " + target;
    }

    private static Map<String, byte[]> xattrMap(Xattrs xattrs) {
        Map<String, byte[]> map = new TreeMap<>();
        if (xattrs != null) {
            xattrs.forEach((name, value) -> map.put(byteKey(name), value));
        }
        return map;
    }

    /** Returns a key that keeps names distinct and sorts them by their bytes. */
    private static String key(Node node) {
        return byteKey(node.nameBytes());
    }

    private static String byteKey(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    private static String displayKey(String name) {
        return Node.display(name.getBytes(StandardCharsets.ISO_8859_1));
    }

    private static String linkText(String leader) {
        return leader == null ? "(first of its group)" : "linked to " + leader;
    }

    static String octal(int mode) {
        return "0" + Integer.toOctalString(mode);
    }

    static String bytesText(byte[] bytes) {
        return bytes == null ? "(none)" : "\"" + Node.display(bytes) + "\"";
    }
}
