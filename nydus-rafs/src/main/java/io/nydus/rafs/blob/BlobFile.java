package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Locale;

/** Bounds-checked positional reads from a blob file, with errors that name blob and offset. */
final class BlobFile {
    private final String blobId;
    private final FileChannel channel;
    private final long size;

    BlobFile(String blobId, FileChannel channel) throws IOException {
        this.blobId = blobId;
        this.channel = channel;
        this.size = channel.size();
    }

    String blobId() {
        return blobId;
    }

    long size() {
        return size;
    }

    FileChannel channel() {
        return channel;
    }

    RafsFormatException error(String structure, long offset, String problem) {
        return new RafsFormatException(String.format(Locale.ROOT,
                "blob %s: %s at offset %d (0x%x): %s", blobId, structure, offset, offset,
                problem));
    }

    /** Returns whether {@code length} bytes at {@code offset} lie inside the blob. */
    boolean contains(long offset, long length) {
        return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
    }

    /** Reads exactly {@code length} bytes at {@code offset}, which must lie inside the blob. */
    byte[] read(String structure, long offset, long length) throws IOException {
        if (!contains(offset, length)) {
            throw error(structure, offset, length + " bytes extend past the end of the "
                    + size + "-byte blob");
        }
        if (length > Integer.MAX_VALUE - 8) {
            throw error(structure, offset, length + " bytes are too many to read at once");
        }
        ByteBuffer buffer = ByteBuffer.allocate((int) length);
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, offset + buffer.position());
            if (n < 0) {
                throw error(structure, offset, "the blob ended after " + buffer.position()
                        + " of " + length + " bytes; was it truncated while open?");
            }
        }
        return buffer.array();
    }
}
