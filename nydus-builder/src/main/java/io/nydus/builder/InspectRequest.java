package io.nydus.builder;

import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.DecodedBootstrap;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs the requests of upstream's {@code nydus-image inspect --request} that return JSON:
 * {@code stats}, {@code blobs} and {@code prefetch}, with upstream's keys. Upstream's nydusify
 * reads the blob list of an image this way.
 */
public final class InspectRequest {
    /** The supported requests, as upstream names them. */
    public static final List<String> SUPPORTED = List.of("stats", "blobs", "prefetch");

    private InspectRequest() {
    }

    /**
     * Returns the result of {@code request} as maps and lists for a JSON serializer.
     *
     * @throws IllegalArgumentException naming the request when it is not one of
     *     {@link #SUPPORTED}
     */
    public static Object run(ImageInspector.Report report, String request) {
        String command = request.strip();
        return switch (command) {
            case "stats" -> Map.of("inodes_count",
                    report.decoded().superBlock().inodeCount());
            case "blobs" -> blobs(report.decoded());
            case "prefetch" -> prefetch(report);
            default -> throw new IllegalArgumentException("unsupported inspect request '"
                    + request + "', expected one of " + String.join(", ", SUPPORTED));
        };
    }

    private static List<Object> blobs(DecodedBootstrap decoded) {
        List<Object> blobs = new ArrayList<>();
        for (BlobInfo blob : decoded.bootstrap().blobs()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("blob_id", blob.blobId());
            // RAFS v6 blob tables have no readahead range, and upstream reports 0 for them.
            m.put("readahead_offset", 0);
            m.put("readahead_size", 0);
            m.put("decompressed_size", blob.uncompressedSize());
            m.put("compressed_size", blob.compressedSize());
            blobs.add(m);
        }
        return blobs;
    }

    /**
     * Lists the prefetch table: each entry's nid, which RAFS v6 uses as the inode number, and
     * every path of that inode, as a hard-linked file has several.
     */
    private static List<Object> prefetch(ImageInspector.Report report) {
        Map<Inode, List<String>> paths = new IdentityHashMap<>();
        for (ImageInspector.Entry e : report.entries()) {
            paths.computeIfAbsent(e.node().inode(), inode -> new ArrayList<>())
                    .add(ImageInspector.escape(e.node().pathBytes()));
        }
        List<Object> prefetch = new ArrayList<>();
        for (Node node : report.decoded().bootstrap().prefetch()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("inode", report.decoded().nid(node));
            m.put("path", paths.getOrDefault(node.inode(), List.of()));
            prefetch.add(m);
        }
        return prefetch;
    }
}
