package io.nydus.cli;

import io.nydus.builder.BlockExporter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * `nydus-image export`. With `--block` it writes one flat EROFS disk image that the kernel
 * mounts as is. With `--raw-blob` it writes one blob's uncompressed device file, which serves
 * as an extra device of the bootstrap.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Export an image as one EROFS disk image with its blob data placed where"
                + " the bootstrap's device table maps it (--block); mount it with"
                + " 'mount -t erofs'.",
            "Or export one blob's uncompressed data as a device file (--raw-blob), for"
                + " 'mount -t erofs -o device=LOOP BOOTSTRAP DIR' and 'fsck.erofs"
                + " --device=FILE BOOTSTRAP'."})
final class ExportCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @ArgGroup(exclusive = true, multiplicity = "1")
    private Format format;

    static final class Format {
        @Option(names = "--block", required = true,
                description = "Export as a block device image.")
        boolean block;

        @Option(names = "--raw-blob", required = true, paramLabel = "BLOB_ID",
                description = "Export this blob's uncompressed device file.")
        String rawBlob;
    }

    @Option(names = {"--bootstrap", "-B"}, required = true, paramLabel = "FILE",
            description = "The image's bootstrap.")
    private Path bootstrap;

    @Option(names = {"--localfs-dir", "-D", "--blob-dir"}, required = true, paramLabel = "DIR",
            description = "Directory holding the image's blobs, named by blob id.")
    private Path blobDir;

    @Option(names = {"--output", "-O"}, paramLabel = "FILE",
            description = "Where to write the disk image or device file (default: the"
                    + " bootstrap's file name with \".disk\" added, in the --localfs-dir"
                    + " directory, as upstream's export names it).")
    private Path output;

    @Option(names = "--threads", paramLabel = "N",
            defaultValue = "" + BlockExporter.DEFAULT_THREADS,
            description = "Threads that read, decompress, check and write chunks, 1 to "
                    + BlockExporter.MAX_THREADS + " (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--verity",
            description = "Append dm-verity data (a SHA-256 hash tree of the image's 4 KiB"
                    + " blocks) to the block image and print the veritysetup options and root"
                    + " digest that check it; needs --block.")
    private boolean verity;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Cli.readOptions(spec, this::checkOptions);
        Path target = output != null ? output
                : blobDir.resolve(bootstrap.getFileName() + ".disk");
        if (format.rawBlob != null) {
            BlockExporter.exportBlobDevice(bootstrap, blobDir, format.rawBlob, target,
                    threads);
        } else {
            BlockExporter.export(bootstrap, blobDir, target, threads, verity).ifPresent(tree ->
                    spec.commandLine().getOut().println("dm-verity options: "
                            + tree.veritysetupOptions()));
        }
        spec.commandLine().getOut().flush();
        return 0;
    }

    private Void checkOptions() {
        if (verity && format.rawBlob != null) {
            throw new IllegalArgumentException("--verity needs --block; a --raw-blob device"
                    + " file has no dm-verity data");
        }
        if (threads < 1 || threads > BlockExporter.MAX_THREADS) {
            throw new IllegalArgumentException("--threads " + threads + " is outside 1 to "
                    + BlockExporter.MAX_THREADS);
        }
        return null;
    }
}
