package io.nydus.cli;

import io.nydus.nydusify.PackOptions;
import io.nydus.nydusify.PackResult;
import io.nydus.nydusify.Packer;
import io.nydus.rafs.Compressor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** `nydusify pack`: builds a local directory into a Nydus bootstrap and blob. */
@Command(name = "pack", aliases = "build", mixinStandardHelpOptions = true,
        description = "Build a local directory into a Nydus image (RAFS v6): the bootstrap"
                + " OUTPUT_DIR/NAME and a blob in OUTPUT_DIR named by its blob id, as the"
                + " bootstrap lists it.")
final class PackCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Option(names = {"--target-dir", "--source-dir"}, required = true, paramLabel = "DIR",
            description = "Directory to pack.")
    private Path sourceDir;

    @Option(names = {"--output-dir", "-o"}, defaultValue = "./.nydus-build-output",
            paramLabel = "DIR",
            description = "Directory that receives the bootstrap and the blob; created if"
                    + " missing (default: ${DEFAULT-VALUE}).")
    private Path outputDir;

    @Option(names = {"--bootstrap", "--name", "--meta"}, required = true, paramLabel = "NAME",
            description = "File name of the bootstrap inside the output directory; a name"
                    + " without an extension gets \".meta\", as upstream's pack names it.")
    private String bootstrapName;

    @Option(names = "--fs-version", defaultValue = "6", paramLabel = "VERSION",
            description = "RAFS version of the image; only 6 is built (default:"
                    + " ${DEFAULT-VALUE}).")
    private String fsVersion;

    @Option(names = "--compressor", defaultValue = "zstd", paramLabel = "NAME",
            description = "Chunk compression: none, lz4_block or zstd (default:"
                    + " ${DEFAULT-VALUE}).")
    private String compressor;

    @Option(names = "--chunk-size", defaultValue = "0x100000", paramLabel = "BYTES",
            description = "Chunk size in bytes, a power of two from 0x1000 to 0x1000000"
                    + " (default: ${DEFAULT-VALUE}).")
    private String chunkSize;

    @Option(names = "--chunk-dict", paramLabel = "bootstrap:local:FILE",
            description = "Reuse the chunks of this local bootstrap instead of storing them"
                    + " again: a path, bootstrap:local:PATH or bootstrap=PATH. Its blobs are"
                    + " needed to read the image.")
    private String chunkDict;

    @Option(names = "--parent-bootstrap", paramLabel = "FILE",
            description = "Bootstrap of the image to build on top of; the directory is laid"
                    + " over it, with OCI whiteouts deleting its files.")
    private Path parentBootstrap;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PackOptions options = Cli.readOptions(spec, this::packOptions);
        PackResult result = new Packer().pack(options);
        System.out.println("bootstrap: " + result.bootstrap());
        System.out.println("blob: " + (result.blob() == null ? "none (every chunk is reused)"
                : result.blob()));
        return 0;
    }

    private PackOptions packOptions() {
        if (!fsVersion.strip().equals("6")) {
            throw new IllegalArgumentException("--fs-version " + fsVersion + " is not"
                    + " supported: pack builds RAFS v6 only");
        }
        PackOptions options = PackOptions.defaults(sourceDir, outputDir, bootstrapName)
                .withCompressor(Compressor.fromLabel(compressor))
                .withChunkSize(Numbers.parseSize("--chunk-size", chunkSize))
                .withParentBootstrap(parentBootstrap);
        if (chunkDict != null) {
            options = options.withChunkDict(PackOptions.parseChunkDict(chunkDict));
        }
        return options;
    }
}
