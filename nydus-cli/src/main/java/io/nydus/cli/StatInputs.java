package io.nydus.cli;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the images that `nydus-image stat` counts. A file is a bootstrap, or a data blob with
 * an inlined bootstrap ({@code image.boot} in its ToC).
 */
final class StatInputs {
    private static final Logger LOG = LoggerFactory.getLogger(StatInputs.class);
    private static final int MAX_NAMES_SHOWN = 3;

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
        return readInlined(file, file.toString());
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
