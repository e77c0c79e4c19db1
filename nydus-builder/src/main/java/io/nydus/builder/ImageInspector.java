package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.SuperBlockInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Describes an image's bootstrap for people and scripts: superblock, blob table, one line per
 * tree entry with its chunks, and totals. {@link #writeText} prints it; {@link #toJson} returns
 * the same data as maps and lists for a JSON serializer. Paths and other names are shown with
 * invalid UTF-8 and control characters escaped as \xNN and backslashes doubled.
 */
public final class ImageInspector {
    private ImageInspector() {
    }

    /**
     * One tree entry.
     *
     * @param node the entry
     * @param nid the inode's nid
     * @param nlink the stored link count
     */
    public record Entry(Node node, long nid, long nlink) {
    }

    /**
     * Sums over the tree.
     *
     * @param files regular file names, hardlinks included
     * @param bytes file data bytes, each hardlinked file counted once
     * @param chunks chunk references, each hardlinked file counted once
     * @param uniqueChunks distinct chunks by blob and CI index
     * @param referencedBytes uncompressed bytes of all chunk references
     * @param uniqueBytes uncompressed bytes of the distinct chunks
     * @param blobs blobs in the blob table
     */
    public record Totals(long files, long bytes, long chunks, long uniqueChunks,
            long referencedBytes, long uniqueBytes, int blobs) {

        /** Returns referenced bytes per stored byte: 1.0 without deduplication. */
        public double dedupRatio() {
            return uniqueBytes == 0 ? 1.0 : (double) referencedBytes / uniqueBytes;
        }
    }

    /** The inspected image. */
    public record Report(Path bootstrap, DecodedBootstrap decoded, List<Entry> entries,
            Totals totals) {
    }

    /** Reads and validates the bootstrap and collects the report. */
    public static Report inspect(Path bootstrap) throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(bootstrap);
        List<Entry> entries = new ArrayList<>();
        Deque<Node> pending = new ArrayDeque<>();
        pending.push(decoded.bootstrap().root());
        while (!pending.isEmpty()) {
            Node node = pending.pop();
            entries.add(new Entry(node, decoded.nid(node), decoded.inode(node).nlink()));
            List<Node> children = new ArrayList<>(node.children());
            for (int i = children.size() - 1; i >= 0; i--) {
                pending.push(children.get(i));
            }
        }
        return new Report(bootstrap, decoded, List.copyOf(entries), totals(decoded, entries));
    }

    private static Totals totals(DecodedBootstrap decoded, List<Entry> entries) {
        Map<Inode, Boolean> counted = new IdentityHashMap<>();
        Map<Long, Integer> unique = new HashMap<>();
        long files = 0;
        long bytes = 0;
        long chunks = 0;
        long referenced = 0;
        for (Entry e : entries) {
            Inode inode = e.node().inode();
            if (inode.type() != io.nydus.rafs.tree.FileType.REGULAR) {
                continue;
            }
            files++;
            if (counted.put(inode, Boolean.TRUE) != null) {
                continue;
            }
            bytes += inode.size();
            for (Chunk c : inode.chunks()) {
                chunks++;
                referenced += c.uncompressedSize();
                unique.putIfAbsent((long) c.blobIndex() << 24 | c.index(), c.uncompressedSize());
            }
        }
        long uniqueBytes = unique.values().stream().mapToLong(Integer::longValue).sum();
        return new Totals(files, bytes, chunks, unique.size(), referenced, uniqueBytes,
                decoded.bootstrap().blobs().size());
    }

    /** Prints the report as text. */
    public static void writeText(Report report, PrintWriter out) {
        DecodedBootstrap d = report.decoded();
        Bootstrap b = d.bootstrap();
        SuperBlockInfo sb = d.superBlock();
        out.printf("bootstrap: %s%n", report.bootstrap());
        out.printf("superblock: block size %d, root nid %d, inodes %d, blocks %d, build time"
                + " %d.%09d, meta block %d%n", sb.blockSize(), sb.rootNid(), sb.inodeCount(),
                sb.blocks(), sb.buildTime(), sb.buildTimeNanos(), sb.metaBlockAddress());
        out.printf("flags: 0x%x (compressor %s, digester %s, explicit uid/gid %s), chunk size"
                + " 0x%x%n", sb.flags(), b.compressor(), b.digester(), b.explicitUidGid(),
                b.chunkSize());
        out.printf("tables: blobs at %d (%d bytes), chunk info at %d (%d bytes), prefetch at"
                + " %d (%d bytes), %d extra devices%n", sb.blobTableOffset(),
                sb.blobTableSize(), sb.chunkTableOffset(), sb.chunkTableSize(),
                sb.prefetchTableOffset(), sb.prefetchTableSize(), sb.extraDevices());
        out.printf("blobs: %d%n", b.blobs().size());
        for (int i = 0; i < b.blobs().size(); i++) {
            BlobInfo blob = b.blobs().get(i);
            out.printf("  [%d] %s chunks %d compressor %s digester %s compressed %d uncompressed"
                    + " %d features 0x%08x%s%n", i, blob.blobId(), blob.chunkCount(),
                    blob.compressor(), blob.digester(), blob.compressedSize(),
                    blob.uncompressedSize(), blob.features(), refBlobText(blob));
        }
        out.printf("entries: %d%n", report.entries().size());
        for (Entry e : report.entries()) {
            writeEntry(e, out);
        }
        Totals t = report.totals();
        out.printf("totals: files %d, bytes %d, chunks %d, unique chunks %d, dedup ratio %.3f,"
                + " blobs %d%n", t.files(), t.bytes(), t.chunks(), t.uniqueChunks(),
                t.dedupRatio(), t.blobs());
        out.flush();
    }

    private static void writeEntry(Entry e, PrintWriter out) {
        Inode inode = e.node().inode();
        StringBuilder line = new StringBuilder();
        line.append(escape(e.node().pathBytes())).append(' ').append(typeName(inode))
                .append(" mode 0").append(Integer.toOctalString(inode.permissions()))
                .append(' ').append(inode.uid()).append(':').append(inode.gid())
                .append(" size ").append(inode.size()).append(" nid ").append(e.nid())
                .append(" nlink ").append(e.nlink());
        if (inode.type().isDevice()) {
            line.append(" rdev ").append(inode.rdevMajor()).append(':')
                    .append(inode.rdevMinor());
        }
        if (inode.symlinkTarget() != null) {
            line.append(" -> ").append(escape(inode.symlinkTarget()));
        }
        List<String> xattrs = xattrNames(inode);
        if (!xattrs.isEmpty()) {
            line.append(" xattrs ").append(String.join(",", xattrs));
        }
        out.println(line);
        List<Chunk> chunks = inode.chunks();
        for (int i = 0; i < chunks.size(); i++) {
            Chunk c = chunks.get(i);
            out.printf("    chunk %d: blob %d ci %d compressed %d+%d uncompressed %d+%d %s%n",
                    i, c.blobIndex(), c.index(), c.compressedOffset(), c.compressedSize(),
                    c.uncompressedOffset(), c.uncompressedSize(), c.digest());
        }
    }

    /** Returns the report as maps, lists, strings and numbers, in a stable key order. */
    public static Map<String, Object> toJson(Report report) {
        DecodedBootstrap d = report.decoded();
        Bootstrap b = d.bootstrap();
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("bootstrap", report.bootstrap().toString());
        root.put("superblock", superBlockJson(d.superBlock(), b));
        List<Object> blobs = new ArrayList<>();
        for (BlobInfo blob : b.blobs()) {
            blobs.add(blobJson(blob));
        }
        root.put("blobs", blobs);
        List<Object> entries = new ArrayList<>();
        for (Entry e : report.entries()) {
            entries.add(entryJson(e));
        }
        root.put("entries", entries);
        Totals t = report.totals();
        Map<String, Object> totals = new LinkedHashMap<>();
        totals.put("files", t.files());
        totals.put("bytes", t.bytes());
        totals.put("chunks", t.chunks());
        totals.put("unique_chunks", t.uniqueChunks());
        totals.put("referenced_chunk_bytes", t.referencedBytes());
        totals.put("unique_chunk_bytes", t.uniqueBytes());
        totals.put("dedup_ratio", t.dedupRatio());
        totals.put("blobs", t.blobs());
        root.put("totals", totals);
        return root;
    }

    private static Map<String, Object> superBlockJson(SuperBlockInfo sb, Bootstrap b) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("block_size", sb.blockSize());
        m.put("root_nid", sb.rootNid());
        m.put("inode_count", sb.inodeCount());
        m.put("blocks", sb.blocks());
        m.put("build_time", sb.buildTime());
        m.put("build_time_nsec", sb.buildTimeNanos());
        m.put("meta_block_address", sb.metaBlockAddress());
        m.put("flags", String.format("0x%x", sb.flags()));
        m.put("compressor", b.compressor().label());
        m.put("digester", b.digester().label());
        m.put("explicit_uid_gid", b.explicitUidGid());
        m.put("chunk_size", b.chunkSize());
        m.put("extra_devices", sb.extraDevices());
        m.put("blob_table_offset", sb.blobTableOffset());
        m.put("blob_table_size", sb.blobTableSize());
        m.put("chunk_table_offset", sb.chunkTableOffset());
        m.put("chunk_table_size", sb.chunkTableSize());
        m.put("prefetch_table_offset", sb.prefetchTableOffset());
        m.put("prefetch_table_size", sb.prefetchTableSize());
        return m;
    }

    private static Map<String, Object> blobJson(BlobInfo blob) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("blob_id", blob.blobId());
        m.put("chunk_count", blob.chunkCount());
        m.put("compressor", blob.compressor().label());
        m.put("digester", blob.digester().label());
        m.put("compressed_size", blob.compressedSize());
        m.put("uncompressed_size", blob.uncompressedSize());
        m.put("features", String.format("0x%08x", blob.features()));
        m.put("ci_compressor", blob.ciCompressor().label());
        m.put("ci_offset", blob.ciOffset());
        m.put("ci_compressed_size", blob.ciCompressedSize());
        m.put("ci_uncompressed_size", blob.ciUncompressedSize());
        m.put("toc_digest", blob.tocDigest());
        m.put("toc_size", blob.tocSize());
        m.put("blob_meta_digest", blob.metaDigest());
        m.put("blob_meta_size", blob.metaSize());
        return m;
    }

    /**
     * Names the ref blob that contains the chunk table of a blob whose table is stored apart from
     * it, as a ZRAN blob's is, so that a user can tell which file or layer the image needs.
     */
    private static String refBlobText(BlobInfo blob) {
        if (blob.metaDigest().equals(BlobInfo.ZERO_DIGEST)) {
            return "";
        }
        return " ref blob " + blob.metaDigest() + " (" + blob.metaSize() + " bytes)";
    }

    private static Map<String, Object> entryJson(Entry e) {
        Inode inode = e.node().inode();
        Map<String, Object> m = new LinkedHashMap<>();
        putBytes(m, "path", e.node().pathBytes());
        m.put("type", typeName(inode));
        m.put("mode", "0" + Integer.toOctalString(inode.permissions()));
        m.put("uid", inode.uid());
        m.put("gid", inode.gid());
        m.put("size", inode.size());
        m.put("nid", e.nid());
        m.put("nlink", e.nlink());
        m.put("mtime", inode.mtimeSeconds());
        m.put("mtime_nsec", inode.mtimeNanos());
        if (inode.type().isDevice()) {
            m.put("rdev_major", inode.rdevMajor());
            m.put("rdev_minor", inode.rdevMinor());
        }
        if (inode.symlinkTarget() != null) {
            putBytes(m, "symlink_target", inode.symlinkTarget());
        }
        m.put("xattrs", xattrNames(inode));
        putXattrBytes(m, inode);
        if (!inode.chunks().isEmpty()) {
            List<Object> chunks = new ArrayList<>();
            for (Chunk c : inode.chunks()) {
                chunks.add(chunkJson(c));
            }
            m.put("chunks", chunks);
        }
        return m;
    }

    private static Map<String, Object> chunkJson(Chunk c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("blob_index", c.blobIndex());
        m.put("ci_index", c.index());
        m.put("compressed_offset", c.compressedOffset());
        m.put("compressed_size", c.compressedSize());
        m.put("uncompressed_offset", c.uncompressedOffset());
        m.put("uncompressed_size", c.uncompressedSize());
        m.put("compressed", c.compressed());
        m.put("digest", c.digest().toString());
        return m;
    }

    /**
     * Puts the escaped text, plus KEY_bytes in base64 when escaping changed it: for bytes that
     * are not valid UTF-8, control characters and backslashes. A reader can then take the
     * name from KEY whenever KEY_bytes is absent.
     */
    private static void putBytes(Map<String, Object> m, String key, byte[] bytes) {
        String text = escape(bytes);
        m.put(key, text);
        if (!isUtf8(bytes) || !text.equals(new String(bytes, StandardCharsets.UTF_8))) {
            m.put(key + "_bytes", Base64.getEncoder().encodeToString(bytes));
        }
    }

    /**
     * Puts xattrs_bytes, every xattr name in base64 in the order of xattrs, when escaping
     * changed one of the names.
     */
    private static void putXattrBytes(Map<String, Object> m, Inode inode) {
        List<byte[]> names = new ArrayList<>();
        inode.xattrs().forEach((key, value) -> names.add(key));
        boolean escaped = false;
        List<String> encoded = new ArrayList<>();
        for (byte[] name : names) {
            escaped |= !isUtf8(name)
                    || !escape(name).equals(new String(name, StandardCharsets.UTF_8));
            encoded.add(Base64.getEncoder().encodeToString(name));
        }
        if (escaped) {
            m.put("xattrs_bytes", encoded);
        }
    }

    private static List<String> xattrNames(Inode inode) {
        List<String> names = new ArrayList<>();
        inode.xattrs().forEach((key, value) -> names.add(escape(key)));
        return names;
    }

    private static String typeName(Inode inode) {
        return switch (inode.type()) {
            case REGULAR -> "file";
            case DIRECTORY -> "dir";
            case SYMLINK -> "symlink";
            case CHAR_DEVICE -> "char";
            case BLOCK_DEVICE -> "block";
            case FIFO -> "fifo";
            case SOCKET -> "socket";
        };
    }

    /** Escapes invalid UTF-8 and control characters as \xNN and doubles backslashes. */
    static String escape(byte[] bytes) {
        return BytePath.escape(bytes);
    }

    private static boolean isUtf8(byte[] bytes) {
        try {
            StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }
}
