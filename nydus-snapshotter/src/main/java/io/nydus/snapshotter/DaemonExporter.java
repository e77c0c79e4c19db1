package io.nydus.snapshotter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Renders what upstream nydus-snapshotter (v0.15.15) exports from each running nydusd, under its
 * names, types and labels. Per image reference ({@code image_ref}) these are the bytes read,
 * the read hits and errors, the read size and read latency histograms and the blob cache
 * figures. Per daemon ({@code daemon_id}) they are the resident memory and the served images,
 * and over all daemons the FUSE requests in flight for longer than 10 s. Every figure is
 * requested from the daemons' APIs at each scrape, where upstream requests them once a minute.
 */
final class DaemonExporter {
    private static final Logger LOG = LoggerFactory.getLogger(DaemonExporter.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(2);
    /** Upstream's default {@code hung_io_interval}, which this snapshotter does not read. */
    static final long HUNG_IO_SECONDS = 10;
    private static final int READ = 4;
    /**
     * The {@code le} labels that upstream gives nydusd's eight {@code block_count_read}
     * buckets. They are upstream's labels, not the buckets' bounds, which are 1 KiB to 1 MiB.
     */
    static final long[] BLOCK_LABELS = {1, 4, 16, 64, 128, 512, 1024, 2048};
    /**
     * The {@code le} labels that upstream gives nydusd's eight {@code read_latency_dist}
     * buckets, whose bounds are 200 µs, 1 ms, 20 ms, 50 ms, 500 ms, 1 s, 2 s and above.
     */
    static final long[] LATENCY_LABELS = {1, 20, 50, 100, 500, 1000, 2000, 4000};
    /** Upstream's cache gauges and the blob cache metrics key that each one reports. */
    private static final Map<String, String> CACHE_GAUGES = cacheGauges();

    /**
     * A running daemon and the images it serves.
     *
     * @param id the daemon's id, upstream's {@code daemon_id}
     * @param pid the process id, or 0 when it is not known
     * @param client the daemon's API
     * @param imageRefs the image reference of each mount, by the mount's id in the API
     */
    record ServedDaemon(String id, long pid, NydusdClient client, Map<String, String> imageRefs) {
        ServedDaemon {
            imageRefs = Map.copyOf(imageRefs);
        }
    }

    /** The figures of one image reference, summed over the mounts that serve it. */
    private static final class ImageFigures {
        long dataRead;
        long readHits;
        long readErrors;
        final long[] blocks = new long[BLOCK_LABELS.length];
        final long[] latencies = new long[LATENCY_LABELS.length];
        final Map<String, Long> cache = new LinkedHashMap<>();
    }

    private final PrometheusText text = new PrometheusText();
    private final Map<String, ImageFigures> images = new TreeMap<>();
    private final long nowEpochSecond;
    private long hungRequests;

    private DaemonExporter(long nowEpochSecond) {
        this.nowEpochSecond = nowEpochSecond;
    }

    /** Requests the figures of {@code daemons} and returns them in Prometheus' text format. */
    static String render(List<ServedDaemon> daemons, long nowEpochSecond) {
        DaemonExporter exporter = new DaemonExporter(nowEpochSecond);
        for (ServedDaemon daemon : daemons) {
            exporter.collect(daemon);
        }
        return exporter.text();
    }

    private void collect(ServedDaemon daemon) {
        String daemonLabel = "daemon_id=\"" + PrometheusText.escape(daemon.id()) + "\"";
        text.gauge("nydusd_rss_kilobytes", "Resident memory of the nydusd process in KiB.",
                daemonLabel, NydusdManager.residentKib(daemon.pid()));
        for (Map.Entry<String, String> image : new TreeMap<>(daemon.imageRefs()).entrySet()) {
            text.gauge("nydusd_image_info", "1 for each image reference that a nydusd serves.",
                    daemonLabel + ",image_ref=\"" + PrometheusText.escape(image.getValue())
                            + "\"", 1);
            collectImage(daemon, image.getKey(), image.getValue());
        }
        hungRequests += hungRequests(daemon);
    }

    private void collectImage(ServedDaemon daemon, String mountId, String imageRef) {
        ImageFigures figures = images.computeIfAbsent(imageRef, key -> new ImageFigures());
        JsonNode fs = request(daemon, "/api/v1/metrics?id=" + mountId);
        if (fs != null) {
            figures.dataRead += fs.path("data_read").asLong();
            figures.readHits += fs.path("fop_hits").path(READ).asLong();
            figures.readErrors += fs.path("fop_errors").path(READ).asLong();
            add(figures.blocks, fs.path("block_count_read"));
            add(figures.latencies, fs.path("read_latency_dist"));
        }
        JsonNode cache = request(daemon, "/api/v1/metrics/blobcache?id=" + mountId);
        if (cache != null) {
            addCache(figures.cache, cache);
        }
    }

    private static void add(long[] sums, JsonNode counters) {
        for (int i = 0; i < sums.length; i++) {
            sums[i] += counters.path(i).asLong();
        }
    }

    private static void addCache(Map<String, Long> sums, JsonNode cache) {
        for (Map.Entry<String, String> gauge : CACHE_GAUGES.entrySet()) {
            sums.merge(gauge.getKey(), cacheValue(cache, gauge.getValue()), Long::sum);
        }
    }

    /**
     * Returns the cache figure {@code key}. The chunks ready and the prefetch duration are
     * derived, and a key that this nydusd does not report is 0.
     */
    private static long cacheValue(JsonNode cache, String key) {
        return switch (key) {
            case "entries_count" -> readyChunks(cache);
            case "prefetch_duration_millis" -> Math.max(0, millis(cache, "prefetch_end_time")
                    - millis(cache, "prefetch_begin_time"));
            default -> cache.path(key).asLong();
        };
    }

    private static long readyChunks(JsonNode cache) {
        long ready = cache.path("entries_count").asLong();
        for (JsonNode blob : cache.path("blobs")) {
            ready += blob.path("chunks_ready").asLong();
        }
        return ready;
    }

    private static long millis(JsonNode cache, String prefix) {
        return cache.path(prefix + "_secs").asLong() * 1000
                + cache.path(prefix + "_millis").asLong();
    }

    /** Returns the requests that the daemon has handled for at least 10 s. */
    private long hungRequests(ServedDaemon daemon) {
        JsonNode inflight = request(daemon, "/api/v1/metrics/inflight");
        if (inflight == null) {
            return 0;
        }
        long hung = 0;
        for (JsonNode request : inflight) {
            if (nowEpochSecond - request.path("timestamp_secs").asLong() >= HUNG_IO_SECONDS) {
                hung++;
            }
        }
        return hung;
    }

    /** Returns the daemon's JSON response, or null for none (204) or a failed request. */
    private static JsonNode request(ServedDaemon daemon, String target) {
        try {
            NydusdClient.Response response = daemon.client().send("GET", target, null,
                    REQUEST_TIMEOUT);
            if (response.status() == 204) {
                return null;
            }
            if (!response.ok()) {
                LOG.warn("nydusd {} returned status {} to GET {}: {}", daemon.id(),
                        response.status(), target, response.errorMessage());
                return null;
            }
            return JSON.readTree(response.body());
        } catch (IOException e) {
            LOG.warn("nydusd {} sent no metrics for GET {}: {}", daemon.id(), target,
                    e.getMessage());
            return null;
        }
    }

    private String text() {
        images.forEach(this::image);
        text.gauge("nydusd_hung_io_counts",
                "FUSE requests that nydusd has been handling for 10 s or longer.", "",
                hungRequests);
        return text.render();
    }

    private void image(String imageRef, ImageFigures figures) {
        String label = "image_ref=\"" + PrometheusText.escape(imageRef) + "\"";
        text.gauge("nydusd_total_read_bytes", "Bytes that reads of the image returned.", label,
                figures.dataRead);
        text.gauge("nydusd_read_hits", "Reads of the image that succeeded.", label,
                figures.readHits);
        text.gauge("nydusd_read_errors", "Reads of the image that failed.", label,
                figures.readErrors);
        text.histogram("nydusd_cumulative_read_block_bytes",
                "Reads of the image by size, with upstream's bucket labels.", label,
                BLOCK_LABELS, figures.blocks);
        text.histogram("nydusd_read_latency_microseconds",
                "Reads of the image by latency, with upstream's bucket labels.", label,
                LATENCY_LABELS, figures.latencies);
        figures.cache.forEach((name, value) -> text.gauge(name, "The blob cache's "
                + CACHE_GAUGES.get(name) + " figure for the image.", label, value));
    }

    private static Map<String, String> cacheGauges() {
        String[][] table = {
            {"nydusd_cache_partial_hits", "partial_hits"},
            {"nydusd_cache_whole_hits", "whole_hits"},
            {"nydusd_cache_total_requests", "total"},
            {"nydusd_cache_entries_count", "entries_count"},
            {"nydusd_cache_prefetch_data_bytes", "prefetch_data_amount"},
            {"nydusd_cache_prefetch_requests_count", "prefetch_requests_count"},
            {"nydusd_cache_prefetch_workers", "prefetch_workers"},
            {"nydusd_cache_prefetch_unmerged_chunks", "prefetch_unmerged_chunks"},
            {"nydusd_cache_prefetch_cumulative_time_millis", "prefetch_cumulative_time_millis"},
            {"nydusd_cache_prefetch_duration_millis", "prefetch_duration_millis"},
            {"nydusd_cache_buffered_backend_size", "buffered_backend_size"},
        };
        Map<String, String> gauges = new LinkedHashMap<>();
        for (String[] row : table) {
            gauges.put(row[0], row[1]);
        }
        return gauges;
    }

    /** Metric families in Prometheus' text format, each family's samples under one header. */
    static final class PrometheusText {
        private record Family(String help, String type, List<String> samples) {
        }

        private final Map<String, Family> families = new LinkedHashMap<>();

        static String escape(String value) {
            return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
        }

        void gauge(String name, String help, String labels, long value) {
            family(name, help, "gauge").add(series(name, labels) + " " + value);
        }

        /**
         * Adds a histogram as upstream builds it from per-bucket {@code counts}: bucket i is
         * cumulative up to {@code le = bounds[i]}, and the sum weighs each count by its bound.
         */
        void histogram(String name, String help, String labels, long[] bounds, long[] counts) {
            List<String> samples = family(name, help, "histogram");
            String prefix = labels.isEmpty() ? "" : labels + ",";
            long cumulative = 0;
            long sum = 0;
            for (int i = 0; i < bounds.length; i++) {
                cumulative += counts[i];
                sum += bounds[i] * counts[i];
                samples.add(name + "_bucket{" + prefix + "le=\"" + bounds[i] + "\"} "
                        + cumulative);
            }
            samples.add(name + "_bucket{" + prefix + "le=\"+Inf\"} " + cumulative);
            samples.add(series(name + "_sum", labels) + " " + sum);
            samples.add(series(name + "_count", labels) + " " + cumulative);
        }

        private List<String> family(String name, String help, String type) {
            return families.computeIfAbsent(name,
                    key -> new Family(help, type, new ArrayList<>())).samples();
        }

        private static String series(String name, String labels) {
            return labels.isEmpty() ? name : name + "{" + labels + "}";
        }

        String render() {
            StringBuilder out = new StringBuilder();
            families.forEach((name, family) -> {
                out.append("# HELP ").append(name).append(' ').append(family.help()).append('\n');
                out.append("# TYPE ").append(name).append(' ').append(family.type())
                        .append('\n');
                family.samples().forEach(sample -> out.append(sample).append('\n'));
            });
            return out.toString();
        }
    }
}
