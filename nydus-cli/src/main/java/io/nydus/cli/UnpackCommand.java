package io.nydus.cli;

import io.nydus.builder.Unpacker;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** `nydus-image unpack`: writes an image's tree to a directory or a tar archive. */
@Command(name = "unpack", mixinStandardHelpOptions = true,
        description = "Write an image's files to a directory (which must be empty or missing)"
                + " or, when the output name ends with .tar, to a PAX tar archive. File data"
                + " is checked against the chunk digests.")
final class UnpackCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Spec
    private CommandSpec spec;

    @Mixin
    private BootstrapInput bootstrapInput;

    @Option(names = {"--blob-dir", "-D"}, paramLabel = "DIR",
            description = "Directory holding the image's blobs, named by blob id; needed"
                    + " unless the image has no file data.")
    private Path blobDir;

    @Option(names = {"--blob", "-b"}, paramLabel = "FILE",
            description = "The blob file of an image that has one blob, in place of"
                    + " --blob-dir.")
    private Path blobFile;

    @Option(names = {"--output", "-O"}, required = true, paramLabel = "DIR|FILE.tar",
            description = "Output directory, or a tar archive when the name ends with .tar.")
    private Path output;

    @Override
    public Integer call() throws Exception {
        Path bootstrap = bootstrapInput.path();
        if (blobDir != null && blobFile != null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--blob-dir and --blob exclude each other; give one");
        }
        Unpacker.Result result = Unpacker.unpack(bootstrap, blobDir, blobFile, output);
        spec.commandLine().getOut().printf("unpacked %d entries (%d regular files, %d bytes)"
                + " to %s%s%n", result.entries(), result.regularFiles(), result.dataBytes(),
                output, result.skipped() == 0 ? "" : ", " + result.skipped() + " skipped");
        return 0;
    }
}
