package io.nydus.rafs.digest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Checks {@link Blake3} against the reference implementation: every expected digest comes from
 * Debian's {@code b3sum} command, run on the same bytes while the test runs.
 */
class Blake3Test {
    /** The input lengths of the official BLAKE3 test vectors; their bytes are i % 251. */
    private static final int[] STANDARD_LENGTHS = {
        0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 3073, 4096, 4097, 5120, 5121,
        6144, 6145, 7168, 7169, 8192, 8193, 16384, 31744, 102400,
    };

    /** Lengths around batch, segment and stack boundaries of the implementation. */
    private static final int[] BOUNDARY_LENGTHS = {
        16383, 16385, 17408, 17409, 32768, 32769, 65535, 65536, 65537, 262143, 262144, 262145,
        263168, 263169, 524288, 524289, 786433, 1048575, 1048576, 1048577, 3 * 1048576 + 5,
        5 * 1048576 + 1023,
    };

    private static final String EMPTY_DIGEST =
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    private static final HexFormat HEX = HexFormat.of();

    @TempDir
    Path dir;

    private final long seed = System.nanoTime();
    private final Random random = new Random(seed);

    @Test
    void emptyInput() {
        assertEquals(EMPTY_DIGEST, hex(Blake3.hash(new byte[0])));
        assertEquals(EMPTY_DIGEST, hex(Blake3.newHasher().digest()));
        assertEquals(EMPTY_DIGEST, b3sum(List.of(new byte[0])).getFirst());
    }

    @Test
    void standardLengths() {
        checkLengths(STANDARD_LENGTHS);
    }

    @Test
    void boundaryLengths() {
        checkLengths(BOUNDARY_LENGTHS);
    }

