package io.nydus.storage;

import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.rafs.blob.CiEntry;
import io.nydus.rafs.blob.CiEntryV2;
import io.nydus.rafs.blob.CiTableV2;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.storage.cache.ChunkStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One blob of a mounted image: its blob table entry, where its fetched chunks are stored and
 * its chunks by CI index. Chunks come from the bootstrap's chunk table. Before a chunk is
 * fetched, the blob's own chunk table (its CI table) must place it where the bootstrap does:
 * the table is read once from the cache's {@code .blob.meta} file, which converters ship in
 * the bootstrap layer, or else fetched from the blob and kept in that file. When the bootstrap
 * lacks chunks, the blob's table and digest array fill the gaps.
 */
final class BlobState {
    private static final Logger LOG = LoggerFactory.getLogger(BlobState.class);

    private final int index;
    private final BlobInfo info;
    private final ChunkStore store;
    private final Chunk[] chunks;
    private final BlobMetaLoader loader;
    private final Path metaFile;
    private List<CiEntry> table;
    /** The CI table with its contexts, for a ZRAN blob once {@link #table} was read. */
    private CiTableV2 zranTable;
    private boolean complete;
    /** The CI index right after the chunks of the last on-demand fetch, or -1. */
    private int nextMiss = -1;
    /** The compressed bytes that on-demand fetches of one sequential run have fetched. */
    private long runBytes;

    /**
     * @param metaFile the cache file of the blob's CI table, or null without a cache directory
     */
    BlobState(int index, BlobInfo info, ChunkStore store, Chunk[] chunks, BlobMetaLoader loader,
            Path metaFile) {
        this.index = index;
        this.info = info;
        this.store = store;
        this.chunks = chunks;
        this.loader = loader;
        this.metaFile = metaFile;
        this.complete = allPresent(chunks);
    }

    private static boolean allPresent(Chunk[] chunks) {
        for (Chunk chunk : chunks) {
            if (chunk == null) {
                return false;
            }
        }
        return true;
    }

    int index() {
        return index;
    }

    BlobInfo info() {
        return info;
    }

    String id() {
        return info.blobId();
    }

    ChunkStore store() {
        return store;
    }

    int chunkCount() {
        return chunks.length;
    }

    /**
     * Returns the compressed bytes of the sequential run that an on-demand fetch of chunk
     * {@code index} continues, or 0 when it starts no run: it follows no earlier fetch of
     * this blob.
     */
    synchronized long sequentialRun(int index) {
        return nextMiss == index ? runBytes : 0;
    }

    /**
     * Records an on-demand fetch of this blob up to chunk {@code lastIndex}, of {@code bytes}
     * compressed bytes, which {@code continued} the previous run or started a new one.
     */
    synchronized void fetched(int lastIndex, long bytes, boolean continued) {
        nextMiss = lastIndex + 1;
        runBytes = continued ? runBytes + bytes : bytes;
    }

    /**
     * Returns chunk {@code ciIndex} if the bootstrap describes it or the blob's tables have
     * been read, else null; it never reads them.
     */
    synchronized Chunk knownChunk(int ciIndex) {
        return chunks[ciIndex];
    }

    /**
     * Returns chunk {@code ciIndex}, taking the blob's CI table and digest array when the
     * bootstrap lacks it, or null if the chunk has no known digest.
     *
     * @throws IOException if the blob's tables are needed and cannot be read or are corrupt
     */
    Chunk chunk(int ciIndex) throws IOException {
        synchronized (this) {
            Chunk chunk = chunks[ciIndex];
            if (chunk != null || complete) {
                return chunk;
            }
            fillFromBlob();
            return chunks[ciIndex];
        }
    }

    private void fillFromBlob() throws IOException {
        LOG.info("reading the chunk table of blob {} because the bootstrap lacks some of its"
                + " chunks", info.blobId());
        Chunk[] fromBlob;
        try {
            fromBlob = BlobMetaLoader.chunks(table(), loader.fetchDigests(info), index);
        } catch (IOException e) {
            LOG.error("cannot use the chunk table of blob {}: {}", info.blobId(),
                    e.getMessage());
            throw e;
        }
        for (int i = 0; i < chunks.length; i++) {
            if (chunks[i] == null) {
                chunks[i] = fromBlob[i];
            }
        }
        complete = true;
    }

    /**
     * Returns the blob's CI table, which must place every chunk before it is fetched, or an
     * empty list when the blob's table cannot be decoded and the bootstrap describes every
     * chunk.
     *
     * @throws IOException if the table cannot be read or is corrupt
     */
    synchronized List<CiEntry> table() throws IOException {
        if (table == null) {
            if (info.has(BlobFeatures.CHUNK_INFO_V2) && !info.has(BlobFeatures.ZRAN)
                    && complete) {
                // TODO: decode version 2 CI entries of batch and encrypted blobs.
                LOG.warn("blob {} has version 2 CI entries without ZRAN, which cannot be"
                        + " decoded; its chunks are located by the bootstrap alone",
                        info.blobId());
                table = List.of();
            } else if (info.ciUncompressedSize() == 0 && complete) {
                // A blob written without a CI table has only the bootstrap to describe it.
                table = List.of();
            } else {
                table = loadTable();
            }
        }
        return table;
    }

