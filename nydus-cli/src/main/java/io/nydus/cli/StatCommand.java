package io.nydus.cli;

import io.nydus.builder.AtomicFiles;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.storage.config.BackendConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * `nydus-image stat`: counts the entries, file sizes and chunks of images, and how many chunks
 * deduplication across the images would store, to size a chunk dictionary before building one.
 */
@Command(name = "stat", mixinStandardHelpOptions = true,
        description = {"Print statistics of RAFS images: directories, files, symlinks, file"
                + " sizes, padding, chunks with their compressed and uncompressed sizes,"
                + " histograms of file sizes and of chunk counts by chunk size, and how many"
                + " chunks deduplication across images would store. Sizes are in bytes.",
            "-B counts one image. -D counts every image of a directory together and adds the"
                + " deduplication figures and a table of them by threshold: the number of"
                + " images that must share a chunk for it to go into the dictionary. -T also"
                + " counts a target image, whose chunks are referenced when the -B or -D"
                + " images have them and owned otherwise. An image is a bootstrap or a data"
                + " blob with an inlined bootstrap."})
final class StatCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Spec
    private CommandSpec spec;

    @Option(names = {"--bootstrap", "-B"}, paramLabel = "FILE",
            description = "Count this one image. Give this or -D.")
    private Path bootstrap;

    @Option(names = {"--blob-dir", "-D"}, paramLabel = "DIR",
            description = "Count every image in this directory, as upstream finds them: each"
                    + " regular file whose name has no extension and that contains an image."
                    + " Names with an extension (such as image.boot) and other files are"
                    + " skipped. Give this or -B.")
    private Path blobDir;

    @Option(names = {"--target", "-T"}, paramLabel = "FILE",
            description = "Also count this image against the chunks of the -B or -D images."
                    + " A -D scan leaves it out.")
    private Path target;

    @Option(names = {"--config", "-C"}, paramLabel = "FILE",
            description = "A nydusd configuration (version 2 JSON or TOML, or version 1 JSON)"
                    + " whose registry or localfs backend stores data blobs with inlined"
                    + " bootstraps. A given file that is not a bootstrap then names such a"
                    + " blob by its file name up to the first dot, and the blob is read from"
                    + " the backend. Without it, such a file is read as a data blob itself.")
    private Path config;

    @Option(names = "--digester", defaultValue = "blake3", paramLabel = "ALGO",
            description = "Chunk digest algorithm of the deduplication dictionary: blake3 or"
                    + " sha256 (default: ${DEFAULT-VALUE}). The chunks of -B or -D images with"
                    + " the other algorithm are left out of it.")
    private String digester;

    @Option(names = {"--output-json", "-J"}, paramLabel = "FILE",
            description = "Write the statistics as JSON to this file, with upstream's field"
                    + " names, instead of printing them. The deduplication table is not"
                    + " written.")
    private Path outputJson;

    @Override
    public Integer call() throws IOException {
        DigestAlgorithm algorithm = Cli.readOptions(spec, this::checkOptions);
        if (outputJson != null) {
            AtomicFiles.requireReplaceable(outputJson);
            AtomicFiles.requireNotInput(outputJson, inputFiles());
        }
        BackendConfig backend = config == null ? null
                : Cli.readOptions(spec, () -> BackendConfigFile.read(config));
        StatInputs inputs = new StatInputs(backend);
        ImageStat stat = new ImageStat(algorithm);
        // The target is read first, so that a bad target fails before a long directory scan.
        StatInputs.Image targetImage = target == null ? null : inputs.read(target);
        if (bootstrap != null) {
            stat.addBase(inputs.read(bootstrap));
        } else {
            stat.enableDedup();
            inputs.readDirectory(blobDir, target, stat::addBase);
        }
        if (targetImage != null) {
            stat.setTarget(targetImage);
        }
        ImageStat.Report report = stat.finish();
        if (outputJson != null) {
            JsonOutput.write(outputJson, report.toJson());
        } else {
            report.writeText(spec.commandLine().getOut());
        }
        return 0;
    }

    /**
     * Returns the files that the command reads and that the JSON output may name. In a -D
     * directory, that is a file of the output's name when the name has no extension, because
     * the scan reads such files.
     */
    private List<Path> inputFiles() {
        List<Path> files = new ArrayList<>(Arrays.asList(bootstrap, target, config));
        String name = outputJson.getFileName().toString();
        if (blobDir != null && name.lastIndexOf('.') <= 0) {
            files.add(blobDir.resolve(name));
        }
        return files;
    }

    private DigestAlgorithm checkOptions() {
        if (bootstrap != null && blobDir != null) {
            throw new IllegalArgumentException("-B/--bootstrap and -D/--blob-dir exclude each"
                    + " other; give one");
        }
        if (bootstrap == null && blobDir == null) {
            throw new IllegalArgumentException("missing images: give -B/--bootstrap FILE or"
                    + " -D/--blob-dir DIR");
        }
        return DigestAlgorithm.fromLabel(digester);
    }
}
