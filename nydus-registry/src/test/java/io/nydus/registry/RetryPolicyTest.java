package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RetryPolicyTest {

    @Test
    void defaultDelaysDoubleUpToTheMaximum() {
        RetryPolicy policy = RetryPolicy.DEFAULT;

        assertEquals(Duration.ofMillis(200), policy.delayBefore(2));
        assertEquals(Duration.ofMillis(400), policy.delayBefore(3));
        assertEquals(Duration.ofSeconds(5), policy.delayBefore(40));
    }

    @Test
    void fixedDelayWaitsTheSameBeforeEveryAttempt() {
        RetryPolicy policy = RetryPolicy.fixedDelay(5, Duration.ofSeconds(2));

        for (int attempt = 2; attempt <= 5; attempt++) {
            assertEquals(Duration.ofSeconds(2), policy.delayBefore(attempt));
        }
    }

    @Test
    void fixedDelayAllowsExactlyItsAttempts() {
        RetryPolicy policy = RetryPolicy.fixedDelay(3, Duration.ofMinutes(10));
        Duration slowRequests = Duration.ofHours(2);

        assertTrue(policy.allows(3, slowRequests));
        assertFalse(policy.allows(4, Duration.ZERO));
    }

    @Test
    void zeroAttemptsAreRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> RetryPolicy.fixedDelay(0, Duration.ofSeconds(1)));
    }
}
