package io.nydus.builder;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.util.List;

/** Reads a regular file's data chunk by chunk, checking that the chunks cover its size. */
final class FileData {
    /** Receives one chunk's verified data and its offset in the file. */
    @FunctionalInterface
    interface ChunkSink {
        void accept(long fileOffset, byte[] data) throws IOException;
    }

    private FileData() {
    }

    /**
     * Reads every chunk of {@code node}'s file in order and hands it to {@code sink}.
     *
     * @throws RafsFormatException if the chunks do not cover the file size exactly
     */
    static void read(Node node, int chunkSize, BlobSet blobs, ChunkSink sink)
            throws IOException {
        long size = node.inode().size();
        List<Chunk> chunks = node.inode().chunks();
        checkLayout(node, chunkSize, size, chunks);
        for (int i = 0; i < chunks.size(); i++) {
            sink.accept((long) i * chunkSize, blobs.read(chunks.get(i)));
        }
    }

    /**
     * Checks that a file of {@code size} bytes has one chunk per {@code chunkSize} bytes, each
     * full except the last.
     */
    static void checkLayout(Node node, int chunkSize, long size, List<Chunk> chunks)
            throws RafsFormatException {
        long expected = (size + chunkSize - 1) / chunkSize;
        if (chunks.size() != expected) {
            throw new RafsFormatException(node.path() + ": " + chunks.size() + " chunks for "
                    + size + " bytes, expected " + expected + " of chunk size " + chunkSize);
        }
        for (int i = 0; i < chunks.size(); i++) {
            long want = Math.min(chunkSize, size - (long) i * chunkSize);
            int have = chunks.get(i).uncompressedSize();
            if (have != want) {
                throw new RafsFormatException(node.path() + ": chunk " + i + " (blob "
                        + chunks.get(i).blobIndex() + " CI index " + chunks.get(i).index()
                        + ") has uncompressed size " + have + ", expected " + want);
            }
        }
    }

    /** Returns whether every byte is zero, so the chunk can stay a hole. */
    static boolean isZero(byte[] data) {
        for (byte b : data) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }
}
