import io.nydus.builder.BlockExporter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Exports one image as a block image several times in one JVM with 1, 2 and 4 threads and
 * prints the wall time of each export. The first export pays for class loading and JIT
 * compilation, so the later ones show what the threads change. Run by bench/warm-export.sh.
 */
public final class WarmExport {
    public static void main(String[] args) throws IOException {
        Path bootstrap = Path.of(args[0]);
        Path blobDir = Path.of(args[1]);
        Path output = Path.of(args[2]);
        int rounds = Integer.parseInt(args[3]);
        for (int round = 1; round <= rounds; round++) {
            for (int threads : new int[] {1, 2, 4}) {
                Files.deleteIfExists(output);
                long start = System.nanoTime();
                BlockExporter.export(bootstrap, blobDir, output, threads);
                System.out.printf("round %d, %d thread(s): %.2f s%n", round, threads,
                        (System.nanoTime() - start) / 1e9);
            }
        }
        Files.deleteIfExists(output);
    }
}
