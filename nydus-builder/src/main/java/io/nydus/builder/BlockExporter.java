package io.nydus.builder;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.DeviceSlot;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Flattens an image into one EROFS disk image: the bootstrap, then each blob's uncompressed data
 * at the block address the bootstrap's device table maps it to, so that the kernel mounts the
 * file with `mount -t erofs` and no extra devices. Every chunk is checked against its digest.
 */
public final class BlockExporter {
    private static final Logger LOG = LoggerFactory.getLogger(BlockExporter.class);
    private static final int BLOCK_SIZE = 4096;
    /** The number of threads of an export unless a caller chooses, as upstream's default. */
    public static final int DEFAULT_THREADS = 4;
    /** The maximum number of threads of an export, as upstream allows. */
    public static final int MAX_THREADS = 32;

    private BlockExporter() {
    }

    /** A chunk's data, read and verified when the write runs. */
    @FunctionalInterface
    private interface ChunkData {
        byte[] read() throws IOException;
    }

    /** One chunk's data and its offset in the output. */
    private record ChunkWrite(ChunkData data, long position) {
    }

    /** Exports on {@link #DEFAULT_THREADS} threads, as {@link #export(Path, Path, Path, int)}. */
    public static void export(Path bootstrapFile, Path blobDir, Path output) throws IOException {
        export(bootstrapFile, blobDir, output, DEFAULT_THREADS);
    }

    /**
     * Exports {@code bootstrapFile}, reading blobs named by their ids from {@code blobDir}.
     *
     * @param threads how many threads read, decompress, verify and write chunks, 1 to
     *     {@link #MAX_THREADS}
     */
    public static void export(Path bootstrapFile, Path blobDir, Path output, int threads)
            throws IOException {
        export(bootstrapFile, blobDir, output, threads, false);
    }

