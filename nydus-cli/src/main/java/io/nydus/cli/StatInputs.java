package io.nydus.cli;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.storage.config.BackendConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the images that `nydus-image stat` counts. A file is a bootstrap, or a data blob with
 * an inlined bootstrap ({@code image.boot} in its ToC). With a storage backend, a file that is
 * not a bootstrap names a blob of the backend instead, by its file name up to the first dot,
 * and that blob is read.
 */
final class StatInputs {
    private static final Logger LOG = LoggerFactory.getLogger(StatInputs.class);
    private static final Pattern BLOB_ID = Pattern.compile("[0-9a-f]{64}");
    private static final int MAX_NAMES_SHOWN = 3;

    private final BackendConfig backend;

    /**
     * One image read.
     *
     * @param source names where the bootstrap came from, for messages
     * @param bootstrap the image's metadata
     */
    record Image(String source, Bootstrap bootstrap) {
    }

    /** Receives the images of a directory one by one, so that only one is in memory. */
    @FunctionalInterface
    interface ImageConsumer {
        void accept(Image image) throws IOException;
    }

    /**
     * A file that contains no image: neither a bootstrap nor a data blob with an inlined one.
     * A directory scan skips such files.
     */
    static final class NotAnImageException extends RafsFormatException {
        private static final long serialVersionUID = 1L;

        NotAnImageException(String message) {
            super(message);
        }
    }

    /**
     * @param backend where the blobs named by files that are not bootstraps are read from, or
     *     null to read such a file as a data blob itself
     */
    StatInputs(BackendConfig backend) {
        this.backend = backend;
    }

