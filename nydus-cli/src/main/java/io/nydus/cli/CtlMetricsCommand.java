package io.nydus.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** `nydusctl metrics`: the figures of the backend, the blob cache or the file system. */
@Command(name = "metrics", mixinStandardHelpOptions = true,
        description = "Print the metrics of one category: backend (requests to the registry or"
                + " directory, GET /api/v1/metrics/backend), cache (blob cache hits and"
                + " prefetch, GET /api/v1/metrics/blobcache) or fsstats (reads of the file"
                + " system, GET /api/v1/metrics).")
final class CtlMetricsCommand implements Callable<Integer> {
    private static final Map<String, String> PATHS = Map.of(
            "backend", "/api/v1/metrics/backend",
            "cache", "/api/v1/metrics/blobcache",
            "fsstats", "/api/v1/metrics");

    @ParentCommand
    private Nydusctl nydusctl;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "CATEGORY",
            description = "backend, cache or fsstats.")
    private String category;

    @Option(names = {"-I", "--interval"}, paramLabel = "SECONDS",
            description = "Print the metrics again every SECONDS seconds (1 or more) until"
                    + " interrupted, as with Ctrl-C. backend then prints the totals once and the"
                    + " rates of each interval after them, and --raw prints one JSON line per"
                    + " sample. Without it, print them once.")
    private Long intervalSeconds;

    @Option(names = "--id", paramLabel = "MOUNTPOINT",
            description = "The image whose metrics to print, such as /app; needed when the"
                    + " daemon serves more than one (default: the only image).")
    private String id;

    @Override
    public Integer call() throws Exception {
        String path = checkedPath();
        JsonNode previous = first(path);
        boolean written = print(null, previous);
        while (written && intervalSeconds != null) {
            Thread.sleep(intervalSeconds * 1000);
            JsonNode current = nydusctl.get(path);
            written = print(previous, current);
            previous = current;
        }
        return written ? 0 : 1;
    }

    /**
     * Fetches the first sample. When it fails without --id, the error lists the mounted images
     * to choose from, because nydusd rejects the request where it serves more than one.
     */
    private JsonNode first(String path) throws IOException {
        try {
            return nydusctl.get(path);
        } catch (IOException e) {
            if (id != null) {
                throw e;
            }
            List<String> mounts = mounts();
            if (mounts.size() < 2) {
                throw e;
            }
            throw new IOException(e.getMessage() + "; give --id with one of " + mounts, e);
        }
    }

    /** Returns the mountpoints of the daemon's images, or none when it cannot be asked. */
    private List<String> mounts() {
        List<String> mounts = new ArrayList<>();
        try {
            nydusctl.get("/api/v1/daemon").path("backend_collection").fieldNames()
                    .forEachRemaining(mounts::add);
        } catch (IOException e) {
            // The first error is the one to report.
        }
        return mounts;
    }

    private String checkedPath() {
        String path = PATHS.get(category);
        if (path == null) {
            throw usage("category '" + category + "' is not known; give backend, cache or"
                    + " fsstats");
        }
        if (intervalSeconds != null && intervalSeconds < 1) {
            throw usage("--interval " + intervalSeconds + " is below 1 second");
        }
        return id == null ? path
                : path + "?id=" + Nydusctl.query(Nydusctl.requireUtf8(spec, "--id", id));
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    /**
     * Prints one sample, with the rates since {@code previous} where there is one, and returns
     * false when standard output can no longer be written, as when the reader of a pipe has
     * exited. Cli.run reports that failure.
     */
    private boolean print(JsonNode previous, JsonNode current) {
        PrintWriter out = nydusctl.out();
        if (nydusctl.raw()) {
            out.println(current);
        } else {
            printSummary(out, previous, current);
        }
        // Both writers record a failed write instead of throwing it.
        return !out.checkError() && !System.out.checkError();
    }

    private void printSummary(PrintWriter out, JsonNode previous, JsonNode current) {
        if (intervalSeconds != null) {
            out.println("--- " + LocalTime.now().truncatedTo(ChronoUnit.SECONDS) + " ---");
        }
        // After the first sample, backend shows what changed, as upstream's nydusctl does.
        out.print(switch (category) {
            case "backend" -> previous == null ? DaemonSummary.backend(current)
                    : DaemonSummary.backendRates(previous, current, intervalSeconds);
            case "cache" -> DaemonSummary.cache(current);
            default -> DaemonSummary.fsStats(current);
        });
        if (intervalSeconds != null) {
            out.println();
        }
    }
}
