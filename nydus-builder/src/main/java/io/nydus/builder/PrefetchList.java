package io.nydus.builder;

import io.nydus.rafs.tree.Node;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Prefetch patterns as `nydus-image create --prefetch-policy fs` reads them from standard input:
 * one absolute path per line; a directory stands for everything below it.
 */
public final class PrefetchList {
    private final List<byte[]> patterns;

    private PrefetchList(List<byte[]> patterns) {
        this.patterns = patterns;
    }

    public static PrefetchList none() {
        return new PrefetchList(List.of());
    }

    /** Parses newline-separated paths; blank lines are skipped, trailing slashes dropped. */
    public static PrefetchList parse(byte[] text) {
        List<byte[]> patterns = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= text.length; i++) {
            if (i == text.length || text[i] == '\n') {
                int end = i;
                if (end > start && text[end - 1] == '\r') {
                    end--;
                }
                byte[] line = java.util.Arrays.copyOfRange(text, start, end);
                addPattern(patterns, line);
                start = i + 1;
            }
        }
        return new PrefetchList(patterns);
    }

    private static void addPattern(List<byte[]> patterns, byte[] line) {
        String text = new String(line, StandardCharsets.ISO_8859_1).strip();
        if (text.isEmpty()) {
            return;
        }
        if (!text.startsWith("/")) {
            throw new IllegalArgumentException("prefetch pattern '" + Node.display(line)
                    + "' is not an absolute path");
        }
        while (text.length() > 1 && text.endsWith("/")) {
            text = text.substring(0, text.length() - 1);
        }
        patterns.add(text.getBytes(StandardCharsets.ISO_8859_1));
    }

    public boolean isEmpty() {
        return patterns.isEmpty();
    }

    /** Returns the nodes the patterns name, in pattern order; patterns that match nothing drop. */
    public List<Node> resolve(Node root) {
        Set<Node> nodes = new LinkedHashSet<>();
        for (byte[] p : patterns) {
            Node n = lookup(root, p);
            if (n != null) {
                nodes.add(n);
            }
        }
        return List.copyOf(nodes);
    }

    static Node lookup(Node root, byte[] path) {
        Node node = root;
        int start = 1;
        while (start < path.length && node != null) {
            int end = start;
            while (end < path.length && path[end] != '/') {
                end++;
            }
            if (end > start) {
                node = node.child(java.util.Arrays.copyOfRange(path, start, end));
            }
            start = end + 1;
        }
        return node;
    }
}
