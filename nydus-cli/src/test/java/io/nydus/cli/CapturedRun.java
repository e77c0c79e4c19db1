package io.nydus.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * The exit code and the captured standard output and error of one command run in-process.
 *
 * @param exitCode the status the command returned
 * @param out what it printed to standard output
 * @param err what it printed to standard error, its log included
 */
record CapturedRun(int exitCode, String out, String err) {

    /** Runs {@code nydus-image} with {@code args}, capturing its output. */
    static CapturedRun nydusImage(String... args) {
        return run(new NydusImage(), args);
    }

    /** Runs {@code nydusify} with {@code args}, capturing its output. */
    static CapturedRun nydusify(String... args) {
        return run(new Nydusify(), args);
    }

    /** Runs {@code nydusctl} with {@code args}, capturing its output. */
    static CapturedRun nydusctl(String... args) {
        return run(new Nydusctl(), args);
    }

    private static CapturedRun run(Object command, String... args) {
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Cli.run(command, args);
            return new CapturedRun(code, out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
    }
}
