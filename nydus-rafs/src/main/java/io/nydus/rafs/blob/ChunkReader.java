package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Reads one chunk's data from a local blob file: the stored bytes at the chunk's compressed
 * offset, decompressed with the blob's compressor and checked against the chunk's digest. A chunk
 * that fails its digest is an error, never data.
 */
public final class ChunkReader {
    private ChunkReader() {
    }

    public static byte[] read(FileChannel blobFile, BlobInfo blob, Chunk chunk)
            throws IOException {
        byte[] stored = new byte[chunk.compressedSize()];
        ByteBuffer buffer = ByteBuffer.wrap(stored);
        long position = chunk.compressedOffset();
        while (buffer.hasRemaining()) {
            int n = blobFile.read(buffer, position);
            if (n < 0) {
                throw new EOFException("blob " + blob.blobId() + ": chunk " + chunk.index()
                        + " at offset " + chunk.compressedOffset() + " with " + stored.length
                        + " stored bytes runs past the end of the blob");
            }
            position += n;
        }
        byte[] data = new byte[chunk.uncompressedSize()];
        String where = "blob " + blob.blobId() + ": chunk " + chunk.index() + " at offset "
                + chunk.compressedOffset();
        try {
            if (chunk.compressed()) {
                blob.compressor().decompress(stored, 0, stored.length, data, 0, data.length);
            } else if (stored.length == data.length) {
                System.arraycopy(stored, 0, data, 0, data.length);
            } else {
                throw new RafsFormatException("raw chunk has " + stored.length
                        + " stored bytes but " + data.length + " uncompressed bytes");
            }
        } catch (RafsFormatException e) {
            throw new RafsFormatException(where + ": " + e.getMessage(), e);
        }
        byte[] digest = blob.digester().digest(data, 0, data.length);
        if (!chunk.digest().matches(digest)) {
            throw new RafsFormatException(where + ": digest mismatch, expected "
                    + chunk.digest() + ", got " + java.util.HexFormat.of().formatHex(digest));
        }
        return data;
    }
}
