package io.nydus.bench;

import io.nydus.daemon.FsMetrics;
import io.nydus.daemon.RafsFileSystem;
import io.nydus.daemon.RafsOptions;
import io.nydus.fuse.Attr;
import io.nydus.fuse.Entry;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.RafsFlags;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Time and allocation per counted FUSE call of {@link RafsFileSystem}, which wraps each call in
 * a capturing lambda to count it. Run with {@code -prof gc}: {@code gc.alloc.rate.norm} is the
 * bytes allocated per call. {@code access} returns nothing, so any allocation it shows comes
 * from the counting. {@code getattr} and {@code lookup} also allocate their replies. The image
 * has 300 files, so that the node id is above the range of cached {@link Long}s.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
@Threads(1)
@Fork(value = 2, jvmArgsAppend = {"-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class CountedCallBenchmark {
    private static final int FILES = 300;
    private static final byte[] LAST = name(FILES - 1);

    /** Whether calls are also counted per file, as with {@code iostats_files: true}. */
    @Param({"false", "true"})
    public boolean perFile;

    private RafsFileSystem fs;
    private long file;

    @Setup
    public void mount() throws FuseException, RafsFormatException {
        Node root = Node.root(new Inode(FileType.DIRECTORY).permissions(0755));
        for (int i = 0; i < FILES; i++) {
            root.put(Node.of(name(i), new Inode(FileType.REGULAR).permissions(0644)));
        }
        Bootstrap bootstrap = new Bootstrap(root, List.of(), Bootstrap.DEFAULT_CHUNK_SIZE,
                RafsFlags.COMPRESSION_ZSTD | RafsFlags.HASH_BLAKE3, List.of());
        DecodedBootstrap image = BootstrapReader.decode("bench",
                ByteBuffer.wrap(BootstrapWriter.write(bootstrap)));
        fs = new RafsFileSystem("bench", image, (chunk, offset, target) -> {
            throw new IOException("the benchmark image has no data");
        }, RafsOptions.defaults(), new FsMetrics("/", perFile, false, false));
        file = fs.lookup(FuseFileSystem.ROOT, LAST).attr().inode();
    }

    private static byte[] name(int index) {
        return ("file-" + index).getBytes(StandardCharsets.US_ASCII);
    }

    @Benchmark
    public void access() throws FuseException {
        fs.access(file, 0);
    }

    @Benchmark
    public Attr getattr() throws FuseException {
        return fs.getattr(file);
    }

    @Benchmark
    public Entry lookup() throws FuseException {
        return fs.lookup(FuseFileSystem.ROOT, LAST);
    }
}
