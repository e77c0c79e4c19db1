package io.nydus.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** `nydusctl mount`: mounts another image in a shared daemon. */
@Command(name = "mount", mixinStandardHelpOptions = true,
        description = "Mount an image below the mountpoint of a daemon that runs in shared mode"
                + " (POST /api/v1/mount).")
final class CtlMountCommand implements Callable<Integer> {
    /** The file system types of upstream's nydusctl. */
    private static final List<String> TYPES = List.of("rafs", "passthrough_fs");
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParentCommand
    private Nydusctl nydusctl;

    @Spec
    private CommandSpec spec;

    @Option(names = {"-s", "--source"}, required = true, paramLabel = "FILE",
            description = "The image's bootstrap. A relative path is made absolute here, as"
                    + " nydusd resolves paths from its own working directory.")
    private Path source;

    @Option(names = {"-c", "--config"}, required = true, paramLabel = "FILE",
            description = "The image's nydusd configuration (JSON, as for nydusd --config),"
                    + " which is read here and sent with the request.")
    private Path config;

    @Option(names = {"-m", "--mountpoint"}, required = true, paramLabel = "PATH",
            description = "Where the image appears inside the daemon's file system: /NAME.")
    private String mountpoint;

    @Option(names = {"-t", "--type"}, required = true, paramLabel = "TYPE",
            description = "The file system type: rafs, or passthrough_fs, which this"
                    + " project's nydusd rejects because it serves RAFS images only.")
    private String type;

    @Override
    public Integer call() throws Exception {
        if (!TYPES.contains(type)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--type '" + type
                    + "' is not known; give rafs or passthrough_fs");
        }
        Path bootstrap = source.toAbsolutePath();
        Map<String, String> body = new LinkedHashMap<>();
        body.put("source", bootstrap.toString());
        body.put("fs_type", type);
        body.put("config", readConfig());
        String name = Nydusctl.requireUtf8(spec, "--mountpoint", mountpoint);
        nydusctl.send("POST", "/api/v1/mount?mountpoint=" + Nydusctl.query(name),
                JSON.writeValueAsString(body));
        if (!nydusctl.raw()) {
            nydusctl.out().println("mounted " + bootstrap + " at " + mountpoint);
        }
        return 0;
    }

    private String readConfig() throws IOException {
        if (!Files.isRegularFile(config)) {
            throw new IOException("the mount configuration " + config + (Files.exists(config)
                    ? " is not a regular file" : " does not exist"));
        }
        try {
            return Files.readString(config);
        } catch (CharacterCodingException e) {
            throw new IOException("the mount configuration " + config + " is not UTF-8 text",
                    e);
        }
    }
}
