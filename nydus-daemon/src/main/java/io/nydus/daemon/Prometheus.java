package io.nydus.daemon;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders the daemon's figures in Prometheus' text format, under {@code nydusd_} names. The
 * samples of each metric family stand together under one {@code # TYPE} line, as the format
 * requires, whatever the number of mounted images.
 */
final class Prometheus {
    private static final String LATENCY = "nydusd_read_latency_seconds";
    private static final String SIZE = "nydusd_read_size_bytes";

    /** The samples of the families in the order they first appear, each with its type. */
    private final Map<String, Family> families = new LinkedHashMap<>();

    private record Family(String type, List<String> samples) {
    }

    private Prometheus() {
    }

    static String render(Daemon daemon) {
        Prometheus metrics = new Prometheus();
        metrics.sample("nydusd_up", "gauge", "nydusd_up", "id=\"" + escape(daemon.id())
                + "\",state=\"" + daemon.state() + "\"", 1);
        for (MountedImage image : daemon.mounts().values()) {
            String labels = "mountpoint=\"" + escape(image.mountpoint()) + "\"";
            metrics.reads(labels, image.metrics());
            metrics.operations(labels, image.metrics());
            metrics.flatten("nydusd_backend_", labels, image.data().backendMetrics());
            metrics.flatten("nydusd_blobcache_", labels, image.data().cacheMetrics());
        }
        return metrics.text();
    }

    private void reads(String labels, FsMetrics metrics) {
        counter("nydusd_read_count_total", labels, metrics.hits(FileOperation.READ));
        counter("nydusd_read_bytes_total", labels, metrics.bytesRead());
        counter("nydusd_read_errors_total", labels, metrics.errors(FileOperation.READ));
        sample("nydusd_open_files", "gauge", "nydusd_open_files", labels, metrics.openFiles());
        histogram(LATENCY, labels, metrics.readLatencyBuckets(), FsMetrics.LATENCY_BOUNDS_MICROS,
                1e6, metrics.latencyMicros(FileOperation.READ) / 1e6);
        histogram(SIZE, labels, metrics.readSizeBuckets(), sizeUpperBounds(), 1,
                metrics.bytesRead());
    }

    /**
     * Adds a counter of calls, of failed calls and of the seconds that successful calls took,
     * per operation, under the label {@code op}: upstream's {@code fop_hits},
     * {@code fop_errors} and {@code fop_cumulative_latency_total}.
     */
    private void operations(String labels, FsMetrics metrics) {
        for (FileOperation operation : FileOperation.values()) {
            String operationLabels = labels + ",op=\"" + operation.label() + "\"";
            counter("nydusd_fop_hits_total", operationLabels, metrics.hits(operation));
            counter("nydusd_fop_errors_total", operationLabels, metrics.errors(operation));
            counter("nydusd_fop_latency_seconds_total", operationLabels,
                    metrics.latencyMicros(operation) / 1e6);
        }
    }

    /**
     * Adds the histogram {@code family} from per-bucket counts whose inclusive upper bounds are
     * {@code bounds} divided by {@code divisor}. The last bucket is unbounded.
     */
    private void histogram(String family, String labels, long[] buckets, long[] bounds,
            double divisor, Number sum) {
        long cumulative = 0;
        for (int i = 0; i < buckets.length; i++) {
            cumulative += buckets[i];
            String bound = i < bounds.length ? bound(bounds[i], divisor) : "+Inf";
            sample(family, "histogram", family + "_bucket", labels + ",le=\"" + bound + "\"",
                    cumulative);
        }
        sample(family, "histogram", family + "_count", labels, cumulative);
        sample(family, "histogram", family + "_sum", labels, sum);
    }

    private static String bound(long value, double divisor) {
        return divisor == 1 ? Long.toString(value) : Double.toString(value / divisor);
    }

    /**
     * Returns the inclusive upper bounds of the read size buckets. A bucket counts reads below
     * the next lower bound, so its upper bound is one byte less.
     */
    private static long[] sizeUpperBounds() {
        long[] bounds = new long[FsMetrics.SIZE_BOUNDS.length];
        for (int i = 0; i < bounds.length; i++) {
            bounds[i] = FsMetrics.SIZE_BOUNDS[i] - 1;
        }
        return bounds;
    }

    /**
     * Adds every number of {@code values} (nested maps joined with '_') as one series. Their
     * names come from the daemon's JSON figures, which mix counts and levels, so the families
     * carry no type.
     */
    private void flatten(String prefix, String labels, Map<String, Object> values) {
        for (Map.Entry<String, Object> entry : values.entrySet()) {
            String name = prefix + sanitize(entry.getKey());
            Object value = entry.getValue();
            if (value instanceof Number number) {
                sample(name, "untyped", name, labels, number);
            } else if (value instanceof Boolean flag) {
                sample(name, "untyped", name, labels, flag ? 1 : 0);
            } else if (value instanceof Map<?, ?> nested) {
                @SuppressWarnings("unchecked")
                Map<String, Object> inner = (Map<String, Object>) nested;
                flatten(name + "_", labels, inner);
            }
        }
    }

    private void counter(String name, String labels, Number value) {
        sample(name, "counter", name, labels, value);
    }

    private void sample(String family, String type, String name, String labels, Number value) {
        families.computeIfAbsent(family, key -> new Family(type, new ArrayList<>()))
                .samples().add(name + "{" + labels + "} " + value);
    }

    private String text() {
        StringBuilder out = new StringBuilder();
        families.forEach((name, family) -> {
            out.append("# TYPE ").append(name).append(' ').append(family.type()).append('\n');
            family.samples().forEach(sample -> out.append(sample).append('\n'));
        });
        return out.toString();
    }

    private static String sanitize(String key) {
        return key.replaceAll("[^A-Za-z0-9_]", "_");
    }

    private static String escape(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
