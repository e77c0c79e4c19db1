package io.nydus.bench;

import io.nydus.rafs.digest.Blake3;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.crypto.digests.Blake3Digest;
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
 * One-thread BLAKE3 throughput on random data, in hashes per second; multiply by {@code size}
 * for bytes per second ({@code bench/blake3.sh} does).
 *
 * <p>{@code nydus} is {@link Blake3#hash(byte[])}; {@code bouncyCastle} is BouncyCastle's
 * {@code Blake3Digest}, a block-at-a-time implementation, for comparison. The {@code lanes}
 * parameter sets the system property {@code io.nydus.blake3.lanes} before the first hash in
 * the fork: "preferred" leaves the widest vectors the CPU offers, and 0, 4, 8 or 16 pick a
 * lane count ({@code -p lanes=8}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Thread)
@Threads(1)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class Blake3Benchmark {
    @Param({"4096", "65536", "1048576"})
    public int size;

    @Param({"preferred"})
    public String lanes;

    private byte[] data;

    @Setup
    public void setUp() {
        if (!"preferred".equals(lanes)) {
            System.setProperty("io.nydus.blake3.lanes", lanes);
        }
        data = new byte[size];
        SplittableRandom random = new SplittableRandom(size);
        for (int i = 0; i < size; i += 8) {
            long bits = random.nextLong();
            for (int j = 0; j < 8 && i + j < size; j++) {
                data[i + j] = (byte) (bits >>> (8 * j));
            }
        }
        byte[] ours = nydus();
        byte[] theirs = bouncyCastle();
        if (!Arrays.equals(ours, theirs)) {
            throw new IllegalStateException("BLAKE3 digests of " + size + " random bytes differ:"
                    + " nydus " + HexFormat.of().formatHex(ours)
                    + ", BouncyCastle " + HexFormat.of().formatHex(theirs));
        }
    }

    @Benchmark
    public byte[] nydus() {
        return Blake3.hash(data);
    }

    @Benchmark
    public byte[] bouncyCastle() {
        Blake3Digest digest = new Blake3Digest();
        digest.update(data, 0, data.length);
        byte[] out = new byte[Blake3.DIGEST_LENGTH];
        digest.doFinal(out, 0);
        return out;
    }
}
