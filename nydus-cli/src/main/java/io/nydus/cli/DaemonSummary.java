package io.nydus.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.nydus.daemon.FileOperation;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Readable summaries of nydusd's API responses for {@code nydusctl}. A field that a daemon does
 * not report is left out, so that the summaries work with this nydusd and with upstream's,
 * whose responses differ in some fields.
 */
final class DaemonSummary {
    private static final String LABEL_FORMAT = "%-24s";
    private static final String COLUMN_FORMAT = "%-9s";
    /** Upper bounds of nydusd's read latency buckets in microseconds, upstream's too. */
    private static final long[] READ_LATENCY_BOUNDS_MICROS = {200, 1_000, 20_000, 50_000,
        500_000, 1_000_000, 2_000_000};
    /**
     * Labels of the size buckets of nydusd's reads ({@code block_count_read}) and of the
     * backend's requests: each bucket starts at its bound and ends below the next one.
     */
    private static final List<String> READ_SIZES = List.of("<1K", "1K~", "4K~", "16K~",
            "64K~", "128K~", "512K~", "1M~");
    /** Labels of the backend latency buckets ({@code read_latency_dist}), in milliseconds. */
    private static final List<String> BACKEND_LATENCIES = List.of("<=1", "<=20", "<=50",
            "<=100", "<=500", "<=1000", "<=2000", ">2000");

    private DaemonSummary() {
    }

    /** Summarizes {@code GET /api/v1/daemon}: state, version and the mounted images. */
    static String info(JsonNode info) {
        StringBuilder out = new StringBuilder();
        JsonNode version = info.path("version");
        line(out, "State", text(info.path("state")));
        line(out, "Version", text(version.path("package_ver"))
                + optional(" (", version.path("profile"), ")"));
        lineIfPresent(out, "Git commit", version.path("git_commit"));
        lineIfPresent(out, "Daemon id", info.path("id"));
        lineIfPresent(out, "Mountpoint", info.path("mountpoint"));
        lineIfPresent(out, "Supervisor", info.path("supervisor"));
        JsonNode mounts = info.path("backend_collection");
        line(out, "Mounted images", String.valueOf(mounts.size()));
        for (Map.Entry<String, JsonNode> mount : mounts.properties()) {
            out.append("  ").append(mount.getKey()).append('\n');
            mountLines(out, mount.getValue());
        }
        return out.toString();
    }

    private static void mountLines(StringBuilder out, JsonNode mount) {
        lineIfPresent(out, "    Type", mount.path("backend_type"));
        lineIfPresent(out, "    Mounted at", mount.path("mounted_time"));
        lineIfPresent(out, "    Bootstrap", mount.path("bootstrap"));
        lineIfPresent(out, "    Backend", mount.path("backend"));
        // Upstream's nydusd reports the mount's configuration instead of the last two.
        JsonNode config = mount.path("config");
        lineIfPresent(out, "    Mode", config.path("rafs").path("mode"));
        JsonNode prefetch = config.path("cache").path("prefetch");
        lineIfPresent(out, "    Prefetch", prefetch.path("enable"));
        lineIfPresent(out, "    Prefetch batch size", prefetch.path("batch_size"));
    }

    /** Summarizes {@code GET /api/v1/metrics/backend}: requests, bytes and latencies. */
    static String backend(JsonNode metrics) {
        StringBuilder out = new StringBuilder();
        long count = metrics.path("read_count").asLong();
        long bytes = metrics.path("read_amount_total").asLong();
        lineIfPresent(out, "Backend type", metrics.path("backend_type"));
        line(out, "Requests", count + ", " + metrics.path("read_errors").asLong() + " failed"
                + optional(", ", metrics.path("read_retries"), " retried"));
        line(out, "Data read", bytesText(bytes));
        line(out, "Average request size", divide(bytes, count) + " bytes");
        line(out, "Average latency", divide(metrics.path(
                "read_cumulative_latency_millis_total").asLong(), count) + " ms");
        JsonNode sizes = metrics.path("read_count_block_size_dist");
        if (sizes.isArray()) {
            out.append('\n');
            row(out, "Request size", READ_SIZES);
            row(out, "Requests", numbers(sizes));
            row(out, "Average latency (ms)", averages(
                    metrics.path("read_cumulative_latency_millis_dist"), sizes));
        }
        JsonNode latencies = metrics.path("read_latency_dist");
        if (latencies.isArray()) {
            out.append('\n');
            row(out, "Latency (ms)", BACKEND_LATENCIES);
            row(out, "Requests", numbers(latencies));
        }
        return out.toString();
    }

