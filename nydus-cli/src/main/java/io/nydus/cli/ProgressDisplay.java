package io.nydus.cli;

import io.nydus.nydusify.ConvertProgress;
import io.nydus.nydusify.LayerResult;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Shows one line per layer on a terminal (bytes pulled, built and pushed) and rewrites the
 * lines in place with ANSI cursor movements as the conversion goes on. Byte events redraw at
 * most every {@link #REDRAW_NANOS}; a layer starting or finishing always redraws.
 */
final class ProgressDisplay implements ConvertProgress {
    /** The minimum time between two redraws caused by byte counts: 10 per second. */
    static final long REDRAW_NANOS = 100_000_000L;
    private static final String CURSOR_UP = "\u001b[%dA";
    private static final String CLEAR_LINE = "\u001b[2K";

    private final PrintStream out;
    private final LongSupplier clock;
    private final Map<String, Row> rows = new LinkedHashMap<>();
    private int linesDrawn;
    private long lastDraw = Long.MIN_VALUE;

    /** The state of one layer. */
    private static final class Row {
        final long sourceSize;
        long pulled;
        long built = -1;
        long pushed;
        boolean fromBuildCache;
        String outcome;

        Row(long sourceSize) {
            this.sourceSize = sourceSize;
        }
    }

    ProgressDisplay(PrintStream out, LongSupplier clock) {
        this.out = out;
        this.clock = clock;
    }

    /**
     * Returns whether progress should be drawn in place: a console on a terminal whose type
     * supports cursor movements. Since Java 22 {@code System.console()} also returns a console
     * when the standard streams are redirected, so {@code isTerminal()} decides.
     */
    static boolean isTerminal(Map<String, String> env) {
        String term = env.get("TERM");
        java.io.Console console = System.console();
        return console != null && console.isTerminal() && term != null && !term.isEmpty()
                && !term.equals("dumb");
    }

    @Override
    public synchronized void started(String layer, long sourceSize) {
        rows.put(layer, new Row(sourceSize));
        draw();
    }

    @Override
    public synchronized void pulled(String layer, long bytes) {
        row(layer).pulled = bytes;
        drawThrottled();
    }

    @Override
    public synchronized void built(String layer, long bytes) {
        row(layer).built = bytes;
        draw();
    }

    @Override
    public synchronized void pushed(String layer, long bytes) {
        row(layer).pushed = bytes;
        drawThrottled();
    }

    @Override
    public synchronized void finished(String layer, LayerResult result) {
        Row row = row(layer);
        row.fromBuildCache = result.fromBuildCache();
        row.pulled = result.sourceSize();
        row.built = result.blobSize();
        row.outcome = switch (result.push()) {
            case UPLOADED -> "pushed";
            case EXISTED -> "already in target";
            case MOUNTED -> "mounted";
        };
        draw();
    }

    private Row row(String layer) {
        return rows.computeIfAbsent(layer, name -> new Row(-1));
    }

    private void drawThrottled() {
        if (clock.getAsLong() - lastDraw >= REDRAW_NANOS) {
            draw();
        }
    }

    private void draw() {
        lastDraw = clock.getAsLong();
        StringBuilder text = new StringBuilder();
        if (linesDrawn > 0) {
            text.append(String.format(Locale.ROOT, CURSOR_UP, linesDrawn));
        }
        for (Map.Entry<String, Row> entry : rows.entrySet()) {
            text.append('\r').append(CLEAR_LINE).append(line(entry.getKey(), entry.getValue()))
                    .append('\n');
        }
        linesDrawn = rows.size();
        out.print(text);
        out.flush();
    }

    /** Returns the line of one layer, such as "1/3 sha256:0123456789ab  pulled 2.0/4.0 MiB". */
    static String line(String layer, Row row) {
        StringBuilder text = new StringBuilder(shortName(layer));
        if (row.fromBuildCache) {
            // Nothing was pulled or built, so only the blob's size and outcome are shown.
            return text.append("  from build cache ").append(size(row.built)).append("  ")
                    .append(row.outcome).toString();
        }
        text.append("  pulled ").append(size(row.pulled));
        if (row.sourceSize >= 0) {
            text.append('/').append(size(row.sourceSize));
        }
        if (row.built >= 0) {
            text.append("  built ").append(size(row.built));
        }
        if (row.outcome != null) {
            text.append("  ").append(row.outcome);
        } else if (row.pushed > 0) {
            text.append("  pushed ").append(size(row.pushed));
            if (row.built >= 0) {
                text.append('/').append(size(row.built));
            }
        }
        return text.toString();
    }

    /** Shortens the digest in a layer name to 12 hex digits, as docker prints layer ids. */
    private static String shortName(String layer) {
        int at = layer.indexOf("sha256:");
        if (at < 0 || layer.length() < at + 7 + 12) {
            return layer;
        }
        return layer.substring(0, at + 7 + 12);
    }

    /** Returns a byte count in B, KiB, MiB or GiB with one decimal. */
    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(java.util.Locale.ROOT, "%.1f %s", value, units[unit]);
    }
}
