package io.nydus.rafs.v6;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** Trees with every kind of node RAFS v6 stores, and a deep comparison of two trees. */
final class SampleTrees {
    static final int CHUNK_SIZE = 1 << 20;

    private SampleTrees() {
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Returns a bootstrap with a multi-block directory, hardlinks, long and short symlinks,
     * devices, a FIFO, a socket, xattrs, large ids, setuid bits and chunked files.
     */
    static Bootstrap everything() {
        Node root = Node.root(new Inode(FileType.DIRECTORY).permissions(0755).mtime(0, 0));
        List<Chunk> chunks = new ArrayList<>();
        Node files = dir(root, "files");
        Inode big = regular(3 * CHUNK_SIZE + 5, chunks).permissions(04755).owner(70000, 80000)
                .mtime(1_700_000_000L, 123_456_789);
        big.xattrs().put(bytes("user.comment"), bytes("hello"));
        big.xattrs().put(bytes("trusted.overlay.origin"), new byte[] {0, 1, 2, (byte) 0xFF});
        big.xattrs().put(bytes("security.selinux"), bytes("system_u:object_r:bin_t:s0"));
        files.put(Node.of(bytes("big"), big));
        files.put(Node.of(bytes("big-link"), big));
        files.put(Node.of(bytes("small"), regular(10, chunks)));
        files.put(Node.of(bytes("empty"), new Inode(FileType.REGULAR).permissions(0600)));
        files.put(Node.of(new byte[] {'n', (byte) 0xFF, 'x'}, regular(4096, chunks)));

        Node many = dir(root, "many");
        for (int i = 0; i < 400; i++) {
            many.put(Node.of(bytes(String.format("entry-with-a-longish-name-%04d", i)),
                    new Inode(FileType.REGULAR).permissions(0644)));
        }

        Node links = dir(root, "links");
        links.put(Node.of(bytes("short"), new Inode(FileType.SYMLINK).permissions(0777)
                .symlinkTarget(bytes("../files/big"))));
        links.put(Node.of(bytes("long"), new Inode(FileType.SYMLINK).permissions(0777)
                .symlinkTarget(bytes("d/".repeat(1800) + "end"))));

        Node dev = dir(root, "dev");
        dev.put(Node.of(bytes("null"), new Inode(FileType.CHAR_DEVICE).permissions(0666)
                .rdev(1, 3)));
        dev.put(Node.of(bytes("sda"), new Inode(FileType.BLOCK_DEVICE).permissions(0660)
                .rdev(8, 0)));
        dev.put(Node.of(bytes("widest"), new Inode(FileType.CHAR_DEVICE).permissions(0600)
                .rdev(DeviceNumbers.MAX_MAJOR, DeviceNumbers.MAX_MINOR)));
        dev.put(Node.of(bytes("fifo"), new Inode(FileType.FIFO).permissions(0644)));
        dev.put(Node.of(bytes("socket"), new Inode(FileType.SOCKET).permissions(0755)));
        dir(dir(dir(root, "deep"), "er"), "est");

        long uncompressed = chunks.stream().mapToLong(c -> align(c.uncompressedSize())).sum();
        BlobInfo blob = new BlobInfo("5e".repeat(32), CHUNK_SIZE, chunks.size(), Compressor.ZSTD,
                DigestAlgorithm.BLAKE3, BlobFeatures.NATIVE, nextCompressed(chunks),
                uncompressed, 0, Compressor.NONE, nextCompressed(chunks), 16L * chunks.size(),
                16L * chunks.size(), BlobInfo.ZERO_DIGEST, BlobInfo.ZERO_DIGEST, 0, 0);
        long flags = RafsFlags.COMPRESSION_ZSTD | RafsFlags.HASH_BLAKE3
                | RafsFlags.EXPLICIT_UID_GID | RafsFlags.HAS_XATTR;
        return new Bootstrap(root, List.of(blob), CHUNK_SIZE, flags, List.of(files, links));
    }

    private static Node dir(Node parent, String name) {
        Node dir = Node.of(bytes(name), new Inode(FileType.DIRECTORY).permissions(0750)
                .mtime(1_600_000_000L, 5));
        parent.put(dir);
        return dir;
    }

    /** Returns a regular file whose chunks are appended to the blob's chunk list. */
    private static Inode regular(long size, List<Chunk> blobChunks) {
        Inode inode = new Inode(FileType.REGULAR).permissions(0644).size(size);
        List<Chunk> chunks = new ArrayList<>();
        for (long pos = 0; pos < size; pos += CHUNK_SIZE) {
            int length = (int) Math.min(CHUNK_SIZE, size - pos);
            byte[] digest = new byte[ChunkDigest.SIZE];
            Arrays.fill(digest, (byte) (blobChunks.size() + 1));
            long uncompressedOffset = blobChunks.stream()
                    .mapToLong(c -> align(c.uncompressedSize())).sum();
            Chunk chunk = new Chunk(ChunkDigest.of(digest), 0, blobChunks.size(),
                    nextCompressed(blobChunks), length / 2 + 1, uncompressedOffset, length, true,
                    0x1234_5678 + blobChunks.size(), true);
            blobChunks.add(chunk);
            chunks.add(chunk);
        }
        return inode.chunks(chunks);
    }

    private static long nextCompressed(List<Chunk> chunks) {
        return chunks.isEmpty() ? 0 : chunks.getLast().compressedOffset()
                + chunks.getLast().compressedSize();
    }

    private static long align(long size) {
        return (size + 4095) & ~4095L;
    }

    /** Returns the differences between two trees, including which nodes share an inode. */
    static List<String> differences(Node expected, Node actual) {
        List<String> out = new ArrayList<>();
        compare(expected, actual, out, new IdentityHashMap<>());
        return out;
    }

    private static void compare(Node e, Node a, List<String> out, Map<Inode, Inode> inodes) {
        String path = e.path();
        Inode ei = e.inode();
        Inode ai = a.inode();
        Inode previous = inodes.putIfAbsent(ei, ai);
        if (previous != null && previous != ai) {
            out.add(path + ": hardlinked inode was not shared");
        }
        check(out, path, "type", ei.type(), ai.type());
        check(out, path, "mode", ei.mode(), ai.mode());
        check(out, path, "uid", ei.uid(), ai.uid());
        check(out, path, "gid", ei.gid(), ai.gid());
        check(out, path, "mtime", ei.mtimeSeconds() + "." + ei.mtimeNanos(),
                ai.mtimeSeconds() + "." + ai.mtimeNanos());
        check(out, path, "size", ei.size(), ai.size());
        check(out, path, "rdev", ei.rdevMajor() + ":" + ei.rdevMinor(),
                ai.rdevMajor() + ":" + ai.rdevMinor());
        check(out, path, "symlink", Arrays.toString(ei.symlinkTarget()),
                Arrays.toString(ai.symlinkTarget()));
        check(out, path, "xattrs", ei.xattrs(), ai.xattrs());
        check(out, path, "chunks", ei.chunks(), ai.chunks());

        List<Node> ec = List.copyOf(e.children());
        List<Node> ac = List.copyOf(a.children());
        if (ec.size() != ac.size()) {
            out.add(path + ": " + ec.size() + " children expected, got " + ac.size());
            return;
        }
        for (int i = 0; i < ec.size(); i++) {
            if (!Arrays.equals(ec.get(i).nameBytes(), ac.get(i).nameBytes())) {
                out.add(path + ": child " + i + " is " + ac.get(i).path() + ", expected "
                        + ec.get(i).path());
            } else {
                compare(ec.get(i), ac.get(i), out, inodes);
            }
        }
    }

    private static void check(List<String> out, String path, String field, Object e, Object a) {
        if (!e.equals(a)) {
            out.add(path + ": " + field + " " + a + ", expected " + e);
        }
    }
}
