package io.nydus.snapshotter;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshotter's Prometheus metrics, rendered in the text exposition format.
 * {@code nydus_snapshotter_lazy_layers_total} counts data layers whose download was skipped,
 * which is how a user tells that an image was pulled lazily. The {@code nydusd_} families are
 * those that upstream's snapshotter exports from its daemons ({@link DaemonExporter}).
 */
public final class Metrics {
    private static final Logger LOG = LoggerFactory.getLogger(Metrics.class);

    /** Measures the blob cache in bytes. */
    @FunctionalInterface
    interface CacheMeter {
        long bytes() throws IOException;
    }

    private final AtomicLong lazyLayers = new AtomicLong();
    private final AtomicLong imageMounts = new AtomicLong();
    private final AtomicLong mountedImages = new AtomicLong();
    private final AtomicLong daemonStarts = new AtomicLong();
    private final AtomicLong cacheBytes = new AtomicLong();
    private volatile CacheMeter cacheMeter = () -> 0;
    private volatile Supplier<String> daemonMetrics = () -> "";
    private final AtomicLong errors = new AtomicLong();

    void lazyLayer() {
        lazyLayers.incrementAndGet();
    }

    void imageMounted() {
        imageMounts.incrementAndGet();
    }

    /** Sets the gauge of images mounted now, which callers take from their table of mounts. */
    void mountedImages(long count) {
        mountedImages.set(count);
    }

    void daemonStarted() {
        daemonStarts.incrementAndGet();
    }

    /**
     * Sets how the cache gauge is measured. nydusd fills the cache as containers read, without
     * telling the snapshotter, so the gauge is measured at every scrape.
     */
    void measureCacheWith(CacheMeter meter) {
        cacheMeter = meter;
    }

    /**
     * Sets where the figures of the running nydusd processes come from: Prometheus text that
     * is requested from the daemons at every scrape, as their figures change without telling
     * the snapshotter.
     */
    void exportDaemonsWith(Supplier<String> daemons) {
        daemonMetrics = daemons;
    }

    /** Measures the cache, or returns the last size measured if that fails. */
    private long cacheBytes() {
        try {
            cacheBytes.set(cacheMeter.bytes());
        } catch (IOException e) {
            LOG.warn("cannot measure the blob cache, reporting its last size: {}", e.toString());
        }
        return cacheBytes.get();
    }

    void error() {
        errors.incrementAndGet();
    }

    public long lazyLayers() {
        return lazyLayers.get();
    }

    /** Returns every metric in Prometheus' text format, version 0.0.4. */
    public String render() {
        StringBuilder text = new StringBuilder();
        counter(text, "nydus_snapshotter_lazy_layers_total",
                "Nydus data layers whose download containerd skipped", lazyLayers.get());
        counter(text, "nydus_snapshotter_image_mounts_total",
                "Nydus images mounted through nydusd", imageMounts.get());
        gauge(text, "nydus_snapshotter_mounted_images", "Nydus images mounted now",
                mountedImages.get());
        counter(text, "nydus_snapshotter_daemon_starts_total", "nydusd processes started",
                daemonStarts.get());
        gauge(text, "nydus_snapshotter_cache_bytes", "Disk space used by the blob cache in bytes",
                cacheBytes());
        counter(text, "nydus_snapshotter_errors_total",
                "Snapshot requests that returned an error", errors.get());
        text.append(daemonMetrics.get());
        return text.toString();
    }

    private static void counter(StringBuilder text, String name, String help, long value) {
        metric(text, name, help, "counter", value);
    }

    private static void gauge(StringBuilder text, String name, String help, long value) {
        metric(text, name, help, "gauge", value);
    }

    private static void metric(StringBuilder text, String name, String help, String type,
            long value) {
        text.append("# HELP ").append(name).append(' ').append(help).append('\n');
        text.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        text.append(name).append(' ').append(value).append('\n');
    }
}