    /**
     * Summarizes the backend requests between two samples of {@code /api/v1/metrics/backend}
     * taken {@code seconds} apart. A counter that went down, as after a remount, counts as 0.
     */
    static String backendRates(JsonNode before, JsonNode after, long seconds) {
        long count = delta(before, after, "read_count");
        long bytes = delta(before, after, "read_amount_total");
        long latency = delta(before, after, "read_cumulative_latency_millis_total");
        StringBuilder out = new StringBuilder();
        out.append("In the last ").append(seconds).append(" s:\n");
        line(out, "  Bandwidth", String.format(Locale.ROOT, "%.1f KiB/s",
                bytes / 1024.0 / seconds));
        line(out, "  Requests", count + ", " + delta(before, after, "read_errors") + " failed");
        line(out, "  Average request size", divide(bytes, count) + " bytes");
        line(out, "  Average latency", divide(latency, count) + " ms");
        return out.toString();
    }

    /** Summarizes {@code GET /api/v1/metrics/blobcache}: hits, cache files and prefetch. */
    static String cache(JsonNode metrics) {
        StringBuilder out = new StringBuilder();
        String store = metrics.path("store_path").asText("");
        line(out, "Cache directory", store.isEmpty() ? "none, chunks are cached in memory"
                : store);
        if (metrics.path("underlying_files").isArray()) {
            line(out, "Cache files", String.valueOf(metrics.path("underlying_files").size()));
        }
        long total = metrics.path("total").asLong();
        long whole = metrics.path("whole_hits").asLong();
        long partial = metrics.path("partial_hits").asLong();
        line(out, "Chunk reads", String.valueOf(total));
        line(out, "  From the cache", String.valueOf(whole));
        line(out, "  Waited for a fetch", String.valueOf(partial));
        lineIfPresent(out, "  Fetched", metrics.path("misses"));
        line(out, "Hit rate", total == 0 ? "-" : String.format(Locale.ROOT, "%.1f %%",
                100.0 * (whole + partial) / total));
        chunksReady(out, metrics.path("blobs"));
        out.append('\n');
        prefetch(out, metrics);
        return out.toString();
    }

    private static void chunksReady(StringBuilder out, JsonNode blobs) {
        if (!blobs.isArray()) {
            return;
        }
        long ready = 0;
        long chunks = 0;
        for (JsonNode blob : blobs) {
            ready += blob.path("chunks_ready").asLong();
            chunks += blob.path("chunks_total").asLong();
        }
        line(out, "Chunks cached", ready + " of " + chunks + " in " + blobs.size() + " blob(s)");
    }

    private static void prefetch(StringBuilder out, JsonNode metrics) {
        long bytes = metrics.path("prefetch_data_amount").asLong();
        long requests = metrics.path("prefetch_requests_count").asLong();
        lineIfPresent(out, "Prefetch workers", metrics.path("prefetch_workers"));
        line(out, "Prefetch data", bytesText(bytes));
        line(out, "Prefetch requests", requests + ", average size " + divide(bytes, requests)
                + " bytes");
        lineIfPresent(out, "Prefetch chunks", metrics.path("prefetch_unmerged_chunks"));
        lineIfPresent(out, "Prefetch errors", metrics.path("prefetch_errors"));
        long begin = millis(metrics, "prefetch_begin_time");
        long end = millis(metrics, "prefetch_end_time");
        if (begin == 0) {
            line(out, "Prefetch duration", "not started");
            return;
        }
        boolean running = end < begin || !metrics.path("prefetch_finished").asBoolean(true);
        long duration = (running ? System.currentTimeMillis() : end) - begin;
        line(out, "Prefetch duration", String.format(Locale.ROOT, "%.3f s%s", duration / 1000.0,
                running ? ", running" : ""));
        if (duration > 0) {
            line(out, "Prefetch bandwidth", String.format(Locale.ROOT, "%.1f MiB/s",
                    bytes / 1048576.0 / (duration / 1000.0)));
        }
    }

    /** Returns a time of upstream's form, seconds plus milliseconds, in epoch milliseconds. */
    private static long millis(JsonNode metrics, String prefix) {
        return metrics.path(prefix + "_secs").asLong() * 1000
                + metrics.path(prefix + "_millis").asLong();
    }

