package io.nydus.builder;

import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.blob.CiEntryV2;
import io.nydus.rafs.blob.CiTableV2;
import io.nydus.rafs.blob.ZranGenerator;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.tar.TarEntry;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Cuts the files of a gzip tarball into chunks for a ZRAN (targz-ref) build, where the chunk
 * data stays in the tarball. The first pass, through the tar reader, records where each chunk
 * lies in the inflated tar stream and its SHA-256. The second pass inflates the gzip stream
 * again with a {@link ZranGenerator}, which places each chunk in a ZRAN context, and checks
 * that the bytes at each recorded place have the recorded digest.
 */
final class ZranChunker {
    private static final int TAR_BLOCK = 512;

    private final int chunkSize;
    private final int blobIndex;
    private final List<Planned> planned = new ArrayList<>();
    private long bytesRead;

    /** A chunk found by the first pass, whose list receives it in the second. */
    private record Planned(long tarOffset, int length, ChunkDigest digest, List<Chunk> target,
            String path) {
    }

    /** The chunks and contexts of the second pass, and the gzip stream's size and digest. */
    record Located(CiTableV2 table, List<ChunkDigest> digests, long uncompressedSize,
            ZranGenerator.Digest source) {
    }

    ZranChunker(int chunkSize, int blobIndex) {
        this.chunkSize = chunkSize;
        this.blobIndex = blobIndex;
    }

    long bytesRead() {
        return bytesRead;
    }

    /**
     * Reads a file's data and records its chunks. The returned list is filled by
     * {@link #locate}.
     *
     * @param path the file's name in messages
     * @throws IOException if the entry's data is not stored in one piece after its header
     */
    List<Chunk> addFile(TarEntry entry, InputStream content, String path) throws IOException {
        if (entry.hasHoles()) {
            throw new IOException(path + ": a sparse file cannot be served from the gzip layer"
                    + " in place; build this layer with --type targz-rafs");
        }
        List<Chunk> chunks = new ArrayList<>();
        long dataOffset = entry.headerOffset() + TAR_BLOCK;
        byte[] buffer = new byte[chunkSize];
        for (long done = 0; done < entry.size(); ) {
            int length = (int) Math.min(chunkSize, entry.size() - done);
            if (content.readNBytes(buffer, 0, length) < length) {
                throw new IOException(path + ": file data ended before its " + entry.size()
                        + " bytes");
            }
            ChunkDigest digest = ChunkDigest.of(DigestAlgorithm.SHA256.digest(buffer, 0,
                    length));
            planned.add(new Planned(dataOffset + done, length, digest, chunks, path));
            done += length;
            bytesRead += length;
        }
        return chunks;
    }

    /**
     * Inflates the gzip stream {@code gzip} and places every recorded chunk in it.
     *
     * @param name the tarball's name in messages
     * @throws IOException if the stream differs from the one the first pass read
     */
    Located locate(InputStream gzip, String name) throws IOException {
        List<CiEntryV2> entries = new ArrayList<>(planned.size());
        List<ChunkDigest> digests = new ArrayList<>(planned.size());
        Map<ChunkDigest, Chunk> stored = new HashMap<>();
        byte[] buffer = new byte[chunkSize];
        try (ZranGenerator generator = new ZranGenerator(gzip, name, chunkSize)) {
            for (Planned p : planned) {
                generator.skipTo(p.tarOffset());
                Chunk existing = stored.get(p.digest());
                if (existing != null) {
                    // Equal content is stored once, as upstream's builder does, so the chunk
                    // is only checked here.
                    generator.read(buffer, p.length());
                    checkDigest(p, buffer, name);
                    p.target().add(existing);
                    continue;
                }
                CiEntryV2 e = generator.readChunk(buffer, p.length());
                checkDigest(p, buffer, name);
                Chunk chunk = new Chunk(p.digest(), blobIndex, entries.size(),
                        e.compressedOffset(), e.compressedSize(), e.uncompressedOffset(),
                        e.uncompressedSize(), true, 0, false);
                stored.put(p.digest(), chunk);
                p.target().add(chunk);
                entries.add(e);
                digests.add(p.digest());
            }
            CiTableV2 table = new CiTableV2(entries, generator.contexts());
            long uncompressed = generator.uncompressedSize();
            return new Located(table, digests, uncompressed, generator.finish());
        }
    }

    private static void checkDigest(Planned p, byte[] buffer, String name) throws IOException {
        ChunkDigest actual = ChunkDigest.of(DigestAlgorithm.SHA256.digest(buffer, 0,
                p.length()));
        if (!actual.equals(p.digest())) {
            throw new IOException(name + ": " + p.path() + ": the " + p.length() + " bytes at"
                    + " inflated offset " + p.tarOffset() + " differ from the file data that"
                    + " the tar reader returned; the tarball changed during the build, or the"
                    + " entry's data does not follow its header");
        }
    }
}
