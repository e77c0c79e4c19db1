package io.nydus.cli;

import io.nydus.builder.BlockExporter;
import io.nydus.storage.config.BackendConfig;
import java.io.IOException;
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

    @Option(names = {"--bootstrap", "-B"}, paramLabel = "FILE",
            description = "The image's bootstrap; needed unless the -C/--config entry names"
                    + " it in metadata_path.")
    private Path bootstrap;

    @Option(names = {"--localfs-dir", "-D", "--blob-dir"}, paramLabel = "DIR",
            description = "Directory holding the image's blobs, named by blob id. Give this"
                    + " or -C/--config.")
    private Path blobDir;

    @Option(names = {"--config", "-C"}, paramLabel = "FILE",
            description = "A blob cache entry (JSON) naming the storage backend of the blobs,"
                    + " as upstream's export takes it: {\"type\": \"bootstrap\", \"id\":"
                    + " ID, \"config_v2\": {\"version\": 2, \"backend\": {\"type\":"
                    + " \"registry\", \"registry\": {...}}, \"metadata_path\": BOOTSTRAP}}."
                    + " Blobs of a registry backend are copied to a temporary directory beside"
                    + " the output first. Give this or --localfs-dir.")
    private Path config;

    @Option(names = {"--output", "-O"}, paramLabel = "FILE",
            description = "Where to write the disk image or device file (default: the"
                    + " bootstrap's file name with \".disk\" added, in the --localfs-dir"
                    + " directory, as upstream's export names it; needed with a registry"
                    + " backend).")
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
        BlobCacheEntry entry = config == null ? null
                : Cli.readOptions(spec, () -> BlobCacheEntry.read(config));
        Path named = Cli.readOptions(spec, () -> bootstrapOf(entry));
        Path image = InlinedBootstrap.resolve(named);
        Path localBlobs = entry == null ? blobDir : Cli.readOptions(spec, () -> localfsDir(entry));
        if (localBlobs != null) {
            export(image, localBlobs, Cli.readOptions(spec, () -> target(named, localBlobs)));
            return 0;
        }
        BackendConfig backend = Cli.readOptions(spec, () -> BackendBlobs.backend(
                entry.backendType(), entry.backendConfig(), "blob cache entry " + config,
                entry.backendField()));
        Path target = Cli.readOptions(spec, () -> target(named, null));
        // A device file needs its own blob alone.
        String only = format.rawBlob;
        try (BackendBlobs.Copies blobs = BackendBlobs.download(backend, image,
                id -> only == null || id.equals(only), target, "export")) {
            export(image, blobs.dir(), target);
        }
        return 0;
    }

    private void export(Path image, Path blobs, Path target) throws IOException {
        if (format.rawBlob != null) {
            BlockExporter.exportBlobDevice(image, blobs, format.rawBlob, target, threads);
        } else {
            BlockExporter.export(image, blobs, target, threads, verity).ifPresent(tree ->
                    spec.commandLine().getOut().println("dm-verity options: "
                            + tree.veritysetupOptions()));
        }
        spec.commandLine().getOut().flush();
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
        if (config != null && blobDir != null) {
            throw new IllegalArgumentException("-C/--config and --localfs-dir exclude each"
                    + " other; give one");
        }
        if (config == null && blobDir == null) {
            throw new IllegalArgumentException("both -C/--config and --localfs-dir are"
                    + " missing; give one");
        }
        return null;
    }

    /** Returns the bootstrap from --bootstrap or the entry's metadata_path. */
    private Path bootstrapOf(BlobCacheEntry entry) {
        Path named = entry == null ? null : entry.metadataPath();
        if (bootstrap != null && named != null
                && !bootstrap.toAbsolutePath().normalize().equals(
                        named.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--bootstrap " + bootstrap + " differs from"
                    + " metadata_path " + named + " of blob cache entry " + config
                    + "; give one of them");
        }
        if (bootstrap == null && named == null) {
            throw new IllegalArgumentException("missing bootstrap: give --bootstrap"
                    + (config == null ? "" : " or metadata_path in " + config));
        }
        return bootstrap != null ? bootstrap : named;
    }

    /** Returns the blob directory of a localfs entry, or null for a remote backend. */
    private Path localfsDir(BlobCacheEntry entry) {
        if (!entry.backendType().equals("localfs")) {
            return null;
        }
        String dir = entry.backendConfig().path("dir").asText("");
        if (dir.isEmpty()) {
            throw new IllegalArgumentException("blob cache entry " + config + ": the localfs"
                    + " backend has no dir");
        }
        return Path.of(dir);
    }

    private Path target(Path image, Path localBlobs) {
        if (output != null) {
            return output;
        }
        if (localBlobs == null) {
            throw new IllegalArgumentException("missing --output: blob cache entry " + config
                    + " names no local blob directory to write the image into");
        }
        return localBlobs.resolve(image.getFileName() + ".disk");
    }
}
