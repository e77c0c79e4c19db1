package io.nydus.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * `nydus-image`: builds, merges, checks, inspects, unpacks and exports RAFS v6 images, and
 * prints their statistics.
 */
@Command(name = "nydus-image", mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "Build, merge, check, inspect, unpack and export Nydus (RAFS v6) images,"
                + " and print their statistics.",
        subcommands = {CreateCommand.class, MergeCommand.class, ExportCommand.class,
            UnpackCommand.class, CheckCommand.class, InspectCommand.class, StatCommand.class})
public final class NydusImage implements Runnable {
    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    private GlobalLogging logging;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing a subcommand");
    }

    /** Applies the logging options given before the subcommand. */
    void applyLogging(CommandLine.ParseResult parsed) {
        logging.apply(parsed, null);
    }

    public static void main(String[] args) {
        System.exit(Cli.run(new NydusImage(), args));
    }
}
