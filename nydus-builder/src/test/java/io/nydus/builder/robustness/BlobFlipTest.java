package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageChecker;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobMeta;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.blob.BlobSection;
import io.nydus.rafs.blob.TarHeader;
import io.nydus.rafs.blob.TocEntry;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Flips bytes of a data blob one at a time and runs the full image check with blob
 * verification after each flip. Every flip must be detected with a {@link RafsFormatException}
 * that names the blob: in chunk data the message also names the chunk, and flips in the CI
 * table, the CI header, the digest array, the tar headers and the ToC are caught by the
 * sections' SHA-256 digests and the blob table's ToC digest.
 *
 * <p>Every byte of the blob's metadata, the inlined bootstrap included, is flipped. The chunk
 * data is sampled at 1500 offsets. The blob comes from a small tree with 4 KiB chunks, so one
 * check takes milliseconds.
 */
class BlobFlipTest {
    private static final int DATA_SAMPLES = 1500;

    /** One flipped byte and the part of the blob it lies in. */
    private record Flip(String region, long offset, int mask) {
        @Override
        public String toString() {
            return String.format("%s byte at offset %d (0x%x) xor 0x%02x", region, offset, offset,
                    mask);
        }
    }

    @ParameterizedTest(name = "{0}, inlined bootstrap {1}")
    @CsvSource({"NONE, false", "ZSTD, false", "ZSTD, true"})
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void everyBlobFlipIsDetected(Compressor compressor, boolean inlineBootstrap)
            throws IOException {
        try (TempDir work = TempDirs.create("blob-flip-")) {
            BuildResult image = build(work, compressor, inlineBootstrap);
            Path blob = image.blobFile();
            String blobId = image.blob().blobId();
            List<Flip> flips = flips(blob, image);
            Map<String, Integer> counts = new LinkedHashMap<>();
            Map<String, Integer> missed = new LinkedHashMap<>();
            List<String> failures = new ArrayList<>();
            try (FileChannel channel = FileChannel.open(blob, StandardOpenOption.READ,
                    StandardOpenOption.WRITE)) {
                for (Flip flip : flips) {
                    counts.merge(flip.region(), 1, Integer::sum);
                    String failure = checkFlipped(channel, flip, image, blobId);
                    if (failure != null) {
                        if (missed.merge(flip.region(), 1, Integer::sum) == 1) {
                            failures.add(failure);
                        }
                    }
                }
            }
            System.out.printf("%s blob (inlined bootstrap %b) flips by region: %s; undetected"
                    + " or unclear: %s%n", compressor, inlineBootstrap, counts, missed);
            assertEquals(List.of(), failures, "flips were not reported well: " + missed
                    + " by region; the first of each region is listed");
            ImageChecker.check(image.bootstrapFile(), blob.getParent());
        }
    }

    private static BuildResult build(TempDir work, Compressor compressor,
            boolean inlineBootstrap) throws IOException {
        Path tree = Files.createDirectories(work.resolve("tree"));
        SplittableRandom random = new SplittableRandom(99);
        byte[] shared = new byte[9000];
        random.nextBytes(shared);
        for (int i = 0; i < 30; i++) {
            byte[] content = new byte[random.nextInt(20_000)];
            // Half of each file repeats one byte, so zstd stores those chunks compressed.
            random.nextBytes(content);
            java.util.Arrays.fill(content, content.length / 2, content.length, (byte) i);
            Files.write(tree.resolve("file-" + i), i % 7 == 0 ? shared : content);
        }
        BuildOptions options = new BuildOptions(compressor, DigestAlgorithm.BLAKE3, 0x1000,
                WhiteoutSpec.OCI, 2, inlineBootstrap, true);
        BuildResult result = new ImageBuilder(options).buildDirectory(tree,
                work.resolve("bootstrap"), ImageBuilder.BlobTarget.inDirectory(
                        work.resolve("blobs")));
        assertTrue(result.blob().chunkCount() > 50, "chunks: " + result.blob().chunkCount());
        return result;
    }

    /** Flips one byte, checks the image and restores the byte. Returns the failure or null. */
    private static String checkFlipped(FileChannel channel, Flip flip, BuildResult image,
            String blobId) throws IOException {
        ByteBuffer one = ByteBuffer.allocate(1);
        channel.read(one, flip.offset());
        byte original = one.get(0);
        write(channel, flip.offset(), (byte) (original ^ flip.mask()));
        try {
            ImageChecker.check(image.bootstrapFile(), image.blobFile().getParent());
            return flip + ": not detected";
        } catch (RafsFormatException e) {
            return unclear(flip, e.getMessage(), blobId);
        } catch (Throwable e) {
            return flip + ": " + e;
        } finally {
            write(channel, flip.offset(), original);
        }
    }

    private static String unclear(Flip flip, String message, String blobId) {
        if (message == null || !message.contains(blobId)) {
            return flip + ": the message does not name the blob: " + message;
        }
        if (flip.region().equals(TocEntry.IMAGE_BLOB) && !message.contains("chunk")) {
            return flip + ": the message does not name the chunk: " + message;
        }
        return null;
    }

    private static void write(FileChannel channel, long offset, byte value) throws IOException {
        channel.write(ByteBuffer.wrap(new byte[] {value}), offset);
    }

    /**
     * Returns every byte of each metadata section and of the tar header after it, and
     * {@link #DATA_SAMPLES} offsets spread over the chunk data.
     */
    private static List<Flip> flips(Path blob, BuildResult image) throws IOException {
        BlobMeta meta;
        try (BlobReader reader = BlobReader.open(blob, image.blob())) {
            meta = reader.meta();
        }
        List<Flip> flips = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(5);
        for (BlobSection section : meta.sections().values()) {
            long end = section.offset() + section.storedSize();
            if (section.name().equals(TocEntry.IMAGE_BLOB)) {
                double step = (double) section.storedSize() / DATA_SAMPLES;
                for (int i = 0; i < DATA_SAMPLES; i++) {
                    long at = (long) (i * step + random.nextDouble() * step);
                    flips.add(new Flip(section.name(), at, 1 << random.nextInt(8)));
                }
            } else {
                addEvery(flips, section.name(), section.offset(), end);
            }
            if (section.name().equals(TocEntry.BLOB_META_HEADER)) {
                // The CI table and its header form one tar entry, blob.meta.
                addEvery(flips, "blob.meta tar header", end, end + TarHeader.SIZE);
            } else if (!section.name().equals(TocEntry.BLOB_META)) {
                addEvery(flips, section.name() + " tar header", end, end + TarHeader.SIZE);
            }
        }
        long tocStart = meta.blobSize() - TarHeader.SIZE - (long) TocEntry.SIZE
                * meta.toc().size();
        addEvery(flips, "ToC", tocStart, meta.blobSize());
        return flips;
    }

    private static void addEvery(List<Flip> flips, String region, long start, long end) {
        for (long at = start; at < end; at++) {
            flips.add(new Flip(region, at, 1 << (at % 8)));
        }
    }
}