    /**
     * Exports as {@link #export(Path, Path, Path, int)} does and, with {@code verity}, appends
     * the dm-verity hash tree of the image's blocks to the file.
     *
     * @return the hash tree's figures with {@code verity}, else empty
     */
    public static Optional<VerityTree> export(Path bootstrapFile, Path blobDir, Path output,
            int threads, boolean verity) throws IOException {
        checkThreads(threads);
        DecodedBootstrap decoded = BootstrapReader.decode(bootstrapFile);
        byte[] bootstrap = Files.readAllBytes(bootstrapFile);
        List<BlobInfo> blobs = decoded.bootstrap().blobs();
        List<DeviceSlot> devices = decoded.devices();
        checkMapping(bootstrapFile, bootstrap.length, devices);
        AtomicFiles.requireNotInput(output,
                BlobSet.inputFiles(bootstrapFile, blobDir, null, blobs));
        Path temp = AtomicFiles.createTempBeside(output);
        VerityTree tree = null;
        try (FileChannel out = FileChannel.open(temp, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
                BlobSet set = new BlobSet(blobDir, blobs)) {
            writeOutput(output, () -> writeFully(out, bootstrap, 0));
            long end = bootstrap.length;
            List<List<Chunk>> chunksByBlob = chunksByBlob(decoded, blobs.size());
            List<ChunkWrite> writes = new ArrayList<>();
            for (int i = 0; i < blobs.size(); i++) {
                long base = devices.get(i).mappedBlockAddress() * BLOCK_SIZE;
                List<Chunk> chunks = chunksByBlob.get(i);
                chunks.sort(Comparator.comparingLong(Chunk::compressedOffset));
                if (!chunks.isEmpty()) {
                    set.reader(i);
                }
                for (Chunk c : chunks) {
                    writes.add(new ChunkWrite(() -> set.read(c), base + c.uncompressedOffset()));
                }
                end = Math.max(end, base + devices.get(i).blocks() * BLOCK_SIZE);
            }
            write(out, writes, threads, output);
            if (verity) {
                // The tree covers whole blocks, so the image ends on a block boundary.
                end = (end + BLOCK_SIZE - 1) / BLOCK_SIZE * BLOCK_SIZE;
            }
            long size = end;
            writeOutput(output, () -> setSize(out, size));
            if (verity) {
                tree = writeOutput(output, () -> VerityTree.write(out, size / BLOCK_SIZE, size));
            }
            writeOutput(output, () -> {
                out.force(true);
                return null;
            });
        } catch (IOException | RuntimeException e) {
            ExitCleanup.delete(temp);
            throw e;
        }
        AtomicFiles.moveIntoPlace(temp, output);
        LOG.info("exported {} with {} blobs to block image {}{}", bootstrapFile, blobs.size(),
                output, tree == null ? "" : " with dm-verity data from offset "
                        + tree.hashOffset());
        return Optional.ofNullable(tree);
    }

    /**
     * Writes blob {@code blobId}'s uncompressed device file: each chunk of its CI table,
     * verified, at its uncompressed offset, in a file of the blob's uncompressed size. The
     * kernel mounts the bootstrap with this file as its extra device
     * ({@code mount -t erofs -o device=LOOP BOOTSTRAP DIR}), and {@code fsck.erofs
     * --device=FILE BOOTSTRAP} checks it.
     *
     * @throws IllegalArgumentException if the bootstrap has no blob {@code blobId}
     */
    public static void exportBlobDevice(Path bootstrapFile, Path blobDir, String blobId,
            Path output) throws IOException {
        exportBlobDevice(bootstrapFile, blobDir, blobId, output, DEFAULT_THREADS);
    }

    /**
     * Writes blob {@code blobId}'s uncompressed device file as {@link #exportBlobDevice(Path,
     * Path, String, Path)} does, on {@code threads} threads (1 to {@link #MAX_THREADS}).
     */
    public static void exportBlobDevice(Path bootstrapFile, Path blobDir, String blobId,
            Path output, int threads) throws IOException {
        checkThreads(threads);
        DecodedBootstrap decoded = BootstrapReader.decode(bootstrapFile);
        List<BlobInfo> blobs = decoded.bootstrap().blobs();
        int index = blobIndex(bootstrapFile, blobs, blobId);
        BlobInfo blob = blobs.get(index);
        Map<Integer, Chunk> known = new HashMap<>();
        for (Chunk c : chunksByBlob(decoded, blobs.size()).get(index)) {
            known.put(c.index(), c);
        }
        for (Chunk c : decoded.chunkTable()) {
            if (c.blobIndex() == index) {
                known.putIfAbsent(c.index(), c);
            }
        }
        AtomicFiles.requireNotInput(output,
                BlobSet.inputFiles(bootstrapFile, blobDir, null, blobs));
        Path temp = AtomicFiles.createTempBeside(output);
        try (BlobSet set = new BlobSet(blobDir, blobs);
                FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            BlobReader reader = set.reader(index);
            int count = reader.meta().ciEntries().size();
            List<ChunkWrite> writes = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                Chunk chunk = known.get(i);
                int ci = i;
                ChunkData data = chunk != null ? () -> reader.readChunk(chunk)
                        : () -> reader.readChunk(ci);
                writes.add(new ChunkWrite(data,
                        reader.meta().ciEntries().get(i).uncompressedOffset()));
            }
            write(out, writes, threads, output);
            writeOutput(output, () -> {
                setSize(out, blob.uncompressedSize());
                out.force(true);
                return null;
            });
        } catch (IOException | RuntimeException e) {
            ExitCleanup.delete(temp);
            throw e;
        }
        AtomicFiles.moveIntoPlace(temp, output);
        LOG.info("exported blob {} of {} as a {}-byte device file {}", blobId, bootstrapFile,
                blob.uncompressedSize(), output);
    }

