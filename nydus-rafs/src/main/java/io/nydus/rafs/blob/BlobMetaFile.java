package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A blob's CI table in the form the blob cache keeps it, {@code <blob id>.blob.meta}: the
 * uncompressed CI bytes, zero padded to a multiple of 4096, then the 4096-byte CI header.
 * Converters ship the same file in the bootstrap layer, so a daemon can locate chunks without
 * fetching the table from each blob.
 *
 * @param header the CI header; its uncompressed size is the length of {@code table}
 * @param table the uncompressed CI entries
 */
public record BlobMetaFile(CiHeader header, byte[] table) {
    /** The file name suffix after the blob id. */
    public static final String SUFFIX = ".blob.meta";
    private static final int ALIGNMENT = 4096;

    public BlobMetaFile {
        if (header.ciUncompressedSize() != table.length) {
            throw new IllegalArgumentException("CI table of " + table.length + " bytes, the"
                    + " header says " + header.ciUncompressedSize());
        }
    }

    /** Returns the size of the file for a CI table of {@code tableSize} bytes. */
    public static long fileSize(long tableSize) {
        return (tableSize + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT + CiHeader.SIZE;
    }

    /**
     * Copies {@code file}, a blob's {@code .blob.meta} file, into {@code cacheDir} under the
     * same name, unless the cache has that file already. The copy appears whole or not at all,
     * because nydusd reads the cache's file instead of fetching the table from the blob.
     *
     * @return whether the file was copied
     */
    public static boolean install(Path file, Path cacheDir) throws IOException {
        Path target = cacheDir.resolve(file.getFileName().toString());
        if (Files.exists(target)) {
            return false;
        }
        Files.createDirectories(cacheDir);
        Path partial = target.resolveSibling(target.getFileName() + ".partial");
        Files.copy(file, partial, StandardCopyOption.REPLACE_EXISTING);
        Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
        return true;
    }

    /** Returns the file's bytes. */
    public byte[] encode() {
        long size = fileSize(table.length);
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("CI table of " + table.length + " bytes is too"
                    + " large for a blob.meta file");
        }
        byte[] file = new byte[(int) size];
        System.arraycopy(table, 0, file, 0, table.length);
        System.arraycopy(header.encode(), 0, file, file.length - CiHeader.SIZE, CiHeader.SIZE);
        return file;
    }

    /**
     * Reads a file's bytes.
     *
     * @param source the file, for messages
     * @throws RafsFormatException if the header is invalid or the size does not fit it
     */
    public static BlobMetaFile decode(byte[] file, String source) throws RafsFormatException {
        if (file.length < CiHeader.SIZE) {
            throw new RafsFormatException(source + ": " + file.length + " bytes, shorter than"
                    + " the " + CiHeader.SIZE + "-byte CI header");
        }
        CiHeader header = CiHeader.decode(file, file.length - CiHeader.SIZE, source);
        long tableSize = header.ciUncompressedSize();
        if (tableSize < 0 || fileSize(tableSize) != file.length) {
            throw new RafsFormatException(source + ": " + file.length + " bytes do not fit the"
                    + " header's ci_uncompressed_size " + tableSize);
        }
        byte[] table = new byte[(int) tableSize];
        System.arraycopy(file, 0, table, 0, table.length);
        return new BlobMetaFile(header, table);
    }

    /**
     * Returns the version 1 entries of the table.
     *
     * @param source the blob, for messages
     * @throws RafsFormatException if the table is not a whole number of entries or one is
     *     invalid
     */
    public List<CiEntry> entries(String source) throws RafsFormatException {
        if (table.length % CiEntry.SIZE != 0) {
            throw new RafsFormatException(source + ": CI table of " + table.length
                    + " bytes is not a whole number of " + CiEntry.SIZE + "-byte entries");
        }
        List<CiEntry> entries = new ArrayList<>(table.length / CiEntry.SIZE);
        for (int at = 0; at < table.length; at += CiEntry.SIZE) {
            entries.add(CiEntry.decode(table, at, source + " CI entry " + at / CiEntry.SIZE));
        }
        return entries;
    }
}
