package io.nydus.nydusify;

import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.registry.Digest;
import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.rafs.v6.BootstrapReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipParameters;

/**
 * Writes the bootstrap layer of a Nydus image: a gzipped tar with the directory {@code image},
 * the merged bootstrap as {@code image/image.boot} and, per data blob with chunks, its chunk
 * information as {@code image/<blob digest hex>.blob.meta} in the blob cache's format, which
 * lets nydusd start without fetching it from each blob. Entries have mtime 0 and owner 0:0 and
 * the gzip header has neither a time nor a name, so the same input gives the same bytes.
 */
final class BootstrapLayer {
    static final String DIRECTORY = "image";
    static final String BOOTSTRAP_ENTRY = "image/image.boot";
    static final String BLOB_META_SUFFIX = BlobMetaFile.SUFFIX;
    private static final Pattern BLOB_META_ENTRY = Pattern.compile(DIRECTORY
            + "/([0-9a-f]{64})" + Pattern.quote(BLOB_META_SUFFIX));

    private BootstrapLayer() {
    }

    /**
     * The written layer.
     *
     * @param file the gzipped tar
     * @param digest the digest of {@code file}
     * @param size the size of {@code file}
     * @param diffId the digest of the uncompressed tar
     */
    record Written(Path file, Digest digest, long size, Digest diffId) {
    }

    /**
     * Writes the layer to {@code output}.
     *
     * @param blobMetas the {@link #blobMeta} files of the data blobs with chunks, by layer
     *     digest, in layer order
     */
    static Written write(Path bootstrap, Map<Digest, byte[]> blobMetas, Path output)
            throws IOException {
        MessageDigest gzipHash = sha256();
        MessageDigest tarHash = sha256();
        try (OutputStream file = Files.newOutputStream(output);
                DigestOutputStream gzipOut = new DigestOutputStream(file, gzipHash);
                GzipCompressorOutputStream gzip = new GzipCompressorOutputStream(gzipOut,
                        gzipParameters());
                DigestOutputStream tarOut = new DigestOutputStream(gzip, tarHash);
                TarArchiveOutputStream tar = new TarArchiveOutputStream(tarOut)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            tar.putArchiveEntry(entry(DIRECTORY + "/", 040755, 0));
            tar.closeArchiveEntry();
            addFile(tar, BOOTSTRAP_ENTRY, Files.readAllBytes(bootstrap));
            for (Map.Entry<Digest, byte[]> meta : blobMetas.entrySet()) {
                addFile(tar, DIRECTORY + "/" + meta.getKey().hex() + BLOB_META_SUFFIX,
                        meta.getValue());
            }
        }
        return new Written(output, Digest.fromHash(gzipHash.digest()), Files.size(output),
                Digest.fromHash(tarHash.digest()));
    }

    /**
     * The content of a read layer.
     *
     * @param blobMetas the {@code .blob.meta} files it carries, by blob digest, in tar order
     * @param diffId the digest of the uncompressed tar
     */
    record Read(Map<Digest, byte[]> blobMetas, Digest diffId) {
    }

    /**
     * Reads a bootstrap layer: writes {@code image/image.boot} to {@code bootstrap} and returns
     * the blob meta files. The stream is read to the end, so that a verifying stream checks the
     * layer digest.
     *
     * @param name the layer, for messages
     * @throws IOException naming the layer if it has no bootstrap or an entry is too large
     */
    static Read read(InputStream gzip, Path bootstrap, String name) throws IOException {
        MessageDigest tarHash = sha256();
        Map<Digest, byte[]> metas = new LinkedHashMap<>();
        boolean found = false;
        try (DigestInputStream tar = new DigestInputStream(new GZIPInputStream(gzip), tarHash);
                TarArchiveInputStream entries = new TarArchiveInputStream(
                        new UnclosedStream(tar))) {
            TarArchiveEntry entry;
            while ((entry = entries.getNextEntry()) != null) {
                String entryName = entry.getName().startsWith("./")
                        ? entry.getName().substring(2) : entry.getName();
                if (!entry.isFile()) {
                    continue;
                }
                if (entry.getSize() > BootstrapReader.MAX_SIZE) {
                    throw new IOException(name + ": " + entryName + " has " + entry.getSize()
                            + " bytes, more than the " + BootstrapReader.MAX_SIZE + " accepted");
                }
                Optional<Digest> metaBlob = blobMetaDigest(entryName);
                if (entryName.equals(BOOTSTRAP_ENTRY) && !found) {
                    Files.copy(entries, bootstrap);
                    found = true;
                } else if (metaBlob.isPresent()) {
                    metas.put(metaBlob.get(), entries.readAllBytes());
                }
            }
            tar.transferTo(OutputStream.nullOutputStream());
        }
        if (!found) {
            throw new IOException(name + " has no file " + BOOTSTRAP_ENTRY);
        }
        return new Read(metas, Digest.fromHash(tarHash.digest()));
    }

    /**
     * Returns the blob digest that a {@code image/<blob digest hex>.blob.meta} entry name
     * carries, or empty for any other name.
     */
    static Optional<Digest> blobMetaDigest(String entryName) {
        Matcher matcher = BLOB_META_ENTRY.matcher(entryName);
        return matcher.matches() ? Optional.of(new Digest(matcher.group(1))) : Optional.empty();
    }

    /**
     * Returns a blob's chunk information in the blob cache's {@code .blob.meta} format: the
     * uncompressed CI table, zero padded to a multiple of 4096 bytes, then the 4096-byte CI
     * header. Returns empty for a blob without chunks.
     */
    static Optional<byte[]> blobMeta(Path blob) throws IOException {
        try (BlobReader reader = BlobReader.open(blob, null)) {
            return reader.meta().blobMetaFile().map(BlobMetaFile::encode);
        }
    }

    private static void addFile(TarArchiveOutputStream tar, String name, byte[] content)
            throws IOException {
        tar.putArchiveEntry(entry(name, 0100444, content.length));
        tar.write(content);
        tar.closeArchiveEntry();
    }

    private static TarArchiveEntry entry(String name, int mode, long size) {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setMode(mode);
        entry.setSize(size);
        entry.setModTime(new Date(0));
        entry.setUserId(0);
        entry.setGroupId(0);
        entry.setUserName("root");
        entry.setGroupName("root");
        return entry;
    }

    private static GzipParameters gzipParameters() {
        GzipParameters parameters = new GzipParameters();
        parameters.setModificationTime(0);
        parameters.setFileName(null);
        return parameters;
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
