package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Checks the dm-verity tree against veritysetup, the reference tool of the format. */
class VerityTreeTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int BLOCK = VerityTree.BLOCK_SIZE;

    private TempDir dir;

    @BeforeEach
    void createDir() throws IOException {
        dir = TempDirs.create("verity-");
    }

    @AfterEach
    void removeDir() throws IOException {
        dir.close();
    }

    @Test
    void levelSizesFollowDigestsPerBlock() {
        assertEquals(List.of(1L), VerityTree.levelBlocks(2));
        assertEquals(List.of(1L), VerityTree.levelBlocks(128));
        assertEquals(List.of(2L, 1L), VerityTree.levelBlocks(129));
        assertEquals(List.of(129L, 2L, 1L), VerityTree.levelBlocks(128 * 128 + 1));
    }

    @Test
    void treeAndRootMatchVeritysetupFormat() throws IOException {
        // 16,385 blocks make three levels, the lowest with a partly filled last block.
        long blocks = 128 * 128 + 1;
        Path image = dataFile("image", blocks);
        VerityTree tree;
        try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            tree = VerityTree.write(file, blocks, blocks * BLOCK);
        }
        Path reference = dir.resolve("reference.hash");
        Path data = dataFile("data", blocks);

        CommandResult format = Commands.run(veritysetup("format", blocks, 0, data, reference),
                TIMEOUT);

        String root = format.stdoutText().lines().filter(line -> line.startsWith("Root hash:"))
                .map(line -> line.substring("Root hash:".length()).strip()).findFirst()
                .orElseThrow();
        assertEquals(root, HexFormat.of().formatHex(tree.rootDigest()));
        byte[] written = Files.readAllBytes(image);
        assertArrayEquals(Files.readAllBytes(reference),
                Arrays.copyOfRange(written, (int) (blocks * BLOCK), written.length));
    }

    @Test
    void veritysetupVerifiesAppendedTreeAndCatchesFlip() throws IOException {
        long blocks = 300;
        Path image = dataFile("image", blocks);
        VerityTree tree;
        try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            tree = VerityTree.write(file, blocks, blocks * BLOCK);
        }
        List<String> verify = verifyCommand(image, tree);

        assertEquals(0, Commands.runAllowingFailure(verify, TIMEOUT, new byte[0]).exitCode());
        try (FileChannel file = FileChannel.open(image, StandardOpenOption.WRITE)) {
            file.write(ByteBuffer.wrap(new byte[] {42}), 123 * BLOCK + 7);
        }
        assertNotEquals(0, Commands.runAllowingFailure(verify, TIMEOUT, new byte[0])
                .exitCode());
    }

    @Test
    void singleBlockIsRejected() throws IOException {
        Path image = dataFile("one", 1);
        try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            assertThrows(IllegalArgumentException.class,
                    () -> VerityTree.write(file, 1, BLOCK));
        }
    }

    /** Writes {@code blocks} blocks of seeded random data, blocks 2 to 4 zero where present. */
    private Path dataFile(String name, long blocks) throws IOException {
        Random random = new Random(blocks);
        byte[] bytes = new byte[(int) (blocks * BLOCK)];
        random.nextBytes(bytes);
        Arrays.fill(bytes, (int) Math.min(2 * BLOCK, bytes.length),
                (int) Math.min(5 * BLOCK, bytes.length), (byte) 0);
        return Files.write(dir.resolve(name), bytes);
    }

    private static List<String> veritysetup(String action, long blocks, long hashOffset,
            Path data, Path hash) {
        return new ArrayList<>(List.of("veritysetup", action, "--no-superblock", "--format=1",
                "-s", "", "--hash=sha256", "--data-block-size=" + BLOCK,
                "--hash-block-size=" + BLOCK, "--data-blocks", Long.toString(blocks),
                "--hash-offset", Long.toString(hashOffset), data.toString(),
                hash.toString()));
    }

    private static List<String> verifyCommand(Path image, VerityTree tree) {
        List<String> command = veritysetup("verify", tree.dataBlocks(), tree.hashOffset(),
                image, image);
        command.add(HexFormat.of().formatHex(tree.rootDigest()));
        return command;
    }
}
