package io.nydus.storage;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.List;

/**
 * The latest errors of a daemon's data path, kept for the management API: each entry is the
 * time as an HTTP date, " - " and the message. The oldest entries go first once the count or
 * the total length of the entries would pass its limit.
 */
public final class ErrorEvents {
    /** The process's errors: backend reads that failed and chunks that failed their checks. */
    public static final ErrorEvents DAEMON = new ErrorEvents(500, 50 * 1024);

    private final int maxErrors;
    private final int maxSize;
    private final ArrayDeque<String> errors = new ArrayDeque<>();
    private int totalSize;

    /**
     * @param maxErrors the maximum number of entries kept
     * @param maxSize the maximum number of characters in all entries together
     */
    public ErrorEvents(int maxErrors, int maxSize) {
        if (maxErrors < 1 || maxSize < 1) {
            throw new IllegalArgumentException("error event limits must be positive, found "
                    + maxErrors + " entries and " + maxSize + " characters");
        }
        this.maxErrors = maxErrors;
        this.maxSize = maxSize;
    }

    /** The entries and the figures that upstream's API reports with them. */
    public record Snapshot(int maxErrors, int totalErrors, int maxSize, int totalSize,
            List<String> errors) {
        public Snapshot {
            errors = List.copyOf(errors);
        }
    }

    /** Adds {@code message} with the current time; a message longer than the limit is cut. */
    public synchronized void add(String message) {
        String entry = DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(
                ZoneOffset.UTC)) + " - " + message;
        if (entry.length() > maxSize) {
            entry = entry.substring(0, maxSize);
        }
        while (!errors.isEmpty()
                && (errors.size() >= maxErrors || totalSize + entry.length() > maxSize)) {
            totalSize -= errors.removeFirst().length();
        }
        errors.addLast(entry);
        totalSize += entry.length();
    }

    /** Returns the entries kept now, oldest first. */
    public synchronized Snapshot snapshot() {
        return new Snapshot(maxErrors, errors.size(), maxSize, totalSize, List.copyOf(errors));
    }
}
