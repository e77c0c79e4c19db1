package io.nydus.cli;

import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;

/**
 * The logging options that upstream's nydus-image and nydusify take before the subcommand, as
 * in {@code nydusify --log-level debug convert ...}. They are applied when the command runs,
 * after picocli has set every subcommand's default, and a --log-level given after the
 * subcommand wins.
 */
final class GlobalLogging {
    @Option(names = {"-l", "--log-level"}, paramLabel = "LEVEL", converter = LogLevel.Name.class,
            description = "Log level of the subcommand: trace, debug, info, warn or error"
                    + " (default: info).")
    private String level;

    @Option(names = {"-L", "--log-file"}, paramLabel = "FILE",
            description = "Append the log to this file instead of standard error.")
    private Path file;

    /**
     * Applies the options to the run of {@code parsed}'s subcommand.
     *
     * @param otherLevel the level that another top-level flag sets, such as nydusify's --debug,
     *     used when --log-level is not given; may be null
     */
    void apply(ParseResult parsed, String otherLevel) {
        if (file != null) {
            try {
                LogFile.redirect(file, 0);
            } catch (IOException e) {
                throw new CommandLine.ExecutionException(parsed.commandSpec().commandLine(),
                        e.getMessage(), e);
            }
        }
        String chosen = level != null ? level : otherLevel;
        ParseResult sub = parsed.subcommand();
        boolean subcommandLevel = sub != null && sub.hasMatchedOption("--log-level");
        if (chosen != null && !subcommandLevel) {
            LogFile.level(chosen);
        }
    }
}
