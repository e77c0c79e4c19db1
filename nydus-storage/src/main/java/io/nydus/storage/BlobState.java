package io.nydus.storage;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.storage.cache.ChunkStore;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One blob of a mounted image: its blob table entry, where its fetched chunks are stored and
 * its chunks by CI index. Chunks come from the bootstrap's chunk table. When a chunk is needed
 * that the table lacks, the blob's own CI table is fetched once and fills the gaps.
 */
final class BlobState {
    private static final Logger LOG = LoggerFactory.getLogger(BlobState.class);

    private final int index;
    private final BlobInfo info;
    private final ChunkStore store;
    private final Chunk[] chunks;
    private final BlobMetaLoader loader;
    private boolean complete;

    BlobState(int index, BlobInfo info, ChunkStore store, Chunk[] chunks, BlobMetaLoader loader) {
        this.index = index;
        this.info = info;
        this.store = store;
        this.chunks = chunks;
        this.loader = loader;
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
     * Returns chunk {@code ciIndex}, fetching the blob's CI table when the bootstrap lacks it,
     * or null if the chunk has no known digest.
     *
     * @throws IOException if the CI table is needed and cannot be fetched or is corrupt
     */
    Chunk chunk(int ciIndex) throws IOException {
        Chunk chunk;
        synchronized (this) {
            chunk = chunks[ciIndex];
            if (chunk != null || complete) {
                return chunk;
            }
            fillFromBlob();
            return chunks[ciIndex];
        }
    }

    private void fillFromBlob() throws IOException {
        LOG.info("fetching the CI table of blob {} because the bootstrap lacks some of its"
                + " chunks", info.blobId());
        Chunk[] fromBlob;
        try {
            fromBlob = loader.load(info, index);
        } catch (IOException e) {
            LOG.error("cannot use the CI table of blob {}: {}", info.blobId(), e.getMessage());
            throw e;
        }
        if (fromBlob.length != chunks.length) {
            throw new IOException("blob " + info.blobId() + ": CI table has " + fromBlob.length
                    + " entries, the blob table says " + chunks.length);
        }
        for (int i = 0; i < chunks.length; i++) {
            if (chunks[i] == null) {
                chunks[i] = fromBlob[i];
            }
        }
        complete = true;
    }
}
