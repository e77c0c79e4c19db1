package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.SuperBlockInfo;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Flips bytes of a bootstrap one at a time and reads each result. Every flip must give a
 * {@link RafsFormatException} that names the file, or an image that the checker accepts and
 * that can be walked completely. Any other exception, an error, or a hang fails the test.
 *
 * <p>Every byte of the superblock, the extended superblock, the device table and the blob
 * table is flipped three ways (lowest bit, highest bit, all bits); about 2500 further offsets
 * are spread evenly over the rest of the file. The image comes from {@link SampleTree}, so it
 * has xattrs, symlinks, hard links, devices and a directory of several blocks.
 */
class BootstrapFlipTest {
    private static final int SPREAD_SAMPLES = 2500;
    private static final int[] HEADER_MASKS = {0x01, 0x80, 0xFF};

    private static TempDir work;
    private static Path bootstrap;
    private static byte[] original;
    private static SuperBlockInfo superBlock;

    @BeforeAll
    static void buildImage() throws IOException {
        work = TempDirs.create("bootstrap-flip-");
        Path tree = Files.createDirectories(work.resolve("tree"));
        SampleTree.create(tree, 7);
        BuildOptions options = new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                SampleTree.CHUNK_SIZE, WhiteoutSpec.OCI, 2, false, true);
        BuildResult result = new ImageBuilder(options).buildDirectory(tree,
                work.resolve("bootstrap"), ImageBuilder.BlobTarget.inDirectory(
                        work.resolve("blobs")));
        bootstrap = result.bootstrapFile();
        original = Files.readAllBytes(bootstrap);
        superBlock = BootstrapReader.decode(bootstrap).superBlock();
    }

    @AfterAll
    static void removeImage() throws IOException {
        work.close();
    }

    @Test
    void sampleImageHasEveryStructure() throws IOException {
        ImageWalk.Counts counts = ImageWalk.checkAndWalk(bootstrap, work.resolve("blobs"));
        assertTrue(counts.xattrs() >= 6, "xattrs: " + counts.xattrs());
        assertTrue(counts.nodes() > 450, "nodes: " + counts.nodes());
        assertTrue(superBlock.blobTableSize() > 0, "the image has no blob table");
        assertTrue(superBlock.extraDevices() > 0, "the image has no device table");
        var decoded = BootstrapReader.decode(bootstrap);
        var wide = decoded.bootstrap().root().child("wide".getBytes(StandardCharsets.US_ASCII));
        assertTrue(decoded.inode(wide).size() > 4096, "the wide directory fits one block");
        var devices = decoded.bootstrap().root().child("dev".getBytes(StandardCharsets.US_ASCII));
        assertEquals(4, devices.childCount(), "entries in /dev");
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void everyFlipIsRejectedOrReadable() throws IOException {
        Path corrupt = work.resolve("corrupt-bootstrap");
        List<String> failures = new ArrayList<>();
        int rejected = 0;
        int accepted = 0;
        int blobChecked = 0;
        int withoutOffset = 0;
        for (Flip flip : flips()) {
            byte[] data = original.clone();
            data[flip.offset()] ^= (byte) flip.mask();
            Files.write(corrupt, data);
            try {
                ImageWalk.checkAndWalk(corrupt, null);
                accepted++;
                if (needsBlobCheck(flip, accepted)) {
                    blobChecked++;
                    checkWithBlobs(corrupt, flip, failures);
                }
            } catch (RafsFormatException e) {
                rejected++;
                if (!e.getMessage().contains(" offset ")) {
                    withoutOffset++;
                }
                if (!isClear(e.getMessage(), corrupt)) {
                    failures.add(flip + ": unclear message: " + e.getMessage());
                }
            } catch (Throwable e) {
                failures.add(flip + ": " + e);
            }
        }
        System.out.printf("bootstrap flips: %d rejected (%d by the tree checks, whose messages"
                + " name the path instead of an offset), %d accepted (%d of them checked with"
                + " their blob), %d failures%n", rejected, withoutOffset, accepted, blobChecked,
                failures.size());
        assertEquals(List.of(), failures.subList(0, Math.min(20, failures.size())),
                failures.size() + " flips ended badly; the first 20 are listed");
    }

    /**
     * Returns whether an accepted flip is also checked against the blob. Every flip in the
     * blob table and the chunk info table is, because the blob must match their records.
     * Of the other flips only every 25th is, because each blob check reads the whole blob.
     */
    private static boolean needsBlobCheck(Flip flip, int accepted) {
        long at = flip.offset();
        boolean blobTable = at >= superBlock.blobTableOffset()
                && at < superBlock.blobTableOffset() + superBlock.blobTableSize();
        boolean chunkTable = at >= superBlock.chunkTableOffset()
                && at < superBlock.chunkTableOffset() + superBlock.chunkTableSize();
        return blobTable || chunkTable || accepted % 25 == 0;
    }

    /**
     * Checks an image that passed the bootstrap check with its blob. The flip may still make
     * the bootstrap disagree with the blob, which must be a {@link RafsFormatException}, or
     * change the blob id so that the blob is missing, which must be a
     * {@link NoSuchFileException} naming the blob.
     */
    private static void checkWithBlobs(Path corrupt, Flip flip, List<String> failures) {
        try {
            ImageWalk.checkAndWalk(corrupt, work.resolve("blobs"));
        } catch (RafsFormatException | NoSuchFileException e) {
            if (e.getMessage() == null || !e.getMessage().contains("blob")) {
                failures.add(flip + " with blobs: unclear message: " + e.getMessage());
            }
        } catch (Throwable e) {
            failures.add(flip + " with blobs: " + e);
        }
    }

    private static boolean isClear(String message, Path file) {
        return message != null && message.contains(file.toString())
                && !message.isBlank();
    }

    private record Flip(int offset, int mask) {
        @Override
        public String toString() {
            return String.format("offset %d (0x%x) xor 0x%02x", offset, offset, mask);
        }
    }

    /** Returns each byte of the fixed structures three ways, then offsets spread evenly. */
    private static List<Flip> flips() {
        TreeSet<Integer> headers = new TreeSet<>();
        addRange(headers, 1024, 128 + 256);
        addRange(headers, superBlock.deviceSlotOffset() * 128L,
                superBlock.extraDevices() * 128L);
        addRange(headers, superBlock.blobTableOffset(), superBlock.blobTableSize());
        List<Flip> flips = new ArrayList<>();
        for (int offset : headers) {
            for (int mask : HEADER_MASKS) {
                flips.add(new Flip(offset, mask));
            }
        }
        SplittableRandom random = new SplittableRandom(2024);
        double step = (double) original.length / SPREAD_SAMPLES;
        for (int i = 0; i < SPREAD_SAMPLES; i++) {
            int offset = (int) Math.min(original.length - 1, i * step + random.nextDouble() * step);
            if (!headers.contains(offset)) {
                flips.add(new Flip(offset, 1 << random.nextInt(8)));
            }
        }
        return flips;
    }

    private static void addRange(TreeSet<Integer> offsets, long start, long length) {
        for (long at = start; at < start + length && at < original.length; at++) {
            offsets.add((int) at);
        }
    }
}
