package io.nydus.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Copies whole blobs from a backend into local files, for commands such as unpack that read an
 * image's blobs from a directory. Chunk digests are checked where the blobs are read, so a copy
 * is checked only for its length.
 */
public final class BlobDownloads {
    private static final int REQUEST_BYTES = 8 << 20;

    private BlobDownloads() {
    }

    /**
     * Writes blob {@code blobId} of {@code backend} to {@code file}, under a temporary name
     * that is renamed once the whole blob is there.
     *
     * @return the blob's size in bytes
     */
    public static long download(BlobBackend backend, String blobId, Path file)
            throws IOException {
        long size = backend.blobSize(blobId);
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        try (FileChannel out = FileChannel.open(partial, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(REQUEST_BYTES,
                    Math.max(size, 1)));
            for (long offset = 0; offset < size; offset += buffer.limit()) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), size - offset));
                backend.read(blobId, offset, buffer);
                buffer.flip();
                while (buffer.hasRemaining()) {
                    out.write(buffer, offset + buffer.position());
                }
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(partial);
            throw e;
        }
        Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
        return size;
    }
}
