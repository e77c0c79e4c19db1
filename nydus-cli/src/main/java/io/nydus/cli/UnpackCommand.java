package io.nydus.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.builder.Unpacker;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.storage.BlobBackend;
import io.nydus.storage.BlobDownloads;
import io.nydus.storage.backend.BackendMetrics;
import io.nydus.storage.backend.Backends;
import io.nydus.storage.config.BackendConfig;
import io.nydus.storage.config.StorageConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
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
    private static final Logger LOG = LoggerFactory.getLogger(UnpackCommand.class);
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
        Path bootstrap = bootstrapInput.path();
        if (blobDir != null && blobFile != null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--blob-dir and --blob exclude each other; give one");
        }
        BackendConfig backend = Cli.readOptions(spec, this::backend);
        Unpacker.Result result = backend == null
                ? Unpacker.unpack(bootstrap, blobDir, blobFile, output)
                : unpackFromBackend(bootstrap, backend);
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
        return backendConfig != null ? parseBackend(backendConfig, "--backend-config")
                : parseBackend(Files.readString(backendConfigFile),
                        "--backend-config-file " + backendConfigFile);
    }

    /** Parses {@code text}, the backend's config object, through nydusd's configuration. */
    private BackendConfig parseBackend(String text, String source) {
        ObjectMapper json = new ObjectMapper();
        JsonNode config;
        try {
            config = json.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + " is not valid JSON (line "
                    + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr()
                    + ")");
        }
        if (!config.isObject()) {
            throw new IllegalArgumentException(source + " must be a JSON object, such as"
                    + " {\"host\": \"127.0.0.1:5000\", \"repo\": \"app\"}");
        }
        ObjectNode root = json.createObjectNode();
        ObjectNode node = root.putObject("device").putObject("backend");
        node.put("type", backendType);
        node.set("config", config);
        try {
            return StorageConfig.parse(root.toString(), System.getenv()).backend();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    /** Copies the image's blobs from {@code backend} beside the output, then unpacks. */
    private Unpacker.Result unpackFromBackend(Path bootstrap, BackendConfig backend)
            throws IOException {
        Path parent = output.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path blobs = Files.createTempDirectory(parent, ".nydus-unpack-blobs-");
        try (BlobBackend source = Backends.open(backend, new BackendMetrics())) {
            for (BlobInfo blob : BootstrapReader.decode(bootstrap).bootstrap().blobs()) {
                long size = BlobDownloads.download(source, blob.blobId(),
                        blobs.resolve(blob.blobId()));
                LOG.info("copied blob {} ({} bytes) from {}", blob.blobId(), size,
                        source.describe());
            }
            return Unpacker.unpack(bootstrap, blobs, null, output);
        } finally {
            deleteTree(blobs);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