    /**
     * Summarizes {@code GET /api/v1/metrics}: reads of the file system, their latency and size,
     * and the calls of each FUSE operation. The arrays per operation are in upstream's order,
     * which {@link FileOperation} follows.
     */
    static String fsStats(JsonNode metrics) {
        StringBuilder out = new StringBuilder();
        int read = FileOperation.READ.ordinal();
        long reads = metrics.path("fop_hits").path(read).asLong();
        long errors = metrics.path("fop_errors").path(read).asLong();
        long bytes = metrics.path("data_read").asLong();
        long latency = metrics.path("fop_cumulative_latency_total").path(read).asLong();
        line(out, "Reads", reads + ", " + errors + " failed");
        line(out, "Data read", bytesText(bytes));
        line(out, "Average read size", divide(bytes, reads) + " bytes");
        line(out, "Average read latency", divide(latency, reads) + " us");
        lineIfPresent(out, "Files open", metrics.path("nr_opens"));
        out.append('\n');
        row(out, "Read latency", bucketLabels(READ_LATENCY_BOUNDS_MICROS));
        row(out, "Reads", numbers(metrics.path("read_latency_dist")));
        out.append('\n');
        row(out, "Read size", READ_SIZES);
        row(out, "Reads", numbers(metrics.path("block_count_read")));
        out.append('\n');
        operations(out, metrics);
        return out.toString();
    }

    /** Adds a row per FUSE operation: its successful and failed calls and average latency. */
    private static void operations(StringBuilder out, JsonNode metrics) {
        JsonNode hits = metrics.path("fop_hits");
        JsonNode errors = metrics.path("fop_errors");
        JsonNode latencies = metrics.path("fop_cumulative_latency_total");
        row(out, "Operation", List.of("Succeeded", "Failed", "Average latency (us)"));
        for (FileOperation operation : FileOperation.values()) {
            int index = operation.ordinal();
            long calls = hits.path(index).asLong();
            row(out, operation.label(), List.of(String.valueOf(calls),
                    String.valueOf(errors.path(index).asLong()),
                    String.valueOf(divide(latencies.path(index).asLong(), calls))));
        }
    }

    /** Returns "<=B" for each bound B and ">LAST" for the open bucket after them. */
    private static List<String> bucketLabels(long[] bounds) {
        List<String> labels = new ArrayList<>();
        for (long bound : bounds) {
            labels.add("<=" + micros(bound));
        }
        labels.add(">" + micros(bounds[bounds.length - 1]));
        return labels;
    }

    private static String micros(long value) {
        if (value >= 1_000_000 && value % 1_000_000 == 0) {
            return value / 1_000_000 + "s";
        }
        return value >= 1000 && value % 1000 == 0 ? value / 1000 + "ms" : value + "us";
    }

    private static List<String> numbers(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(value -> values.add(value.asText()));
        return values;
    }

    private static List<String> averages(JsonNode sums, JsonNode counts) {
        List<String> values = new ArrayList<>();
        for (int i = 0; i < counts.size(); i++) {
            values.add(String.valueOf(divide(sums.path(i).asLong(), counts.get(i).asLong())));
        }
        return values;
    }

    private static long delta(JsonNode before, JsonNode after, String field) {
        return Math.max(0, after.path(field).asLong() - before.path(field).asLong());
    }

    private static long divide(long dividend, long divisor) {
        return divisor == 0 ? 0 : dividend / divisor;
    }

    private static String bytesText(long bytes) {
        return String.format(Locale.ROOT, "%d bytes (%.1f MiB)", bytes, bytes / 1048576.0);
    }

    private static void line(StringBuilder out, String label, String value) {
        out.append(String.format(LABEL_FORMAT, label + ":")).append(' ').append(value)
                .append('\n');
    }

    /** Adds a line for a field that has a value, and none for a missing, null or empty one. */
    private static void lineIfPresent(StringBuilder out, String label, JsonNode value) {
        if (!value.isMissingNode() && !value.isNull() && !value.asText().isEmpty()) {
            line(out, label, value.asText());
        }
    }

    private static String optional(String before, JsonNode value, String after) {
        boolean empty = value.isMissingNode() || value.isNull() || value.asText().isEmpty();
        return empty ? "" : before + value.asText() + after;
    }

    private static String text(JsonNode value) {
        return value.isMissingNode() || value.isNull() ? "-" : value.asText();
    }

    private static void row(StringBuilder out, String label, List<String> cells) {
        StringBuilder row = new StringBuilder(String.format(LABEL_FORMAT, label));
        for (String cell : cells) {
            row.append(' ').append(String.format(COLUMN_FORMAT, cell));
        }
        out.append(row.toString().stripTrailing()).append('\n');
    }
}
