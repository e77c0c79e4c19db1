package io.nydus.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.nydus.builder.Unpacker;
import io.nydus.storage.config.BackendConfig;
import java.io.IOException;
import java.nio.file.Files;
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
                + " or, when the output name ends with .tar or names a FIFO or character"
                + " device, to a PAX tar archive. File data is checked against the chunk"
                + " digests.")
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
            description = "Output directory, or a tar archive when the name ends with .tar."
                    + " An existing FIFO or character device, /dev/stdout and the other"
                    + " /dev/fd names get the tar archive written into them, and no summary is"
                    + " printed.")
    private Path output;

    @Option(names = "--backend-type", paramLabel = "TYPE",
            description = "Read the blobs from this storage backend in place of --blob-dir:"
                    + " registry. They are copied whole into a directory beside the output"
                    + " and removed at the end.")
    private String backendType;

    @Option(names = "--backend-config", paramLabel = "JSON",
            description = "The backend's configuration: the config object of nydusd's"
                    + " device.backend, such as {\"scheme\": \"http\", \"host\":"
                    + " \"127.0.0.1:5000\", \"repo\": \"app\"}.")
    private String backendConfig;

    @Option(names = "--backend-config-file", paramLabel = "FILE",
            description = "A file holding the backend's configuration, in place of"
                    + " --backend-config.")
    private Path backendConfigFile;

    @Override
    public Integer call() throws Exception {
        Path bootstrap = InlinedBootstrap.resolve(bootstrapInput.path());
        if (blobDir != null && blobFile != null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--blob-dir and --blob exclude each other; give one");
        }
        BackendConfig backend = Cli.readOptions(spec, this::backend);
        // The summary would corrupt a tar stream that goes to standard output.
        boolean stream = Unpacker.isStream(output);
        Unpacker.Result result = backend == null
                ? Unpacker.unpack(bootstrap, blobDir, blobFile, output)
                : unpackFromBackend(bootstrap, backend, stream);
        if (stream) {
            return 0;
        }
        spec.commandLine().getOut().printf("unpacked %d entries (%d regular files, %d bytes)"
                + " to %s%s%n", result.entries(), result.regularFiles(), result.dataBytes(),
                output, result.skipped() == 0 ? "" : ", " + result.skipped() + " skipped");
        return 0;
    }

    /** Returns the configured backend, or null when the blobs are local files. */
    private BackendConfig backend() throws IOException {
        if (backendType == null) {
            if (backendConfig != null || backendConfigFile != null) {
                throw new IllegalArgumentException("--backend-config and --backend-config-file"
                        + " need --backend-type");
            }
            return null;
        }
        if (blobDir != null || blobFile != null) {
            throw new IllegalArgumentException("--backend-type replaces --blob-dir and --blob;"
                    + " give one of them");
        }
        if (backendType.equals("localfs")) {
            throw new IllegalArgumentException("--backend-type localfs: give the blob"
                    + " directory with --blob-dir instead");
        }
        if (!backendType.equals("registry")) {
            throw new IllegalArgumentException("--backend-type '" + backendType + "' is not"
                    + " supported, expected registry");
        }
        if (backendConfig != null && backendConfigFile != null) {
            throw new IllegalArgumentException("--backend-config and --backend-config-file"
                    + " exclude each other; give only one");
        }
        if (backendConfig == null && backendConfigFile == null) {
            throw new IllegalArgumentException("--backend-type needs one of --backend-config"
                    + " and --backend-config-file");
        }
        String source = backendConfig != null ? "--backend-config"
                : "--backend-config-file " + backendConfigFile;
        String text = backendConfig != null ? backendConfig
                : Files.readString(backendConfigFile);
        JsonNode config = BackendBlobs.parseObject(text, source,
                "{\"host\": \"127.0.0.1:5000\", \"repo\": \"app\"}");
        return BackendBlobs.backend(backendType, config, source, "device.backend.config");
    }

    /**
     * Copies the image's blobs from {@code backend} beside the output, or beside the bootstrap
     * for a stream output such as /dev/stdout, then unpacks.
     */
    private Unpacker.Result unpackFromBackend(Path bootstrap, BackendConfig backend,
            boolean stream) throws IOException {
        Path beside = stream ? bootstrap : output;
        try (BackendBlobs.Copies blobs = BackendBlobs.download(backend, bootstrap, id -> true,
                beside, "unpack")) {
            return Unpacker.unpack(bootstrap, blobs.dir(), null, output);
        }
    }
}
