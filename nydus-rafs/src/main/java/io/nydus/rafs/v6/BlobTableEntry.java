package io.nydus.rafs.v6;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/** The 256-byte blob table entry (`RafsV6Blob`). */
final class BlobTableEntry {
    static final int SIZE = OnDisk.BLOB_ENTRY_SIZE;

    private BlobTableEntry() {
    }

    static byte[] encode(BlobInfo blob, int index, int chunkSize) {
        byte[] b = new byte[SIZE];
        byte[] id = blob.blobId().getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(id, 0, b, 0, id.length);
        Le.putInt(b, 64, index);
        Le.putInt(b, 68, chunkSize);
        Le.putInt(b, 72, blob.chunkCount());
        Le.putInt(b, 76, blob.compressor().code());
        Le.putInt(b, 80, blob.digester().code());
        Le.putInt(b, 84, blob.features());
        Le.putLong(b, 88, blob.compressedSize());
        Le.putLong(b, 96, blob.uncompressedSize());
        Le.putInt(b, 104, blob.tocSize());
        Le.putInt(b, 108, blob.ciCompressor().code());
        Le.putLong(b, 112, blob.ciOffset());
        Le.putLong(b, 120, blob.ciCompressedSize());
        Le.putLong(b, 128, blob.ciUncompressedSize());
        System.arraycopy(HexFormat.of().parseHex(blob.tocDigest()), 0, b, 136, 32);
        System.arraycopy(HexFormat.of().parseHex(blob.metaDigest()), 0, b, 168, 32);
        Le.putLong(b, 200, blob.metaSize());
        return b;
    }
}
