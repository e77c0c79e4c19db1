package io.nydus.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** `nydusctl umount`: unmounts an image from a shared daemon. */
@Command(name = "umount", mixinStandardHelpOptions = true,
        description = "Unmount an image that the daemon serves below its mountpoint"
                + " (DELETE /api/v1/mount).")
final class CtlUmountCommand implements Callable<Integer> {
    @ParentCommand
    private Nydusctl nydusctl;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-m", "--mountpoint"}, required = true, paramLabel = "PATH",
            description = "Where the image appears inside the daemon's file system, such as"
                    + " /app, as given to mount.")
    private String mountpoint;

    @Override
    public Integer call() throws Exception {
        String name = Nydusctl.requireUtf8(spec, "--mountpoint", mountpoint);
        nydusctl.send("DELETE", "/api/v1/mount?mountpoint=" + Nydusctl.query(name), null);
        if (!nydusctl.raw()) {
            nydusctl.out().println("unmounted " + mountpoint);
        }
        return 0;
    }
}
