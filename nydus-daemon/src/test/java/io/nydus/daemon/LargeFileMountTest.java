package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.builder.BlockExporter;
import io.nydus.builder.BuildResult;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A file larger than 4 GiB, such as model weights baked into an image. It is read through the
 * daemon's FUSE mount and the kernel's EROFS mount of the exported block image, on both sides
 * of the 2 GiB and 4 GiB marks, where 32-bit offset or chunk arithmetic would go wrong. The
 * source file is sparse and mostly zeros, so its zero chunks are stored once and the image
 * stays small.
 */
class LargeFileMountTest {

    private static final long SIZE = (9L << 29) + 12_345;
    private static final int MARK = 70_000;
    /** Offsets of random data: the start, across 2 GiB and 4 GiB, past 4 GiB, the end. */
    private static final long[] MARKS = {0, (2L << 30) - MARK / 2, (4L << 30) - 100,
        (4L << 30) + 123_457, SIZE - MARK};

    private static TempDir work;
    private static Path source;
    private static BuildResult image;

    @BeforeAll
    static void build() throws IOException {
        work = TempDirs.create("large-file-");
        source = Files.createDirectories(work.resolve("source"));
        try (RandomAccessFile file = new RandomAccessFile(
                source.resolve("model.bin").toFile(), "rw")) {
            file.setLength(SIZE);
            for (long offset : MARKS) {
                file.seek(offset);
                file.write(mark(offset));
            }
        }
        image = TestImages.build(source, work.resolve("image"));
    }

    @AfterAll
    static void remove() throws IOException {
        work.close();
    }

    /** Returns the random bytes written at {@code offset}, the same for the same offset. */
    private static byte[] mark(long offset) {
        byte[] bytes = new byte[MARK];
        new Random(offset).nextBytes(bytes);
        return bytes;
    }

    @Test
    void kernelReadsPastFourGibibytesMatchSource() throws Exception {
        Path block = work.resolve("image.erofs");
        BlockExporter.export(image.bootstrapFile(), work.resolve("image/blobs"), block);
        Path mnt = Files.createDirectories(work.resolve("kernel"));
        try (KernelErofs kernel = KernelErofs.mount(block, mnt)) {
            assertMarks(mnt.resolve("model.bin"));
        }
    }

    @Test
    void readsPastFourGibibytesMatchSource() throws Exception {
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        String json = "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\": {\"dir\": \""
                + work.resolve("image/blobs") + "\"}}, \"cache\": {\"type\": \"blobcache\","
                + " \"config\": {\"work_dir\": \"" + work.resolve("cache") + "\"}}},"
                + " \"mode\": \"direct\", \"digest_validate\": true}";
        DaemonConfig config = DaemonConfig.parse("test", json);
        try (Daemon daemon = new Daemon("large", false, StorageImageData::open)) {
            daemon.mount("/", image.bootstrapFile(), config, List.of());
            try (FuseSession session = FuseSession.mount(mnt, daemon.vfs(), new MountOptions(
                    "nydusd", "nydusd", 4, MountOptions.DEFAULT_READ_AHEAD_KIB))) {
                assertMarks(mnt.resolve("model.bin"));
            }
        }
    }

    /** Checks the size, each mark, the zeros after it and the end of the mounted file. */
    private static void assertMarks(Path path) throws IOException {
        try (Fd file = Posix.open(BytePath.of(path), OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC)) {
            assertEquals(SIZE, file.fstat().size());
            for (long offset : MARKS) {
                assertArrayEquals(mark(offset), readFully(file, offset, MARK),
                        "bytes at offset " + offset);
                int zeros = (int) Math.min(4096, SIZE - offset - MARK);
                assertArrayEquals(new byte[zeros], readFully(file, offset + MARK, 4096),
                        "zeros after the mark at " + offset);
            }
            assertArrayEquals(new byte[0], readFully(file, SIZE, 4096), "past the end");
        }
    }

    /** Reads up to {@code length} bytes at {@code offset}, fewer only at the end of the file. */
    private static byte[] readFully(Fd file, long offset, int length) throws IOException {
        byte[] buffer = new byte[length];
        int done = 0;
        while (done < length) {
            int count = file.pread(buffer, done, length - done, offset + done);
            if (count == 0) {
                return Arrays.copyOf(buffer, done);
            }
            done += count;
        }
        return buffer;
    }
}
