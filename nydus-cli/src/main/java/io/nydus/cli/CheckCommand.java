package io.nydus.cli;

import io.nydus.builder.AtomicFiles;
import io.nydus.builder.ImageChecker;
import io.nydus.builder.ImageInspector;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** `nydus-image check`: validates a bootstrap and, given the blobs, every chunk. */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Validate an image: the bootstrap's structures and tree and, with"
                + " --blob-dir, each blob's ToC, CI table and every chunk's digest. Exits 1 on"
                + " the first problem.")
final class CheckCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Spec
    private CommandSpec spec;

    @Mixin
    private BootstrapInput bootstrapInput;

    @Option(names = {"--blob-dir", "-D"}, paramLabel = "DIR",
            description = "Directory holding the image's blobs, named by blob id; without it"
                    + " only the bootstrap is checked.")
    private Path blobDir;

    @Option(names = {"--output-json", "-J"}, paramLabel = "FILE",
            description = "Also write the result as JSON to this file: upstream's keys"
                    + " (bootstrap, blobs, fs_version, compressor) and the counts printed.")
    private Path outputJson;

    @Option(names = {"--verbose", "-v"},
            description = "Also print the image's tree, as 'inspect' does.")
    private boolean verbose;

    @Override
    public Integer call() throws Exception {
        Path named = bootstrapInput.path();
        Path bootstrap = InlinedBootstrap.resolve(named);
        // A JSON output that names a directory, a device or an input fails the command before
        // its work.
        if (outputJson != null) {
            AtomicFiles.requireReplaceable(outputJson);
            List<Path> inputs = new ArrayList<>(ImageChecker.inputFiles(bootstrap, blobDir));
            inputs.add(named);
            AtomicFiles.requireNotInput(outputJson, inputs);
        }
        ImageChecker.Summary s = ImageChecker.check(bootstrap, blobDir);
        var out = spec.commandLine().getOut();
        if (verbose) {
            ImageInspector.writeText(ImageInspector.inspect(bootstrap), out);
        }
        out.printf("bootstrap %s is valid: %d entries, %d regular files, %d bytes, %d chunks"
                + " (%d unique), %d blob%s%n", named, s.entries(), s.regularFiles(),
                s.dataBytes(), s.chunks(), s.uniqueChunks(), s.blobs(),
                s.blobs() == 1 ? "" : "s");
        if (blobDir != null) {
            out.printf("blobs in %s are valid: %d chunks with %d bytes verified%n", blobDir,
                    s.chunksVerified(), s.bytesVerified());
        }
        out.flush();
        if (outputJson != null) {
            JsonOutput.writeCheck(outputJson, bootstrap, named, s);
        }
        return 0;
    }
}
