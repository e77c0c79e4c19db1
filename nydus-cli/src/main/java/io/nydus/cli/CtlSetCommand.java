package io.nydus.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** `nydusctl set`: changes a setting of the running daemon. */
@Command(name = "set", mixinStandardHelpOptions = true,
        description = "Change a setting of the running daemon. The only setting is log-level,"
                + " with a value of trace, debug, info, warn or error (PUT /api/v1/daemon).")
final class CtlSetCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParentCommand
    private Nydusctl nydusctl;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "KIND", description = "The setting: log-level.")
    private String kind;

    @Parameters(index = "1", paramLabel = "VALUE",
            description = "Its new value; nydusd checks it and rejects a value it does not know.")
    private String value;

    @Override
    public Integer call() throws Exception {
        if (!kind.equals("log-level")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "setting '" + kind
                    + "' is not known; the only setting is log-level");
        }
        nydusctl.send("PUT", "/api/v1/daemon",
                JSON.writeValueAsString(Map.of("log_level", value)));
        if (!nydusctl.raw()) {
            nydusctl.out().println("log level set to " + value);
        }
        return 0;
    }
}
