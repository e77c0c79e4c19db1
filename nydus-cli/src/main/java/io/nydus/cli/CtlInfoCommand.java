package io.nydus.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** `nydusctl info`: the daemon's state, version and mounted images. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print the daemon's state, version and mounted images"
                + " (GET /api/v1/daemon).")
final class CtlInfoCommand implements Callable<Integer> {
    @ParentCommand
    private Nydusctl nydusctl;

    @Override
    public Integer call() throws Exception {
        JsonNode info = nydusctl.get("/api/v1/daemon");
        nydusctl.out().print(nydusctl.raw() ? info + "\n" : DaemonSummary.info(info));
        return 0;
    }
}
