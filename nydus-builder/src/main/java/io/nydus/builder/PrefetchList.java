package io.nydus.builder;

import io.nydus.rafs.tree.Node;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Prefetch patterns as `nydus-image create --prefetch-policy fs` reads them from standard input:
 * one absolute path per line; a directory stands for everything below it. Relative paths and
 * paths below an earlier pattern are skipped with a warning.
 */
public final class PrefetchList {
    private static final Logger LOG = LoggerFactory.getLogger(PrefetchList.class);

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
                byte[] line = Arrays.copyOfRange(text, start, end);
                addPattern(patterns, line);
                start = i + 1;
            }
        }
        return new PrefetchList(patterns);
    }

    /**
     * Adds the path of {@code line} unless it is relative or an earlier pattern covers it, as
     * upstream's builder skips such lines with a warning.
     */
    private static void addPattern(List<byte[]> patterns, byte[] line) {
        String text = new String(line, StandardCharsets.ISO_8859_1).strip();
        if (text.isEmpty()) {
            return;
        }
        if (!text.startsWith("/")) {
            LOG.warn("prefetch pattern '{}' skipped: it is not an absolute path",
                    Node.display(line));
            return;
        }
        while (text.length() > 1 && text.endsWith("/")) {
            text = text.substring(0, text.length() - 1);
        }
        byte[] path = text.getBytes(StandardCharsets.ISO_8859_1);
        for (byte[] earlier : patterns) {
            if (covers(earlier, path)) {
                LOG.warn("prefetch pattern '{}' skipped: the earlier pattern '{}' covers it",
                        Node.display(path), Node.display(earlier));
                return;
            }
        }
        patterns.add(path);
    }

    /** Returns whether {@code path} is {@code pattern} or lies below it. */
    private static boolean covers(byte[] pattern, byte[] path) {
        if (pattern.length == 1) {
            return true;
        }
        if (path.length < pattern.length
                || !Arrays.equals(path, 0, pattern.length, pattern, 0, pattern.length)) {
            return false;
        }
        return path.length == pattern.length || path[pattern.length] == '/';
    }

    public boolean isEmpty() {
        return patterns.isEmpty();
    }

    /**
     * Returns the kept patterns, one per line. They parse back to this list without a warning,
     * because the skipped lines are gone.
     */
    public byte[] text() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] pattern : patterns) {
            if (out.size() > 0) {
                out.write('\n');
            }
            out.writeBytes(pattern);
        }
        return out.toByteArray();
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
                node = node.child(Arrays.copyOfRange(path, start, end));
            }
            start = end + 1;
        }
        return node;
    }
}
