package io.nydus.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import picocli.CommandLine;

/**
 * Runs a command line and turns failures into one clear message and a non-zero exit, never a
 * bare stack trace. `--log-level debug` adds the stack trace to the log.
 */
public final class Cli {
    private Cli() {
    }

    public static int run(Object command, String... args) {
        CommandLine cmd = new CommandLine(command);
        cmd.setCaseInsensitiveEnumValuesAllowed(true);
        cmd.setExecutionExceptionHandler((e, line, parsed) -> {
            Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
            org.slf4j.LoggerFactory.getLogger("nydus").debug("command failed", cause);
            line.getErr().println("error: " + message(cause));
            return 1;
        });
        return cmd.execute(args);
    }

    static String message(Throwable e) {
        String text = e.getMessage();
        if (text == null || text.isBlank()) {
            text = e.getClass().getSimpleName();
        }
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file: " + text;
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied: " + text;
        }
        if (e instanceof IOException || e instanceof IllegalArgumentException) {
            return text;
        }
        return e.getClass().getSimpleName() + ": " + text;
    }
}
