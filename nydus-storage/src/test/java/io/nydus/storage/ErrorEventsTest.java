package io.nydus.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ErrorEventsTest {

    @Test
    void entryStartsWithHttpDate() {
        ErrorEvents events = new ErrorEvents(10, 1000);

        events.add("backend read failed");

        String entry = events.snapshot().errors().getFirst();
        assertTrue(entry.matches("[A-Z][a-z]{2}, \\d{1,2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2}"
                + " GMT - backend read failed"), entry);
    }

    @Test
    void countLimitDropsOldest() {
        ErrorEvents events = new ErrorEvents(2, 1000);

        events.add("first");
        events.add("second");
        events.add("third");

        ErrorEvents.Snapshot snapshot = snapshotWithoutDates(events);
        assertEquals(List.of("second", "third"), snapshot.errors());
        assertEquals(2, snapshot.totalErrors());
    }

    @Test
    void sizeLimitDropsOldest() {
        ErrorEvents events = new ErrorEvents(10, 80);

        events.add("a".repeat(30));
        events.add("b".repeat(30));

        ErrorEvents.Snapshot snapshot = events.snapshot();
        assertEquals(1, snapshot.totalErrors());
        assertTrue(snapshot.errors().getFirst().endsWith("b".repeat(30)));
        assertEquals(snapshot.errors().getFirst().length(), snapshot.totalSize());
    }

    @Test
    void oversizedEntryIsCut() {
        ErrorEvents events = new ErrorEvents(10, 50);

        events.add("x".repeat(200));

        assertEquals(50, events.snapshot().totalSize());
    }

    @Test
    void limitsMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> new ErrorEvents(0, 10));
        assertThrows(IllegalArgumentException.class, () -> new ErrorEvents(10, 0));
    }

    private static ErrorEvents.Snapshot snapshotWithoutDates(ErrorEvents events) {
        ErrorEvents.Snapshot snapshot = events.snapshot();
        List<String> messages = snapshot.errors().stream()
                .map(entry -> entry.substring(entry.indexOf(" - ") + 3)).toList();
        return new ErrorEvents.Snapshot(snapshot.maxErrors(), snapshot.totalErrors(),
                snapshot.maxSize(), snapshot.totalSize(), messages);
    }
}
