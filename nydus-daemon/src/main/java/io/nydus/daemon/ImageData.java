package io.nydus.daemon;

import io.nydus.rafs.tree.Chunk;
import io.nydus.storage.ChunkSource;
import java.io.Closeable;
import java.util.List;
import java.util.Map;

/**
 * The data side of one mounted image: chunks served from the blob cache and the backend, plus
 * the prefetch and the figures the API reports.
 */
public interface ImageData extends ChunkSource, Closeable {

    /**
     * Fetches these chunks in the background, in order, ahead of reads. When {@code yielding},
     * the fetch waits while the image's files are being read, as the fetch of every chunk does.
     */
    void prefetch(List<Chunk> chunks, boolean yielding);

    /** Starts fetching every chunk of every blob in the background, when configured to. */
    void prefetchAll();

    /** Describes the backend without secrets, such as "registry 127.0.0.1:5000/app". */
    String backend();

    /** Returns the backend figures under upstream's names. */
    Map<String, Object> backendMetrics();

    /** Returns the blob cache and prefetch figures under upstream's names. */
    Map<String, Object> cacheMetrics();
}
