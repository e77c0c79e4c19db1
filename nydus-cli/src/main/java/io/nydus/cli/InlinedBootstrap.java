package io.nydus.cli;

import io.nydus.builder.ExitCleanup;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.SuperBlockInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bootstrap inlined in a data blob (built with --blob-inline-meta), which upstream's check,
 * inspect, unpack and export also take in place of a bootstrap file.
 */
final class InlinedBootstrap {
    private static final Logger LOG = LoggerFactory.getLogger(InlinedBootstrap.class);
    private static final String PLACEHOLDER_ID = "x".repeat(64);
    /** The size of a device table slot, in which EROFS counts the table's offset. */
    private static final int DEVICE_SLOT_BYTES = 128;

    private InlinedBootstrap() {
    }

    /**
     * Returns {@code file} when it is a bootstrap, or else, when it is a data blob with an
     * inlined bootstrap, a copy of that bootstrap in a temporary file that is deleted at exit.
     * Any other file is returned as it is, so that reading it fails with the error that names
     * it.
     */
    static Path resolve(Path file) throws IOException {
        if (!Files.isRegularFile(file) || BootstrapReader.hasSuperblockMagic(file)) {
            return file;
        }
        Optional<byte[]> inlined;
        try (BlobReader reader = BlobReader.open(file, null)) {
            inlined = reader.readBootstrap();
        } catch (RafsFormatException e) {
            LOG.debug("{} is not a data blob either: {}", file, e.getMessage());
            return file;
        }
        if (inlined.isEmpty()) {
            return file;
        }
        byte[] bootstrap = inlined.get();
        nameOwnBlob(bootstrap, file);
        Path copy = ExitCleanup.deleteAtExit(Files.createTempFile(
                "nydus-inlined-" + file.getFileName() + "-", ".boot"));
        Files.write(copy, bootstrap);
        LOG.info("reading the bootstrap inlined in data blob {}, copied to {}", file, copy);
        return copy;
    }

    /**
     * Gives the blob that carries the bootstrap the blob id of {@code file}, its name up to the
     * first dot, as upstream does for blobs with the INLINED_FS_META feature. A builder writes
     * the inlined bootstrap before the blob's digest is known, so the blob table and the device
     * table name that blob by a placeholder, which is 64 'x' characters in this project's
     * builds.
     */
    private static void nameOwnBlob(byte[] bootstrap, Path file) throws IOException {
        String name = file.getFileName().toString();
        int dot = name.indexOf('.');
        byte[] fileId = (dot > 0 ? name.substring(0, dot) : name)
                .getBytes(StandardCharsets.US_ASCII);
        DecodedBootstrap decoded = BootstrapReader.decode(file + ": inlined image.boot",
                ByteBuffer.wrap(bootstrap));
        SuperBlockInfo superBlock = decoded.superBlock();
        // Only the device table and the blob table name blobs; file names elsewhere may look
        // like a placeholder and must stay as they are.
        long devices = (long) superBlock.deviceSlotOffset() * DEVICE_SLOT_BYTES;
        long[][] regions = {
            {devices, devices + (long) superBlock.extraDevices() * DEVICE_SLOT_BYTES},
            {superBlock.blobTableOffset(),
                superBlock.blobTableOffset() + superBlock.blobTableSize()}};
        for (BlobInfo blob : decoded.bootstrap().blobs()) {
            byte[] id = blob.blobId().getBytes(StandardCharsets.US_ASCII);
            // A ZRAN blob (SEPARATE) is named by its gzip layer, which this file is not.
            boolean own = blob.has(BlobFeatures.INLINED_FS_META)
                    && !blob.has(BlobFeatures.SEPARATE) || blob.blobId().equals(PLACEHOLDER_ID);
            if (own && id.length == fileId.length) {
                for (long[] region : regions) {
                    replaceAll(bootstrap, (int) Math.min(region[0], bootstrap.length),
                            (int) Math.min(region[1], bootstrap.length), id, fileId);
                }
            }
        }
    }

    private static void replaceAll(byte[] data, int start, int end, byte[] from, byte[] to) {
        for (int i = start; i + from.length <= end; i++) {
            if (Arrays.equals(data, i, i + from.length, from, 0, from.length)) {
                System.arraycopy(to, 0, data, i, to.length);
                i += from.length - 1;
            }
        }
    }
}
