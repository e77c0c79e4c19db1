package io.nydus.cli;

import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * The bootstrap a command reads, given as its argument as upstream's current commands take it,
 * or with the older {@code --bootstrap} option.
 */
final class BootstrapInput {
    @Parameters(index = "0", arity = "0..1", paramLabel = "BOOTSTRAP",
            description = "The image's bootstrap.")
    private Path argument;

    @Option(names = {"--bootstrap", "-B"}, paramLabel = "FILE",
            description = "The image's bootstrap, the older form of the BOOTSTRAP argument.")
    private Path option;

    @Spec(Spec.Target.MIXEE)
    private CommandSpec spec;

    /** Returns the bootstrap, failing with a usage error when it is missing or given twice. */
    Path path() {
        if (argument != null && option != null && !argument.equals(option)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "two bootstraps: "
                    + argument + " and --bootstrap " + option + "; give one");
        }
        if (argument == null && option == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "missing bootstrap:"
                    + " give it as the argument, as in '" + spec.qualifiedName()
                    + " image.boot'");
        }
        return argument != null ? argument : option;
    }
}