    private static int blobIndex(Path bootstrapFile, List<BlobInfo> blobs, String blobId) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < blobs.size(); i++) {
            if (blobs.get(i).blobId().equals(blobId)) {
                return i;
            }
            ids.add(blobs.get(i).blobId());
        }
        throw new IllegalArgumentException("bootstrap " + bootstrapFile + " has no blob "
                + blobId + "; its blobs are " + (ids.isEmpty() ? "none" : ids));
    }

    private static void checkThreads(int threads) {
        if (threads < 1 || threads > MAX_THREADS) {
            throw new IllegalArgumentException("thread count " + threads + " is outside 1 to "
                    + MAX_THREADS);
        }
    }

    /**
     * Runs {@code writes} on {@code threads} threads, with at most two per thread queued, so
     * that only a few chunks are in memory at once. Positional writes need no order.
     */
    private static void write(FileChannel out, List<ChunkWrite> writes, int threads,
            Path output) throws IOException {
        if (threads == 1) {
            for (ChunkWrite w : writes) {
                writeChunk(out, w, output);
            }
            return;
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads,
                Thread.ofPlatform().daemon().name("export-", 0).factory());
        try {
            ArrayDeque<Future<?>> inFlight = new ArrayDeque<>();
            for (ChunkWrite w : writes) {
                inFlight.add(pool.submit(() -> {
                    writeChunk(out, w, output);
                    return null;
                }));
                if (inFlight.size() > threads * 2) {
                    await(inFlight.poll());
                }
            }
            while (!inFlight.isEmpty()) {
                await(inFlight.poll());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static void await(Future<?> write) throws IOException {
        try {
            write.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while exporting chunks");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IOException("exporting a chunk failed: " + cause, cause);
        }
    }

    /** Reads one chunk, which names its blob when that fails, and writes it to the output. */
    private static void writeChunk(FileChannel out, ChunkWrite chunk, Path output)
            throws IOException {
        byte[] data = chunk.data().read();
        writeOutput(output, () -> writeFully(out, data, chunk.position()));
    }

    private static Void writeFully(FileChannel out, byte[] data, long position)
            throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(data);
        while (buffer.hasRemaining()) {
            position += out.write(buffer, position);
        }
        return null;
    }

    /** Truncates or extends the output to {@code size} bytes; an extension reads as zeros. */
    private static Void setSize(FileChannel out, long size) throws IOException {
        out.truncate(size);
        if (out.size() < size) {
            out.write(ByteBuffer.wrap(new byte[1]), size - 1);
        }
        return null;
    }

    /** One step on the output file. */
    private interface OutputStep<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code step} and names {@code output} in its failure: a full disk or a quota fails
     * a write with an error that names no file.
     */
    private static <T> T writeOutput(Path output, OutputStep<T> step) throws IOException {
        try {
            return step.run();
        } catch (ClosedChannelException e) {
            // Another thread's failure or an interrupt closed the channel, and that error is
            // the one reported.
            throw e;
        } catch (IOException e) {
            throw AtomicFiles.writeFailure(output, e);
        }
    }

    private static void checkMapping(Path file, long bootstrapSize, List<DeviceSlot> devices)
            throws RafsFormatException {
        long end = bootstrapSize;
        for (DeviceSlot d : devices) {
            long start = d.mappedBlockAddress() * BLOCK_SIZE;
            if (start < end) {
                throw new RafsFormatException(file + ": device table maps blob " + d.blobId()
                        + " to block " + d.mappedBlockAddress() + ", which overlaps the"
                        + " bootstrap or an earlier blob; rebuild the image to export it");
            }
            end = start + d.blocks() * BLOCK_SIZE;
        }
    }

    private static List<List<Chunk>> chunksByBlob(DecodedBootstrap decoded, int blobCount) {
        List<List<Chunk>> result = new ArrayList<>();
        for (int i = 0; i < blobCount; i++) {
            result.add(new ArrayList<>());
        }
        Set<Long> seen = new HashSet<>();
        collect(decoded.bootstrap().root(), seen, result);
        return result;
    }

    private static void collect(Node root, Set<Long> seen, List<List<Chunk>> out) {
        for (Node node : root.descendants()) {
            for (Chunk c : node.inode().chunks()) {
                if (seen.add((long) c.blobIndex() << 32 | c.index())) {
                    out.get(c.blobIndex()).add(c);
                }
            }
        }
    }

}
