package io.nydus.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LogThrottleTest {

    @Test
    void secondMessageWithinIntervalIsHeld() {
        AtomicLong now = new AtomicLong(1_000);
        LogThrottle throttle = new LogThrottle(Duration.ofNanos(100), now::get);

        assertEquals(0, throttle.admit());
        now.addAndGet(50);
        assertEquals(-1, throttle.admit());
        assertEquals(-1, throttle.admit());
        now.addAndGet(50);
        assertEquals(2, throttle.admit());
        assertEquals(-1, throttle.admit());
    }
}
