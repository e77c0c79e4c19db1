package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * `nydusify convert` in a child JVM, once on a pseudo terminal made by script(1) and once with
 * its output in a pipe: the first draws the progress display and no log lines, the second
 * logs lines and draws nothing.
 */
class ConvertProgressTerminalTest {
    private static final String CURSOR_UP = "\u001b[1A";

    @Test
    void terminalShowsDisplayOnly() throws Exception {
        try (TempDir dir = TempDirs.create("progress-tty-")) {
            String source = umociImage(dir);
            List<String> convert = convertCommand(source, "oci:" + dir.resolve("out") + ":n",
                    dir);

            CommandResult result = Commands.run(List.of("env", "TERM=xterm", "script", "-qec",
                    String.join(" ", convert), "/dev/null"), SeedImage.TIMEOUT);

            String text = result.stdoutText();
            assertTrue(text.contains(CURSOR_UP), text);
            assertTrue(text.contains("1/1 sha256:"), text);
            assertTrue(text.contains("pulled 2.0 MiB/"), text);
            assertFalse(text.contains(" INFO "), text);
            assertEquals(0, result.exitCode(), text);
        }
    }

    @Test
    void pipeShowsLogLinesOnly() throws Exception {
        try (TempDir dir = TempDirs.create("progress-pipe-")) {
            String source = umociImage(dir);
            List<String> convert = new ArrayList<>(List.of("env", "TERM=xterm"));
            convert.addAll(convertCommand(source, "oci:" + dir.resolve("out") + ":n", dir));

            CommandResult result = Commands.run(convert, SeedImage.TIMEOUT);

            // The log appender of the test class path writes to standard output.
            String text = result.stdoutText() + result.stderrText();
            assertEquals(0, result.exitCode(), text);
            assertTrue(text.contains("ManifestConverter"), text);
            assertTrue(text.contains("layer 1/1 sha256:"), text);
            assertFalse(text.contains("\u001b["), text);
        }
    }

    /** Returns oci:DIR:src, an umoci layout with one layer of a 2 MiB random file. */
    private static String umociImage(TempDir dir) throws Exception {
        Path rootfs = Files.createDirectories(dir.resolve("rootfs/data"));
        byte[] data = new byte[2 << 20];
        new Random(11).nextBytes(data);
        Files.write(rootfs.resolve("blob"), data);
        Path tar = dir.resolve("layer.tar");
        SeedImage.run("tar", "-C", dir.resolve("rootfs").toString(), "-cf", tar.toString(),
                ".");
        Path layout = dir.resolve("oci");
        SeedImage.run("umoci", "init", "--layout", layout.toString());
        SeedImage.run("umoci", "new", "--image", layout + ":src");
        SeedImage.run("umoci", "raw", "add-layer", "--image", layout + ":src", tar.toString());
        return "oci:" + layout + ":src";
    }

    /** Returns the command line of a convert in a JVM with this test's class path. */
    private static List<String> convertCommand(String source, String target, TempDir dir) {
        String java = ProcessHandle.current().info().command().orElse("java");
        return List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Nydusify.class.getName(), "convert",
                "--source", source, "--target", target, "--work-dir",
                dir.resolve("work").toString());
    }
}
