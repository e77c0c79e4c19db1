package io.nydus.builder;

import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The blobs of one image in a blob directory, opened on first use and named by blob id. Every
 * chunk read is checked against the blob's CI table and the chunk's digest.
 */
final class BlobSet implements AutoCloseable {
    private final Path directory;
    private final Path singleFile;
    private final List<BlobInfo> blobs;
    private final BlobReader[] readers;

    /**
     * @param directory the blob directory, or null for an image whose tree must have no data
     * @param blobs the bootstrap's blob table
     */
    BlobSet(Path directory, List<BlobInfo> blobs) {
        this(directory, null, blobs);
    }

    /**
     * @param directory the blob directory, or null
     * @param singleFile the file of the image's only blob, in place of a directory
     * @param blobs the bootstrap's blob table
     */
    BlobSet(Path directory, Path singleFile, List<BlobInfo> blobs) {
        if (directory != null && singleFile != null) {
            throw new IllegalArgumentException("give a blob directory or a blob file, not both");
        }
        this.directory = directory;
        this.singleFile = singleFile;
        this.blobs = List.copyOf(blobs);
        this.readers = new BlobReader[blobs.size()];
    }

    /**
     * Returns the files that an image is read from: its bootstrap and the blob files named
     * by its blob table, whether they exist or not, so that outputs can be checked against them.
     *
     * @param directory the blob directory, or null
     * @param singleFile the file of the image's only blob, or null
     */
    static List<Path> inputFiles(Path bootstrap, Path directory, Path singleFile,
            List<BlobInfo> blobs) {
        List<Path> files = new ArrayList<>();
        files.add(bootstrap);
        if (singleFile != null) {
            files.add(singleFile);
        } else if (directory != null) {
            blobs.forEach(blob -> files.add(directory.resolve(blob.blobId())));
        }
        return files;
    }

    /** Returns the reader of blob {@code index}, opening and checking the blob on first use. */
    BlobReader reader(int index) throws IOException {
        if (index < 0 || index >= blobs.size()) {
            throw new IllegalArgumentException("blob index " + index + " is outside the blob"
                    + " table of " + blobs.size() + " blobs");
        }
        if (readers[index] == null) {
            BlobInfo blob = blobs.get(index);
            readers[index] = blob.has(BlobFeatures.ZRAN)
                    ? BlobReader.openZran(file(blob), refBlobFile(blob), blob)
                    : BlobReader.open(file(blob), blob);
        }
        return readers[index];
    }

    /** Reads, decompresses and verifies one chunk. */
    byte[] read(Chunk chunk) throws IOException {
        return reader(chunk.blobIndex()).readChunk(chunk);
    }

    /** Returns the path of {@code blob} in the directory, failing when it is not there. */
    Path file(BlobInfo blob) throws IOException {
        if (singleFile != null) {
            return singleBlobFile(blob);
        }
        if (directory == null) {
            throw new IOException("blob " + blob.blobId() + " is needed for file data, but no"
                    + " blob directory was given");
        }
        if (!Files.exists(directory)) {
            throw new NoSuchFileException(directory.toString(), null, "blob directory does not"
                    + " exist; give the directory that holds the blobs");
        }
        if (!Files.isDirectory(directory)) {
            throw new IOException("blob directory " + directory + " is not a directory; give the"
                    + " directory that holds the blobs");
        }
        Path file = directory.resolve(blob.blobId());
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, missingBlob(blob));
        }
        return file;
    }

    /**
     * Describes a blob that is not in the directory. The data blob of a ZRAN image is the gzip
     * tarball it was built from, which the build does not copy, so users often leave it out.
     */
    private String missingBlob(BlobInfo blob) {
        String missing = "blob " + blob.blobId() + " is not in the blob directory " + directory;
        if (!blob.has(BlobFeatures.ZRAN)) {
            return missing;
        }
        return "ZRAN " + missing + "; it is the gzip tarball that the image was built from:"
                + " copy that tarball there under its sha256, " + blob.blobId();
    }

    /**
     * Returns the ref blob of a ZRAN blob, which contains its CI table: the file in the blob
     * directory named by the blob table's {@code blob_meta_digest}.
     */
    private Path refBlobFile(BlobInfo blob) throws IOException {
        if (blob.metaDigest().equals(BlobInfo.ZERO_DIGEST)) {
            throw new IOException("blob " + blob.blobId() + " is a ZRAN blob, but its blob table"
                    + " entry names no ref blob (blob_meta_digest is zero); read it through a"
                    + " merged bootstrap or one built with --blob-dir");
        }
        if (directory == null) {
            throw new IOException("ZRAN blob " + blob.blobId() + " needs its ref blob "
                    + blob.metaDigest() + ", but no blob directory was given");
        }
        Path file = directory.resolve(blob.metaDigest());
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "ref blob " + blob.metaDigest()
                    + " of ZRAN blob " + blob.blobId() + " is not in the blob directory "
                    + directory);
        }
        return file;
    }

    private Path singleBlobFile(BlobInfo blob) throws IOException {
        if (blobs.size() > 1) {
            throw new IOException("blob " + blob.blobId() + " is one of " + blobs.size()
                    + " blobs of the image, so one blob file cannot serve it; give the blob"
                    + " directory");
        }
        if (!Files.isRegularFile(singleFile)) {
            throw new NoSuchFileException(singleFile.toString(), null, "blob file for blob "
                    + blob.blobId() + " not found");
        }
        return singleFile;
    }

    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (int i = 0; i < readers.length; i++) {
            if (readers[i] == null) {
                continue;
            }
            try {
                readers[i].close();
            } catch (IOException e) {
                failure = failure == null ? e : failure;
            }
            readers[i] = null;
        }
        if (failure != null) {
            throw failure;
        }
    }
}
