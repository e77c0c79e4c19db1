package io.nydus.daemon;

import java.util.Map;

/** Renders the daemon's figures in Prometheus' text format, under {@code nydusd_} names. */
final class Prometheus {

    private Prometheus() {
    }

    static String render(Daemon daemon) {
        StringBuilder out = new StringBuilder();
        out.append("# TYPE nydusd_up gauge\nnydusd_up{id=\"").append(escape(daemon.id()))
                .append("\",state=\"").append(daemon.state()).append("\"} 1\n");
        for (MountedImage image : daemon.mounts().values()) {
            String labels = "mountpoint=\"" + escape(image.mountpoint()) + "\"";
            reads(out, labels, image.metrics());
            flatten(out, "nydusd_backend_", labels, image.data().backendMetrics());
            flatten(out, "nydusd_blobcache_", labels, image.data().cacheMetrics());
        }
        return out.toString();
    }

    private static void reads(StringBuilder out, String labels, FsMetrics metrics) {
        line(out, "nydusd_read_count_total", labels, metrics.reads());
        line(out, "nydusd_read_bytes_total", labels, metrics.bytesRead());
        line(out, "nydusd_read_errors_total", labels, metrics.errors());
        Map<String, Object> global = metrics.global();
        long[] buckets = (long[]) global.get("read_latency_dist");
        long cumulative = 0;
        for (int i = 0; i < buckets.length; i++) {
            cumulative += buckets[i];
            String bound = i < FsMetrics.LATENCY_BOUNDS_MICROS.length
                    ? Double.toString(FsMetrics.LATENCY_BOUNDS_MICROS[i] / 1e6) : "+Inf";
            line(out, "nydusd_read_latency_seconds_bucket", labels + ",le=\"" + bound + "\"",
                    cumulative);
        }
        line(out, "nydusd_read_latency_seconds_count", labels, cumulative);
        out.append("nydusd_read_latency_seconds_sum{").append(labels).append("} ")
                .append(((Number) global.get("read_latency_total_micros")).longValue() / 1e6)
                .append('\n');
    }

    /** Writes every number of {@code values} (nested maps joined with '_') as one series. */
    private static void flatten(StringBuilder out, String prefix, String labels,
            Map<String, Object> values) {
        for (Map.Entry<String, Object> entry : values.entrySet()) {
            String name = prefix + sanitize(entry.getKey());
            Object value = entry.getValue();
            if (value instanceof Number number) {
                line(out, name, labels, number);
            } else if (value instanceof Boolean flag) {
                line(out, name, labels, flag ? 1 : 0);
            } else if (value instanceof Map<?, ?> nested) {
                @SuppressWarnings("unchecked")
                Map<String, Object> inner = (Map<String, Object>) nested;
                flatten(out, name + "_", labels, inner);
            }
        }
    }

    private static void line(StringBuilder out, String name, String labels, Number value) {
        out.append(name).append('{').append(labels).append("} ").append(value).append('\n');
    }

    private static String sanitize(String key) {
        return key.replaceAll("[^A-Za-z0-9_]", "_");
    }

    private static String escape(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
