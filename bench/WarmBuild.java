import io.nydus.cli.Cli;
import io.nydus.cli.NydusImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Builds one tree several times in one JVM and prints the wall and CPU time of each build. The
 * first build pays for class loading and JIT compilation, and the later ones show the builder's
 * steady state. Run by bench/warm-build.sh.
 */
public final class WarmBuild {
    public static void main(String[] args) throws IOException {
        Path tree = Path.of(args[0]);
        int runs = Integer.parseInt(args[1]);
        var os = (com.sun.management.OperatingSystemMXBean)
                ManagementFactory.getOperatingSystemMXBean();
        for (int i = 1; i <= runs; i++) {
            Path out = Files.createTempDirectory("nydus-warm-build");
            long wallStart = System.nanoTime();
            long cpuStart = os.getProcessCpuTime();
            int status = Cli.run(new NydusImage(), "create", tree.toString(),
                    "--bootstrap", out.resolve("image.boot").toString(),
                    "--blob-dir", out.resolve("blobs").toString(), "--threads", "2");
            System.out.printf("build %d: exit %d, %.2f s wall, %.2f s CPU%n", i, status,
                    (System.nanoTime() - wallStart) / 1e9,
                    (os.getProcessCpuTime() - cpuStart) / 1e9);
            removeTree(out);
        }
    }

    private static void removeTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
