package io.nydus.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * `nydusify`: converts OCI images in a registry to Nydus images and checks them, packs local
 * directories into Nydus images, and copies images between registries.
 */
@Command(name = "nydusify", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = "Convert OCI images in a registry to Nydus (RAFS v6) images, check"
                + " converted images against their source, pack local directories into Nydus"
                + " images, copy images between registries and layouts, and mount Nydus images"
                + " lazily.",
        footer = {"", "Options not given take their default from the environment variables"
                + " that upstream's nydusify reads: SOURCE, TARGET, TARGET_SUFFIX,"
                + " SOURCE_INSECURE, TARGET_INSECURE, PLAIN_HTTP, WORK_DIR, COMPRESSOR,"
                + " FS_CHUNK_SIZE, CHUNK_DICT, OUTPUT_JSON, PUSH_RETRY_COUNT, LOG_LEVEL and"
                + " others; README.md lists them all."},
        subcommands = {ConvertCommand.class, NydusifyCheckCommand.class, PackCommand.class,
                CopyCommand.class, NydusifyMountCommand.class})
public final class Nydusify implements Runnable {
    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    private GlobalLogging logging;

    @CommandLine.Option(names = {"-D", "--debug"},
            description = "Log at debug level, as --log-level debug does.")
    private boolean debug;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing a subcommand");
    }

    /** Applies the logging options given before the subcommand. */
    void applyLogging(CommandLine.ParseResult parsed) {
        logging.apply(parsed, debug ? "debug" : null);
    }

    public static void main(String[] args) {
        System.exit(Cli.run(new Nydusify(), args));
    }
}