    private List<CiEntry> loadTable() throws IOException {
        if (metaFile != null && Files.isRegularFile(metaFile)) {
            try {
                BlobMetaFile cached = BlobMetaFile.decode(Files.readAllBytes(metaFile),
                        metaFile.toString());
                return checked(decode(cached, metaFile.toString()), metaFile.toString());
            } catch (IOException e) {
                LOG.warn("discarding the chunk table file {}: {}", metaFile, e.getMessage());
                Files.deleteIfExists(metaFile);
            }
        }
        // A complete bootstrap checks every entry below, so the ToC adds nothing then, except
        // for a ZRAN table: the bootstrap records neither its contexts nor where each chunk
        // starts in its context.
        boolean checkToc = !complete || info.has(BlobFeatures.ZRAN);
        BlobMetaFile fetched = loader.fetchTable(info, checkToc);
        List<CiEntry> entries = checked(decode(fetched, "the backend"), "the backend");
        if (metaFile != null) {
            keep(fetched);
        }
        LOG.info("fetched the chunk table of blob {} ({} chunks)", info.blobId(),
                entries.size());
        return entries;
    }

    /** Decodes a CI table, keeping the contexts of a ZRAN blob's table. */
    private List<CiEntry> decode(BlobMetaFile file, String source) throws IOException {
        if (!info.has(BlobFeatures.ZRAN)) {
            return BlobMetaLoader.entries(info, file, source);
        }
        CiTableV2 decoded = BlobMetaLoader.zranTable(info, file, source);
        zranTable = decoded;
        return decoded.entries().stream().map(CiEntryV2::place).toList();
    }

    /**
     * Returns the CI table with the ZRAN contexts that a ZRAN blob's chunks are inflated from,
     * reading it first if needed.
     *
     * @throws IOException if the table cannot be read or is corrupt
     */
    synchronized CiTableV2 zranTable() throws IOException {
        table();
        if (zranTable == null) {
            throw new IOException("blob " + info.blobId() + " is not a ZRAN blob");
        }
        return zranTable;
    }

    /**
     * Returns {@code entries} if they place every chunk the bootstrap describes where the
     * bootstrap does. One entry that differs means the table is corrupt, so none is trusted.
     */
    private List<CiEntry> checked(List<CiEntry> entries, String source) throws IOException {
        for (int i = 0; i < chunks.length; i++) {
            Chunk chunk = chunks[i];
            if (chunk != null && !samePlace(entries.get(i), chunk)) {
                throw new IOException("blob " + info.blobId() + ": invalid CI table from "
                        + source + ": entry " + i + " (" + entries.get(i) + ") differs from the"
                        + " bootstrap's chunk " + chunk.index() + " (compressed offset "
                        + chunk.compressedOffset() + " size " + chunk.compressedSize() + ")");
            }
        }
        return entries;
    }

    private static boolean samePlace(CiEntry e, Chunk chunk) {
        return e.compressedOffset() == chunk.compressedOffset()
                && e.compressedSize() == chunk.compressedSize()
                && e.uncompressedOffset() == chunk.uncompressedOffset()
                && e.uncompressedSize() == chunk.uncompressedSize();
    }

    private void keep(BlobMetaFile fetched) {
        Path partial = metaFile.resolveSibling(metaFile.getFileName() + ".partial");
        try {
            Files.write(partial, fetched.encode());
            Files.move(partial, metaFile, StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // The table in memory still serves this mount; the next one fetches it again.
            LOG.warn("cannot keep the chunk table of blob {} in {}: {}", info.blobId(),
                    metaFile, e.getMessage());
        }
    }

    /**
     * Checks that the blob's chunk table places {@code chunk} where the bootstrap does.
     *
     * @param entries the result of {@link #table()}
     * @throws IOException naming the blob, the chunk and both places
     */
    void checkPlace(Chunk chunk, List<CiEntry> entries) throws IOException {
        if (entries.isEmpty()) {
            return;
        }
        CiEntry e = entries.get(chunk.index());
        if (!samePlace(e, chunk)) {
            throw new IOException(ChunkFetcher.describe(this, chunk) + ": the blob's chunk"
                    + " table places it at compressed offset " + e.compressedOffset() + " size "
                    + e.compressedSize() + ", uncompressed offset " + e.uncompressedOffset()
                    + " size " + e.uncompressedSize());
        }
    }
}
