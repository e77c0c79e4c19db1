package io.nydus.builder;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The dm-verity hash tree of a file's first {@code dataBlocks} 4 KiB blocks, written into the
 * same file from {@code hashOffset} on, in the layout of veritysetup's format 1 without a
 * superblock: SHA-256, no salt, 4 KiB hash blocks of 128 digests padded with zeros, and the
 * level nearest the root first. The kernel's dm-verity target and {@code veritysetup verify}
 * check a device against it and its root digest.
 *
 * @param dataBlocks the number of 4 KiB data blocks, at least 2
 * @param hashOffset where the tree starts in the file, a multiple of 4 KiB at or after the data
 * @param rootDigest the SHA-256 of the tree's top block
 */
public record VerityTree(long dataBlocks, long hashOffset, byte[] rootDigest) {
    static final int BLOCK_SIZE = 4096;
    private static final int DIGEST_SIZE = 32;
    private static final int DIGESTS_PER_BLOCK = BLOCK_SIZE / DIGEST_SIZE;
    private static final int READ_BLOCKS = 256;

    public VerityTree {
        rootDigest = rootDigest.clone();
    }

    @Override
    public byte[] rootDigest() {
        return rootDigest.clone();
    }

    /** Returns the options that veritysetup needs for this tree, ending with the root digest. */
    public String veritysetupOptions() {
        return "--no-superblock --format=1 -s \"\" --hash=sha256 --data-block-size=" + BLOCK_SIZE
                + " --hash-block-size=" + BLOCK_SIZE + " --data-blocks " + dataBlocks
                + " --hash-offset " + hashOffset + " " + HexFormat.of().formatHex(rootDigest);
    }

    /**
     * Hashes the first {@code dataBlocks} blocks of {@code file} and writes the tree at
     * {@code hashOffset}, level by level: each level is read back from the file to hash the
     * next, so memory stays small for any size.
     */
    static VerityTree write(FileChannel file, long dataBlocks, long hashOffset)
            throws IOException {
        if (dataBlocks < 2) {
            throw new IllegalArgumentException("a dm-verity tree needs at least 2 data blocks,"
                    + " found " + dataBlocks);
        }
        if (hashOffset % BLOCK_SIZE != 0 || hashOffset < dataBlocks * BLOCK_SIZE) {
            throw new IllegalArgumentException("hash offset " + hashOffset + " must be a"
                    + " multiple of " + BLOCK_SIZE + " after the " + dataBlocks + " data blocks");
        }
        List<Long> levelBlocks = levelBlocks(dataBlocks);
        List<Long> levelOffsets = levelOffsets(levelBlocks, hashOffset);
        MessageDigest sha256 = sha256();
        hashLevel(file, sha256, 0, dataBlocks, levelOffsets.getFirst());
        for (int level = 1; level < levelBlocks.size(); level++) {
            hashLevel(file, sha256, levelOffsets.get(level - 1), levelBlocks.get(level - 1),
                    levelOffsets.get(level));
        }
        byte[] top = read(file, levelOffsets.getLast(), BLOCK_SIZE, "the top hash block");
        return new VerityTree(dataBlocks, hashOffset, sha256.digest(top));
    }

    /** Returns the number of hash blocks of each level, from the one that hashes the data. */
    static List<Long> levelBlocks(long dataBlocks) {
        List<Long> blocks = new ArrayList<>();
        long count = dataBlocks;
        do {
            count = (count + DIGESTS_PER_BLOCK - 1) / DIGESTS_PER_BLOCK;
            blocks.add(count);
        } while (count > 1);
        return blocks;
    }

    /** Returns each level's offset: the top level comes first in the file, the lowest last. */
    private static List<Long> levelOffsets(List<Long> levelBlocks, long hashOffset) {
        List<Long> offsets = new ArrayList<>(levelBlocks);
        long position = hashOffset;
        for (int level = levelBlocks.size() - 1; level >= 0; level--) {
            offsets.set(level, position);
            position += levelBlocks.get(level) * BLOCK_SIZE;
        }
        return offsets;
    }

    /** Hashes {@code blocks} blocks at {@code from} into hash blocks written at {@code to}. */
    private static void hashLevel(FileChannel file, MessageDigest sha256, long from, long blocks,
            long to) throws IOException {
        ByteBuffer hashBlock = ByteBuffer.allocate(BLOCK_SIZE);
        long written = 0;
        for (long block = 0; block < blocks; block += READ_BLOCKS) {
            int count = (int) Math.min(READ_BLOCKS, blocks - block);
            byte[] data = read(file, from + block * BLOCK_SIZE, count * BLOCK_SIZE,
                    "block " + block);
            for (int i = 0; i < count; i++) {
                sha256.update(data, i * BLOCK_SIZE, BLOCK_SIZE);
                hashBlock.put(sha256.digest());
                if (!hashBlock.hasRemaining()) {
                    written += writeBlock(file, hashBlock, to + written);
                }
            }
        }
        if (hashBlock.position() > 0) {
            writeBlock(file, hashBlock, to + written);
        }
    }

    /** Writes {@code block}, padded with zeros, and returns its size. */
    private static long writeBlock(FileChannel file, ByteBuffer block, long position)
            throws IOException {
        while (block.hasRemaining()) {
            block.put((byte) 0);
        }
        block.flip();
        while (block.hasRemaining()) {
            position += file.write(block, position);
        }
        block.clear();
        return BLOCK_SIZE;
    }

    private static byte[] read(FileChannel file, long position, int length, String part)
            throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (file.read(buffer, position + buffer.position()) < 0) {
                throw new IOException("the export ended before " + part + " of its dm-verity"
                        + " data at offset " + position);
            }
        }
        return buffer.array();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