    /**
     * Reads the image in {@code file}.
     *
     * @throws NotAnImageException naming the file if it contains no image
     * @throws RafsFormatException naming the file if its bootstrap is invalid or RAFS v5
     */
    Image read(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new IOException(file + " is a directory. Give a bootstrap or a data blob"
                    + " file, or the directory as -D/--blob-dir");
        }
        if (BootstrapReader.hasSuperblockMagic(file)) {
            return new Image(file.toString(), BootstrapReader.read(file));
        }
        if (backend == null) {
            return readInlined(file, file.toString());
        }
        String blobId = blobId(file);
        if (!BLOB_ID.matcher(blobId).matches()) {
            throw new NotAnImageException(file + " is not a bootstrap, and its name does not"
                    + " start with a blob id (64 hex digits) to read from the -C/--config"
                    + " backend");
        }
        // NOTE: the whole blob is copied, although its ToC and image.boot would be enough.
        try (BackendBlobs.Copies copy = BackendBlobs.downloadBlob(backend, blobId, "stat")) {
            return readInlined(copy.dir().resolve(blobId), "blob " + blobId + " (named by "
                    + file + ")");
        } catch (NoSuchFileException e) {
            throw new NotAnImageException(file + " is not a bootstrap, and the -C/--config"
                    + " backend has no blob " + blobId + " ("
                    + Objects.requireNonNullElse(e.getReason(), "not found") + ")");
        }
    }

    /** Returns the file name up to the first dot, as upstream takes a blob id from a path. */
    private static String blobId(Path file) {
        String name = file.getFileName().toString();
        int dot = name.indexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }

    private static Image readInlined(Path blob, String source) throws IOException {
        byte[] bootstrap;
        try (BlobReader reader = openBlob(blob, source)) {
            bootstrap = reader.readBootstrap().orElseThrow(() -> new NotAnImageException(source
                    + " is a data blob without an inlined bootstrap, not a RAFS bootstrap"));
        }
        String name = source + ": inlined image.boot";
        return new Image(name, BootstrapReader.read(name, ByteBuffer.wrap(bootstrap)));
    }

    private static BlobReader openBlob(Path blob, String source) throws IOException {
        try {
            return BlobReader.open(blob, null);
        } catch (RafsFormatException e) {
            throw new NotAnImageException(source + " is neither a RAFS bootstrap (no superblock"
                    + " magic) nor a data blob with an inlined bootstrap (" + e.getMessage()
                    + ")");
        }
    }

    /**
     * Reads every image of {@code dir} as upstream's stat finds them. Each regular file whose
     * name has no extension, other than {@code excluded}, is read, and one that contains no
     * image is skipped. Names with an extension, such as {@code image.boot} or
     * {@code x.blob.meta}, and entries that are not regular files are skipped.
     *
     * @param excluded the target image, which is not a base image, or null
     * @return how many images were read
     * @throws IOException naming the directory if it has no image, or naming the entry that
     *     cannot be read or contains an invalid bootstrap
     */
    int readDirectory(Path dir, Path excluded, ImageConsumer consumer) throws IOException {
        if (!Files.isDirectory(dir)) {
            if (!Files.exists(dir)) {
                throw new NoSuchFileException(dir.toString());
            }
            throw new IOException("-D/--blob-dir " + dir + " is not a directory");
        }
        Skipped skipped = new Skipped();
        int images = 0;
        for (Path entry : sortedEntries(dir)) {
            if (isCandidate(entry, excluded, skipped)) {
                try {
                    consumer.accept(read(entry));
                    images++;
                } catch (NotAnImageException e) {
                    LOG.debug("skipping {}: {}", entry, e.getMessage());
                    skipped.notImages++;
                }
            }
        }
        if (images == 0) {
            throw new IOException("directory " + dir + " contains no RAFS image (skipped "
                    + skipped + "). stat -D reads only regular files whose name has no"
                    + " extension, as upstream does; give a bootstrap with an extension as"
                    + " -B FILE");
        }
        LOG.info("{}: counted {}, skipped {}", dir, count(images, "image"), skipped);
        return images;
    }

    private static List<Path> sortedEntries(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.sorted().toList();
        }
    }

    private static boolean isCandidate(Path entry, Path excluded, Skipped skipped)
            throws IOException {
        String name = entry.getFileName().toString();
        // As Rust's Path::extension: a dot after the first character starts an extension.
        if (name.lastIndexOf('.') > 0) {
            LOG.debug("skipping {}: the name has an extension", entry);
            skipped.withExtension.add(name);
            return false;
        }
        if (!attributes(entry).isRegularFile()) {
            LOG.debug("skipping {}: not a regular file", entry);
            skipped.notFiles++;
            return false;
        }
        if (excluded != null && Files.isSameFile(entry, excluded)) {
            LOG.debug("skipping {}: it is the target image", entry);
            return false;
        }
        return true;
    }

    /** Returns the attributes of {@code entry}'s target, naming a dangling symbolic link. */
    private static BasicFileAttributes attributes(Path entry) throws IOException {
        try {
            return Files.readAttributes(entry, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            if (Files.isSymbolicLink(entry)) {
                throw new NoSuchFileException(entry.toString(), null, "a symbolic link to "
                        + Files.readSymbolicLink(entry) + ", which does not exist");
            }
            throw e;
        }
    }

    /** The entries a directory scan skipped, for the error when it finds no image. */
    private static final class Skipped {
        private final List<String> withExtension = new ArrayList<>();
        private int notFiles;
        private int notImages;

        @Override
        public String toString() {
            String names = String.join(", ", withExtension.subList(0,
                    Math.min(MAX_NAMES_SHOWN, withExtension.size())));
            if (withExtension.size() > MAX_NAMES_SHOWN) {
                names += ", ...";
            }
            return count(notImages, "file") + " without an image, "
                    + count(withExtension.size(), "name") + " with an extension"
                    + (withExtension.isEmpty() ? "" : " (" + names + ")") + ", "
                    + count(notFiles, "entry") + " of another type than a regular file";
        }
    }

    private static String count(int n, String noun) {
        if (n == 1) {
            return "1 " + noun;
        }
        return n + " " + (noun.endsWith("y") ? noun.substring(0, noun.length() - 1) + "ies"
                : noun + "s");
    }
}
