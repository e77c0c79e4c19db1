package io.nydus.rafs.blob;

import io.nydus.rafs.tree.ChunkDigest;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The self-description of a data blob: its sections, its ToC, its chunk compression information
 * (CI) table and its chunk digest array.
 *
 * @param blobId the blob's id, used in messages
 * @param blobSize the blob file's size
 * @param layout how the sections were found
 * @param toc the ToC entries in stored order, empty without a ToC
 * @param tocDigest hex SHA-256 of the ToC entries and their tar header, empty without a ToC
 * @param sections the sections by name, in the order they were found
 * @param ciHeader the CI header, empty for a blob without chunks
 * @param ciEntries the CI table, one entry per chunk in chunk index order; for a version 2
 *     table the places of its entries
 * @param ciTableV2 the version 2 CI table with its ZRAN contexts, empty for a version 1 table
 * @param digests the {@code blob.digest} array in chunk index order, empty when absent
 */
public record BlobMeta(String blobId, long blobSize, Layout layout, List<TocEntry> toc,
        Optional<String> tocDigest, Map<String, BlobSection> sections,
        Optional<CiHeader> ciHeader, List<CiEntry> ciEntries, Optional<CiTableV2> ciTableV2,
        List<ChunkDigest> digests) {

    /** The method by which a blob's sections were located. */
    public enum Layout {
        /** From the table of contents at the blob's end. */
        TOC,
        /** By walking the tar headers that follow each section, from the end backwards. */
        TAR_HEADERS,
        /** From the CI offset alone, for blobs written without tar headers. */
        NO_HEADERS
    }

    public BlobMeta {
        toc = List.copyOf(toc);
        sections = Collections.unmodifiableMap(new LinkedHashMap<>(sections));
        ciEntries = List.copyOf(ciEntries);
        digests = List.copyOf(digests);
    }

    /** Returns the section called {@code name}, such as {@link TocEntry#IMAGE_BOOT}. */
    public Optional<BlobSection> section(String name) {
        return Optional.ofNullable(sections.get(name));
    }

    /** Returns the size of the chunk data at the start of the blob. */
    public long chunkDataSize() {
        BlobSection data = sections.get(TocEntry.IMAGE_BLOB);
        return data == null ? 0 : data.storedSize();
    }

    /**
     * Returns the CI table in the blob cache's {@code .blob.meta} form, or empty for a blob
     * without chunks.
     */
    public Optional<BlobMetaFile> blobMetaFile() {
        if (ciTableV2.isPresent()) {
            return ciHeader.map(header -> new BlobMetaFile(header, ciTableV2.get().encode()));
        }
        return ciHeader.map(header -> {
            byte[] table = new byte[ciEntries.size() * CiEntry.SIZE];
            for (int i = 0; i < ciEntries.size(); i++) {
                ciEntries.get(i).encode(table, i * CiEntry.SIZE);
            }
            return new BlobMetaFile(header, table);
        });
    }

    /** Returns whether the blob inlines a bootstrap ({@code image.boot}). */
    public boolean hasBootstrap() {
        return sections.containsKey(TocEntry.IMAGE_BOOT);
    }
}
