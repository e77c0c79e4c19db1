package io.nydus.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.ImageInspector;
import io.nydus.builder.InspectRequest;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** `nydus-image inspect`: prints a bootstrap's superblock, blobs, tree, chunks and totals. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Print a bootstrap's superblock, blob table, tree (one line per entry"
                + " with its chunks) and totals. Bytes of names that are not printable UTF-8"
                + " are shown as \\xNN.")
final class InspectCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Spec
    private CommandSpec spec;

    @Mixin
    private BootstrapInput bootstrapInput;

    @Option(names = "--json",
            description = "Print JSON. A name shown escaped (invalid UTF-8, control"
                    + " characters or backslashes) also gets its exact bytes in a base64"
                    + " '<key>_bytes' field, and xattr names in an 'xattrs_bytes' list.")
    private boolean json;

    @Option(names = {"--request", "-R"}, paramLabel = "REQUEST",
            description = "Print only the result of one request of upstream's request mode, as"
                    + " one line of JSON with upstream's keys: stats (the inode count), blobs"
                    + " (id and sizes in bytes of each blob) or prefetch (nid and paths of each"
                    + " prefetch table entry).")
    private String request;

    @Override
    public Integer call() throws Exception {
        Path bootstrap = InlinedBootstrap.resolve(bootstrapInput.path());
        Cli.readOptions(spec, this::checkRequest);
        ImageInspector.Report report = ImageInspector.inspect(bootstrap);
        var out = spec.commandLine().getOut();
        if (request != null) {
            out.println(new ObjectMapper().writeValueAsString(
                    InspectRequest.run(report, request)));
            out.flush();
        } else if (json) {
            out.println(JsonOutput.toText(ImageInspector.toJson(report)));
            out.flush();
        } else {
            ImageInspector.writeText(report, out);
        }
        return 0;
    }

    private Void checkRequest() {
        if (request == null) {
            return null;
        }
        if (json) {
            throw new IllegalArgumentException("--request prints JSON already; leave out"
                    + " --json");
        }
        if (!InspectRequest.SUPPORTED.contains(request.strip())) {
            throw new IllegalArgumentException("unsupported --request '" + request
                    + "', expected one of " + String.join(", ", InspectRequest.SUPPORTED));
        }
        return null;
    }
}
