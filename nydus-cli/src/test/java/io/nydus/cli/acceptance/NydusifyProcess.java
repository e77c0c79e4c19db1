package io.nydus.cli.acceptance;

import io.nydus.testkit.Commands;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code nydusify} as users do: {@code io.nydus.cli.Nydusify.main} in a JVM of its own,
 * with the test's class path, the launcher's JVM flags plus a 1 GiB heap limit, and an
 * environment of the test's choosing. The Docker config directory points into {@code
 * workDir}, so credentials of the machine never reach the command.
 */
final class NydusifyProcess {

    private static final long TIMEOUT_MINUTES = 15;

    private final Path workDir;
    private final Map<String, String> environment = new HashMap<>();
    private final List<String> jvmOptions = new ArrayList<>();

    NydusifyProcess(Path workDir) {
        this.workDir = workDir;
    }

    /** Sets an environment variable of the command, such as the registry user name. */
    NydusifyProcess env(String name, String value) {
        environment.put(name, value);
        return this;
    }

    /** Adds a JVM option, such as a trust store. */
    NydusifyProcess jvmOption(String option) {
        jvmOptions.add(option);
        return this;
    }

    /** The exit code and the standard output and error of one run. */
    record Result(List<String> command, int exit, String stdout, String stderr) {

        /** Returns standard output and standard error together, for asserts and messages. */
        String output() {
            return "$ " + Commands.commandLine(command) + "\nexit " + exit + "\n--- stdout\n"
                    + stdout + "--- stderr\n" + stderr;
        }
    }

    /** Runs {@code nydusify ARGS} and waits for it to exit. */
    Result run(String... args) throws IOException, InterruptedException {
        Path logs = Files.createDirectories(workDir.resolve("process"));
        Path stdout = Files.createTempFile(logs, "stdout", ".txt");
        Path stderr = Files.createTempFile(logs, "stderr", ".txt");
        List<String> argv = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-XX:+UseParallelGC", "-Xmn64m",
                "-Xmx1g"));
        argv.addAll(jvmOptions);
        argv.addAll(List.of("-cp", System.getProperty("java.class.path"),
                "io.nydus.cli.Nydusify"));
        argv.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(argv).redirectOutput(stdout.toFile())
                .redirectError(stderr.toFile());
        Map<String, String> env = builder.environment();
        env.keySet().removeIf(name -> name.startsWith("NYDUS_REGISTRY_"));
        env.put("DOCKER_CONFIG", Files.createDirectories(workDir.resolve("docker-config"))
                .toString());
        env.putAll(environment);
        Process process = builder.start();
        if (!process.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
            process.destroyForcibly().waitFor();
            throw new IOException(Commands.commandLine(argv) + " timed out after "
                    + TIMEOUT_MINUTES + " minutes");
        }
        return new Result(argv.subList(argv.indexOf("io.nydus.cli.Nydusify"), argv.size()),
                process.exitValue(), Files.readString(stdout), Files.readString(stderr));
    }
}
