package io.nydus.rafs.blob;

import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import java.io.IOException;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Verifies the bytes of a ToC blob that no section digest covers: the tar header after each
 * section, and the stored form of compressed sections. The ToC's digests hash uncompressed
 * content, so a flip in a tar header, or one that a zstd decoder ignores, would pass them.
 * Both are caught by the blob id, which the builder computes as the SHA-256 of every byte of
 * the blob except the chunk digest array ({@code blob.digest}). An image converted for a
 * registry names each blob by its OCI layer digest instead, the SHA-256 of the whole blob, so
 * that digest is accepted too.
 *
 * <p>NOTE: upstream nydus-image blobs with and without an inlined bootstrap follow that rule;
 * blobs whose id was chosen by another tool would fail the blob id check.
 */
final class BlobIdCheck {
    private static final int BUFFER = 1 << 20;
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    private BlobIdCheck() {
    }

    /** Checks the tar headers that follow the ToC's sections, then the blob id. */
    static void verify(BlobFile file, BlobMeta meta, String blobId) throws IOException {
        for (BlobSection section : meta.sections().values()) {
            checkTarHeader(file, meta, section);
        }
        checkBlobId(file, meta, blobId);
    }

    /**
     * Checks the tar header after a section. The CI table and its header form one tar entry,
     * {@code blob.meta}, whose header follows the CI header.
     */
    private static void checkTarHeader(BlobFile file, BlobMeta meta, BlobSection section)
            throws IOException {
        if (section.name().equals(TocEntry.BLOB_META_HEADER)) {
            return;
        }
        long size = section.storedSize();
        if (section.name().equals(TocEntry.BLOB_META)
                && meta.sections().containsKey(TocEntry.BLOB_META_HEADER)) {
            size += CiHeader.SIZE;
        }
        long at = section.offset() + size;
        String where = "blob " + file.blobId() + ": tar header of " + section.name()
                + " at offset " + at;
        TarHeader.Entry header = TarHeader.decode(file.read("tar header of " + section.name(),
                at, TarHeader.SIZE), 0, where);
        if (!header.name().equals(section.name()) || header.size() != size) {
            throw file.error("tar header of " + section.name(), at, "names '"
                    + header.name() + "' of " + header.size() + " bytes, expected '"
                    + section.name() + "' of " + size + " bytes");
        }
    }

    /**
     * Checks the blob id, unless it is not a SHA-256 digest: a bootstrap inlined in its own
     * blob by this builder records 64 'x' characters, as its id is not known while it is
     * written. A bootstrap that upstream inlines records the SHA-256 of the bytes before
     * {@code image.boot} instead, so that digest is accepted too.
     */
    private static void checkBlobId(BlobFile file, BlobMeta meta, String blobId)
            throws IOException {
        if (!SHA256_HEX.matcher(blobId).matches()) {
            return;
        }
        BlobSection digests = meta.sections().get(TocEntry.BLOB_DIGEST);
        BlobSection boot = meta.sections().get(TocEntry.IMAGE_BOOT);
        long skipFrom = digests == null ? file.size() : digests.offset();
        long skipTo = digests == null ? file.size() : digests.offset() + digests.storedSize();
        long bootAt = boot == null ? -1 : boot.offset();
        MessageDigest md = DigestAlgorithm.newSha256();
        MessageDigest whole = DigestAlgorithm.newSha256();
        String beforeBoot = null;
        for (long pos = 0; pos < file.size(); ) {
            if (pos == skipFrom && skipTo > skipFrom) {
                whole.update(file.read("blob", pos, skipTo - pos));
                pos = skipTo;
                continue;
            }
            if (pos == bootAt) {
                beforeBoot = digestOf(md);
            }
            long stop = nextStop(pos, file.size(), skipFrom, bootAt);
            byte[] bytes = file.read("blob", pos, Math.min(BUFFER, stop - pos));
            md.update(bytes);
            whole.update(bytes);
            pos += bytes.length;
        }
        String actual = HexFormat.of().formatHex(md.digest());
        String layerDigest = HexFormat.of().formatHex(whole.digest());
        if (!actual.equals(blobId) && !blobId.equals(beforeBoot) && !layerDigest.equals(blobId)) {
            throw new RafsFormatException("blob " + blobId + ": sha256 of the blob without its"
                    + " chunk digest array is " + actual + ", expected the blob id, so bytes"
                    + " that the ToC digests do not cover (tar headers or stored compressed"
                    + " data) are corrupt");
        }
    }

    /** Returns the next offset where hashing must pause: the end, the digest array or boot. */
    private static long nextStop(long pos, long size, long skipFrom, long bootAt) {
        long stop = size;
        if (skipFrom > pos) {
            stop = Math.min(stop, skipFrom);
        }
        if (bootAt > pos) {
            stop = Math.min(stop, bootAt);
        }
        return stop;
    }

    private static String digestOf(MessageDigest md) throws IOException {
        try {
            return HexFormat.of().formatHex(((MessageDigest) md.clone()).digest());
        } catch (CloneNotSupportedException e) {
            throw new IOException("SHA-256 digests cannot be copied here", e);
        }
    }
}
