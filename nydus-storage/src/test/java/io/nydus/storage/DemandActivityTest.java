package io.nydus.storage;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** Background fetching waits for on-demand fetches and a quiet time after them. */
class DemandActivityTest {
    private static final Duration QUIET = Duration.ofMillis(50);

    @Test
    void waitsWhileFetchIsInFlight() throws Exception {
        DemandActivity demand = new DemandActivity(QUIET);
        AtomicBoolean ended = new AtomicBoolean();
        demand.begin();
        CompletableFuture<Boolean> waiter = CompletableFuture.supplyAsync(() -> {
            try {
                demand.awaitQuiet();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return ended.get();
        });

        Thread.sleep(QUIET.toMillis() * 3);
        ended.set(true);
        demand.end();

        assertTrue(waiter.get(10, TimeUnit.SECONDS), "returned while a fetch was in flight");
    }

    @Test
    void waitsForQuietTimeAfterFetch() throws Exception {
        DemandActivity demand = new DemandActivity(QUIET);
        demand.begin();
        demand.end();
        long start = System.nanoTime();

        demand.awaitQuiet();

        assertTrue(System.nanoTime() - start >= QUIET.toNanos() * 9 / 10,
                "returned before the quiet time");
    }
}
