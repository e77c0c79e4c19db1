package io.nydus.cli;

import io.nydus.builder.BlockExporter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** `nydus-image export --block`: one flat EROFS disk image that the kernel mounts as is. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export an image as one EROFS disk image with its blob data placed where"
                + " the bootstrap's device table maps it; mount it with 'mount -t erofs'.")
final class ExportCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Option(names = "--block", required = true,
            description = "Export as a block device image (the only export format).")
    private boolean block;

    @Option(names = {"--bootstrap", "-B"}, required = true, paramLabel = "FILE",
            description = "The image's bootstrap.")
    private Path bootstrap;

    @Option(names = {"--localfs-dir", "-D", "--blob-dir"}, required = true, paramLabel = "DIR",
            description = "Directory holding the image's blobs, named by blob id.")
    private Path blobDir;

    @Option(names = {"--output", "-O"}, required = true, paramLabel = "FILE",
            description = "Where to write the disk image.")
    private Path output;

    @Override
    public Integer call() throws Exception {
        BlockExporter.export(bootstrap, blobDir, output);
        return 0;
    }
}