    @Test
    void randomLengths() {
        List<byte[]> inputs = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            inputs.add(randomBytes(random.nextInt(300_000)));
        }
        for (int i = 0; i < 4; i++) {
            inputs.add(randomBytes(1 + random.nextInt(6 << 20)));
        }
        List<String> expected = b3sum(inputs);
        for (int i = 0; i < inputs.size(); i++) {
            byte[] input = inputs.get(i);
            assertEquals(expected.get(i), hex(Blake3.hash(input)), describe(input.length));
            assertEquals(expected.get(i), hex(hashInPieces(input)),
                    "incremental, " + describe(input.length));
        }
    }

    @Test
    void arraySlices() {
        byte[] buffer = randomBytes(600_000);
        List<byte[]> slices = new ArrayList<>();
        List<int[]> ranges = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            int length = random.nextInt(buffer.length / (i % 3 == 0 ? 1 : 50));
            int offset = random.nextInt(buffer.length - length + 1);
            ranges.add(new int[] {offset, length});
            slices.add(Arrays.copyOfRange(buffer, offset, offset + length));
        }
        List<String> expected = b3sum(slices);
        for (int i = 0; i < slices.size(); i++) {
            int offset = ranges.get(i)[0];
            int length = ranges.get(i)[1];
            String where = "offset " + offset + ", " + describe(length);
            assertEquals(expected.get(i), hex(Blake3.hash(buffer, offset, length)), where);
            String incremental = hex(Blake3.newHasher().update(buffer, offset, length).digest());
            assertEquals(expected.get(i), incremental, "incremental, " + where);
        }
    }

    @Test
    void heapAndDirectBuffers() {
        List<byte[]> inputs = new ArrayList<>();
        for (int length : new int[] {0, 1, 1024, 1025, 70_000, 1 << 20}) {
            inputs.add(randomBytes(length));
        }
        inputs.add(randomBytes(random.nextInt(2 << 20)));
        List<String> expected = b3sum(inputs);
        for (int i = 0; i < inputs.size(); i++) {
            byte[] input = inputs.get(i);
            String size = describe(input.length);
            assertEquals(expected.get(i), hex(Blake3.hash(heapBuffer(input))), "heap, " + size);
            assertEquals(expected.get(i), hex(Blake3.hash(directBuffer(input))),
                    "direct, " + size);
            assertEquals(expected.get(i), hex(Blake3.hash(heapBuffer(input).asReadOnlyBuffer())),
                    "read-only heap, " + size);
        }
    }

    @Test
    void bufferSliceBetweenPositionAndLimit() {
        byte[] all = randomBytes(50_000);
        int position = 123;
        int limit = 40_001;
        String expected = b3sum(List.of(Arrays.copyOfRange(all, position, limit))).getFirst();

        ByteBuffer direct = directBuffer(all).position(position).limit(limit);
        assertEquals(expected, hex(Blake3.hash(direct)));
        assertEquals(position, direct.position(), "static hash moved the position");

        ByteBuffer heap = heapBuffer(all).position(position).limit(limit);
        assertEquals(expected, hex(Blake3.newHasher().update(heap).digest()));
        assertEquals(limit, heap.position(), "update left the position before the limit");
    }

    @Test
    void incrementalRandomPieces() {
        byte[] input = randomBytes(5 * 1048576 + random.nextInt(100_000));
        String expected = b3sum(List.of(input)).getFirst();
        for (int run = 0; run < 3; run++) {
            Blake3.Hasher hasher = Blake3.newHasher();
            int offset = 0;
            boolean direct = false;
            while (offset < input.length) {
                int piece = Math.min(input.length - offset, randomPieceLength());
                if (direct) {
                    ByteBuffer buffer = ByteBuffer.allocateDirect(piece);
                    buffer.put(input, offset, piece).flip();
                    hasher.update(buffer);
                } else {
                    hasher.update(input, offset, piece);
                }
                direct = !direct;
                offset += piece;
            }
            assertEquals(expected, hex(hasher.digest()), "run " + run + ", seed " + seed);
        }
    }

    @Test
    void digestLeavesHasherUsable() {
        byte[] first = randomBytes(40_000);
        byte[] second = randomBytes(300_000);
        byte[] both = new byte[first.length + second.length];
        System.arraycopy(first, 0, both, 0, first.length);
        System.arraycopy(second, 0, both, first.length, second.length);
        List<String> expected = b3sum(List.of(first, both));

        Blake3.Hasher hasher = Blake3.newHasher().update(first);
        assertEquals(expected.get(0), hex(hasher.digest()));
        assertEquals(expected.get(0), hex(hasher.digest()), "second digest differs");
        hasher.update(second);
        assertEquals(expected.get(1), hex(hasher.digest()));
    }

    @Test
    void resetStartsOver() {
        byte[] input = randomBytes(20_000);
        String expected = b3sum(List.of(input)).getFirst();
        Blake3.Hasher hasher = Blake3.newHasher().update(randomBytes(500_000));
        hasher.reset();
        assertEquals(EMPTY_DIGEST, hex(hasher.digest()));
        assertEquals(expected, hex(hasher.update(input).digest()));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 1025, 5000, 300_000})
    void extendedOutput(int inputLength) {
        byte[] input = pattern(inputLength);
        Blake3.Hasher hasher = Blake3.newHasher().update(input);
        for (int outputLength : new int[] {1, 31, 32, 33, 64, 65, 200, 1000}) {
            String expected = b3sum(input, outputLength);
            assertEquals(expected, hex(hasher.digest(outputLength)),
                    outputLength + " output bytes of " + describe(inputLength));
        }
        assertEquals(0, hasher.digest(0).length);
    }

    @Test
    void extendedOutputIntoArray() {
        byte[] input = pattern(3000);
        byte[] out = new byte[110];
        Blake3.newHasher().update(input).digest(out, 7, 100);
        String expected = b3sum(input, 100);
        assertEquals(expected, hex(Arrays.copyOfRange(out, 7, 107)));
        assertArrayEquals(new byte[7], Arrays.copyOfRange(out, 0, 7), "bytes before offset");
        assertArrayEquals(new byte[3], Arrays.copyOfRange(out, 107, 110), "bytes after end");
    }

    @Test
    void concurrentStaticCalls() throws Exception {
        List<byte[]> inputs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            inputs.add(randomBytes(1 + random.nextInt(1 << 20)));
        }
        List<String> expected = b3sum(inputs);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<List<String>>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                results.add(pool.submit(() -> {
                    List<String> digests = new ArrayList<>();
                    for (int round = 0; round < 5; round++) {
                        for (byte[] input : inputs) {
                            digests.add(hex(Blake3.hash(input)));
                        }
                    }
                    return digests;
                }));
            }
            for (Future<List<String>> result : results) {
                List<String> digests = result.get();
                for (int i = 0; i < digests.size(); i++) {
                    int input = i % inputs.size();
                    assertEquals(expected.get(input), digests.get(i), "input " + input);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void invalidRanges() {
        byte[] data = new byte[10];
        assertThrows(IndexOutOfBoundsException.class, () -> Blake3.hash(data, -1, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> Blake3.hash(data, 5, 6));
        assertThrows(IndexOutOfBoundsException.class, () -> Blake3.hash(data, 0, -1));
        Blake3.Hasher hasher = Blake3.newHasher();
        assertThrows(IndexOutOfBoundsException.class, () -> hasher.update(data, 11, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> hasher.digest(data, 8, 3));
        assertThrows(IllegalArgumentException.class, () -> hasher.digest(-1));
        assertThrows(NullPointerException.class, () -> Blake3.hash((byte[]) null));
    }

    /**
     * Runs the standard and boundary lengths in child JVMs with each lane count this CPU offers,
     * with the vector code turned off, without AVX2, and without the Vector API module at all.
     */
    @Test
    void everyLaneCount() {
        int[] lengths = concat(STANDARD_LENGTHS, BOUNDARY_LENGTHS);
        List<byte[]> inputs = new ArrayList<>();
        for (int length : lengths) {
            inputs.add(pattern(length));
        }
        List<String> expected = b3sum(inputs);

        int preferred = jdk.incubator.vector.IntVector.SPECIES_PREFERRED.length();
        List<List<String>> settings = new ArrayList<>();
        settings.add(List.of());
        settings.add(List.of("--add-modules", "jdk.incubator.vector",
                "-D" + Blake3Vector.LANES_PROPERTY + "=0"));
        for (int lanes : new int[] {4, 8, 16}) {
            if (lanes <= preferred) {
                settings.add(List.of("--add-modules", "jdk.incubator.vector",
                        "-D" + Blake3Vector.LANES_PROPERTY + "=" + lanes));
            }
        }
        if (System.getProperty("os.arch").equals("amd64")) {
            // Without AVX2 the default is the scalar code, because 128-bit vectors are slow.
            settings.add(List.of("--add-modules", "jdk.incubator.vector", "-XX:UseAVX=1"));
        }
        for (List<String> jvmOptions : settings) {
            List<String> lines = runChild(jvmOptions, lengths);
            assertEquals(lengths.length, lines.size(), "lines from child JVM " + jvmOptions);
            for (int i = 0; i < lengths.length; i++) {
                String[] digests = lines.get(i).split(" ");
                for (String digest : digests) {
                    assertEquals(expected.get(i), digest,
                            "child JVM " + jvmOptions + ", " + describe(lengths[i]));
                }
            }
        }
    }

    /**
     * Entry point of the child JVMs of {@link #everyLaneCount}: prints, for each length given,
     * the digests of i % 251 bytes from an array, a direct buffer and 1000-byte pieces.
     */
    static final class ChildMain {
        public static void main(String[] args) {
            for (String arg : args) {
                byte[] input = pattern(Integer.parseInt(arg));
                Blake3.Hasher hasher = Blake3.newHasher();
                for (int offset = 0; offset < input.length; offset += 1000) {
                    hasher.update(input, offset, Math.min(1000, input.length - offset));
                }
                System.out.println(hex(Blake3.hash(input)) + " "
                        + hex(Blake3.hash(directBuffer(input))) + " " + hex(hasher.digest()));
            }
        }
    }

    private void checkLengths(int[] lengths) {
        List<byte[]> inputs = new ArrayList<>();
        for (int length : lengths) {
            inputs.add(pattern(length));
        }
        List<String> expected = b3sum(inputs);
        for (int i = 0; i < lengths.length; i++) {
            byte[] input = inputs.get(i);
            String size = describe(lengths[i]);
            assertEquals(expected.get(i), hex(Blake3.hash(input)), size);
            assertEquals(expected.get(i), hex(Blake3.hash(directBuffer(input))),
                    "direct buffer, " + size);
            assertEquals(expected.get(i), hex(hashInPieces(input)), "incremental, " + size);
        }
    }

    private byte[] hashInPieces(byte[] input) {
        Blake3.Hasher hasher = Blake3.newHasher();
        int offset = 0;
        while (offset < input.length) {
            int piece = Math.min(input.length - offset, randomPieceLength());
            hasher.update(input, offset, piece);
            offset += piece;
        }
        return hasher.digest();
    }

    /** Mixes tiny pieces, pieces around one chunk and pieces of many batches. */
    private int randomPieceLength() {
        return switch (random.nextInt(4)) {
            case 0 -> random.nextInt(70);
            case 1 -> random.nextInt(3000);
            case 2 -> random.nextInt(40_000);
            default -> random.nextInt(600_000);
        };
    }

    private String describe(int length) {
        return length + " bytes (seed " + seed + ")";
    }

    private byte[] randomBytes(int length) {
        byte[] bytes = new byte[length];
        random.nextBytes(bytes);
        return bytes;
    }

    private static byte[] pattern(int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (i % 251);
        }
        return bytes;
    }

    private static ByteBuffer heapBuffer(byte[] bytes) {
        return ByteBuffer.wrap(bytes.clone());
    }

    private static ByteBuffer directBuffer(byte[] bytes) {
        return ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
    }

    private static String hex(byte[] bytes) {
        return HEX.formatHex(bytes);
    }

    private static int[] concat(int[] first, int[] second) {
        int[] all = Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, all, first.length, second.length);
        return all;
    }

    /** Returns the b3sum digest of each input, from one b3sum run over one file per input. */
    private List<String> b3sum(List<byte[]> inputs) {
        List<String> command = new ArrayList<>(List.of("b3sum", "--no-names"));
        for (int i = 0; i < inputs.size(); i++) {
            command.add(writeInput(i, inputs.get(i)).toString());
        }
        List<String> lines = run(command);
        assertEquals(inputs.size(), lines.size(), "lines of b3sum output");
        return lines;
    }

    /** Returns {@code outputLength} bytes of b3sum's extended output, in hex. */
    private String b3sum(byte[] input, int outputLength) {
        Path file = writeInput(0, input);
        List<String> lines = run(List.of("b3sum", "--no-names", "--length",
                Integer.toString(outputLength), file.toString()));
        assertEquals(1, lines.size(), "lines of b3sum output");
        return lines.getFirst();
    }

    private Path writeInput(int index, byte[] input) {
        Path file = dir.resolve("input-" + index + ".bin");
        try {
            Files.write(file, input);
        } catch (IOException e) {
            throw new UncheckedIOException("failed to write test input " + file, e);
        }
        return file;
    }

    private List<String> runChild(List<String> jvmOptions, int[] lengths) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(ChildMain.class.getName());
        for (int length : lengths) {
            command.add(Integer.toString(length));
        }
        return run(command);
    }

    /** Runs a command and returns its output lines. Fails the test if the command fails. */
    private static List<String> run(List<String> command) {
        Process process;
        try {
            process = new ProcessBuilder(command).start();
        } catch (IOException e) {
            return fail("failed to start " + command.getFirst() + ". These tests need b3sum,"
                    + " the BLAKE3 reference command: apt-get install b3sum", e);
        }
        try {
            process.getOutputStream().close();
            CompletableFuture<byte[]> stdout =
                    CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
            CompletableFuture<byte[]> stderr =
                    CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
            // A guard against a hung child only; normal runs take a few seconds at most.
            if (!process.waitFor(5, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                fail("timed out after 5 minutes: " + command.getFirst());
            }
            if (process.exitValue() != 0) {
                fail(command.getFirst() + " failed with exit code " + process.exitValue() + ": "
                        + new String(stderr.join(), StandardCharsets.UTF_8));
            }
            String output = new String(stdout.join(), StandardCharsets.UTF_8);
            return output.isEmpty() ? List.of() : List.of(output.split("\n"));
        } catch (IOException e) {
            throw new UncheckedIOException("failed to read the output of " + command.getFirst(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while running " + command.getFirst(), e);
        }
    }

    private static byte[] readAll(InputStream in) {
        try (in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
