package io.nydus.cli;

import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The statistics of `nydus-image stat`. The figures of the base images (one image, or every
 * image of a directory) are summed, and their distinct chunks form a deduplication dictionary.
 * An optional target image's chunks are split into those the dictionary has (referenced) and
 * the rest (owned), so add every base image before the target.
 */
final class ImageStat {
    /** The largest deduplication threshold of the table, as upstream prints it. */
    static final int MAX_THRESHOLD = 20;

    private static final Logger LOG = LoggerFactory.getLogger(ImageStat.class);

    private final DigestAlgorithm digester;
    private final ImageFigures base = new ImageFigures();
    private final ImageFigures target = new ImageFigures();
    /** The distinct chunks of the base images by digest, with how many images have each. */
    private final Map<ChunkDigest, DictionaryChunk> dictionary = new LinkedHashMap<>();
    private boolean dedupEnabled;
    private boolean targetEnabled;

    private static final class DictionaryChunk {
        private final Chunk chunk;
        private long images = 1;

        private DictionaryChunk(Chunk chunk) {
            this.chunk = chunk;
        }
    }

    /**
     * One row of the deduplication table: the chunks of the base images if every chunk that at
     * least {@code threshold} images share went into one dictionary image, stored once, and
     * each other chunk stayed in every image that has it.
     *
     * @param content every chunk of every image, each image's distinct chunks counted once
     * @param base the chunks the dictionary image would store
     * @param image the chunks the images would still store themselves
     */
    record DedupRow(int threshold, ChunkSum content, ChunkSum base, ChunkSum image) {
        /** Returns the chunks stored after deduplication, in the dictionary or the images. */
        long dedupChunks() {
            return base.chunks() + image.chunks();
        }
    }

    /**
     * @param digester the chunk digest algorithm of the dictionary. Base images with the other
     *     algorithm are left out of it, because their digests cannot match.
     */
    ImageStat(DigestAlgorithm digester) {
        this.digester = digester;
    }

    /** Makes the report include the deduplication figures and table, as for a directory. */
    void enableDedup() {
        dedupEnabled = true;
    }

    /** Adds a base image to the base figures and its distinct chunks to the dictionary. */
    void addBase(StatInputs.Image image) {
        Map<ChunkDigest, Chunk> chunks = base.addTree(image.bootstrap().root());
        chunks.values().forEach(base::addOwned);
        DigestAlgorithm imageDigester = image.bootstrap().digester();
        if (imageDigester != digester) {
            LOG.warn("{}: chunk digests are {}, not the --digester {}, so its {} chunks are left"
                    + " out of the deduplication dictionary", image.source(),
                    imageDigester.label(), digester.label(), chunks.size());
            return;
        }
        for (Chunk chunk : chunks.values()) {
            DictionaryChunk known = dictionary.putIfAbsent(chunk.digest(),
                    new DictionaryChunk(chunk));
            if (known != null) {
                known.images++;
            }
        }
        LOG.debug("{}: {} distinct chunks, {} in the dictionary of the images read so far",
                image.source(), chunks.size(), dictionary.size());
    }

    /** Sets the target image and splits its distinct chunks into referenced and owned ones. */
    void setTarget(StatInputs.Image image) {
        if (targetEnabled) {
            throw new IllegalStateException("the target image is already set");
        }
        targetEnabled = true;
        if (image.bootstrap().digester() != digester) {
            LOG.warn("{}: chunk digests are {}, not the --digester {}, so no chunk of the target"
                    + " matches the deduplication dictionary", image.source(),
                    image.bootstrap().digester().label(), digester.label());
        }
        for (Chunk chunk : target.addTree(image.bootstrap().root()).values()) {
            DictionaryChunk known = dictionary.get(chunk.digest());
            if (known != null && known.chunk.uncompressedSize() == chunk.uncompressedSize()) {
                target.addReferenced(chunk);
            } else {
                target.addOwned(chunk);
            }
        }
    }

    /** Completes the figures and returns the report; call it once, after every image. */
    Report finish() {
        base.addPaddingToUncompressedSize();
        if (targetEnabled) {
            target.addPaddingToUncompressedSize();
        }
        List<DedupRow> rows = List.of();
        if (dedupEnabled) {
            dictionary.values().forEach(entry -> base.addDedup(entry.chunk));
            rows = dedupRows();
        }
        return new Report(dedupEnabled, targetEnabled, base, target, rows);
    }

    private List<DedupRow> dedupRows() {
        List<DedupRow> rows = new ArrayList<>();
        for (int threshold = 1; threshold <= MAX_THRESHOLD; threshold++) {
            DedupRow row = dedupRow(threshold);
            // Upstream's table ends at the first row without chunks, so it is empty or full.
            if (row.dedupChunks() == 0) {
                break;
            }
            rows.add(row);
        }
        return rows;
    }

    private DedupRow dedupRow(int threshold) {
        ChunkSum content = ChunkSum.ZERO;
        ChunkSum dictionaryImage = ChunkSum.ZERO;
        ChunkSum images = ChunkSum.ZERO;
        for (DictionaryChunk entry : dictionary.values()) {
            content = content.plus(entry.chunk, entry.images);
            if (entry.images >= threshold) {
                dictionaryImage = dictionaryImage.plus(entry.chunk);
            } else {
                images = images.plus(entry.chunk, entry.images);
            }
        }
        return new DedupRow(threshold, content, dictionaryImage, images);
    }

    /**
     * The statistics to print or write.
     *
     * @param dedupEnabled whether the base images came from a directory, which adds the
     *     deduplication figures and table
     * @param targetEnabled whether a target image was given
     * @param base the figures of the base images
     * @param target the figures of the target image, all zero without one
     * @param dedupRows the deduplication table by threshold, from 1; empty unless
     *     {@code dedupEnabled} and the images have chunks
     */
    record Report(boolean dedupEnabled, boolean targetEnabled, ImageFigures base,
            ImageFigures target, List<DedupRow> dedupRows) {

        Report {
            dedupRows = List.copyOf(dedupRows);
        }

        /** Prints the report in upstream's layout. */
        void writeText(PrintWriter out) {
            if (targetEnabled) {
                out.println("Target Image Statistics:");
                target.writeText(out);
            }
            out.printf("%n%nBase Image Statistics:%n");
            base.writeText(out);
            if (dedupEnabled) {
                writeDedupTable(out);
            }
            out.flush();
        }

        private void writeDedupTable(PrintWriter out) {
            out.printf("%n%nChunk Deduplication Statistics:%n");
            out.println("Global Dedup Thresh:\tRaw Chunks:\tDedup Chunks:\tComp Content Size:"
                    + "\tComp Base Size:\tComp Image Size:\tUncomp Content Size:"
                    + "\tUncomp Base Size\tUncomp Image Size");
            for (DedupRow row : dedupRows) {
                out.printf("%-24d0x%-14x0x%-14x0x%-14x0x%-14x0x%-14x0x%-14x0x%-14x0x%-14x%n",
                        row.threshold(), row.content().chunks(), row.dedupChunks(),
                        row.content().compressedSize(), row.base().compressedSize(),
                        row.image().compressedSize(), row.content().uncompressedSize(),
                        row.base().uncompressedSize(), row.image().uncompressedSize());
            }
        }

        /** Returns the report as upstream's JSON object; the table is not part of it. */
        Map<String, Object> toJson() {
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("dedup_enabled", dedupEnabled);
            json.put("target_enabled", targetEnabled);
            json.put("base_image", base.toJson());
            json.put("target_image", target.toJson());
            return json;
        }
    }
}
