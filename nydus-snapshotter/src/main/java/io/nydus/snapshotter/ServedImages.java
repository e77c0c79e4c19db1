package io.nydus.snapshotter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the ids of the images that a nydusd serves from {@code GET /api/v1/daemon}. A loaded
 * machine or a long garbage collection can delay one reply past its request timeout, and taking
 * such a daemon for one that lost its images would mount them again or stop it under running
 * containers. So while the daemon's process lives, the request is repeated until a deadline.
 */
final class ServedImages {
    private static final Logger LOG = LoggerFactory.getLogger(ServedImages.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(2);
    private static final Duration MIN_REQUEST_TIMEOUT = Duration.ofMillis(100);
    private static final Duration RETRY_PAUSE = Duration.ofMillis(50);

    private ServedImages() {
    }

    /**
     * Returns the mount ids that daemon {@code name} lists, without the leading slash. The
     * request is repeated while process {@code pid} lives and {@code deadline} (a
     * {@link System#nanoTime()} value) has not passed. A daemon whose pid is not known (0 or
     * less) gets one request. {@code purpose} names what the list decides, such as "image 12",
     * in the log lines of late or missing lists.
     *
     * @return the ids, or empty when the daemon sent no valid listing before the deadline or
     *     its process ended
     */
    static Optional<Set<String>> await(String name, long pid, NydusdClient client,
            long deadline, String purpose) {
        int failures = 0;
        while (true) {
            Optional<Set<String>> ids = request(name, client, timeout(deadline));
            if (ids.isPresent()) {
                logLateListing(name, pid, failures, purpose);
                return ids;
            }
            failures++;
            if (pid <= 0 || !isAlive(pid) || System.nanoTime() >= deadline) {
                LOG.warn("nydusd {} (pid {}) sent no list of its images, for {}, after {}"
                        + " request(s); its process is {}", name, pid, purpose, failures,
                        pid > 0 && isAlive(pid) ? "alive" : "gone or unknown");
                return Optional.empty();
            }
            if (failures == 1) {
                LOG.info("nydusd {} (pid {}) runs but did not list its images, for {}; asking"
                        + " again until the mount timeout", name, pid, purpose);
            }
            if (!pause()) {
                return Optional.empty();
            }
        }
    }

    private static Optional<Set<String>> request(String name, NydusdClient client,
            Duration timeout) {
        try {
            NydusdClient.Response response = client.send("GET", "/api/v1/daemon", null,
                    timeout);
            if (!response.ok()) {
                LOG.debug("nydusd {} answered GET /api/v1/daemon with HTTP {}", name,
                        response.status());
                return Optional.empty();
            }
            return Optional.of(mountIds(JSON.readTree(response.body())));
        } catch (IOException e) {
            LOG.debug("nydusd {} did not list its images: {}", name, e.getMessage());
            return Optional.empty();
        }
    }

    private static Set<String> mountIds(JsonNode info) {
        Set<String> ids = new LinkedHashSet<>();
        info.path("backend_collection").fieldNames()
                .forEachRemaining(path -> ids.add(path.substring(path.indexOf('/') + 1)));
        return ids;
    }

    /** Returns the request timeout, shortened so that a request ends near the deadline. */
    private static Duration timeout(long deadline) {
        Duration left = Duration.ofNanos(deadline - System.nanoTime());
        if (left.compareTo(REQUEST_TIMEOUT) >= 0) {
            return REQUEST_TIMEOUT;
        }
        return left.compareTo(MIN_REQUEST_TIMEOUT) > 0 ? left : MIN_REQUEST_TIMEOUT;
    }

    private static void logLateListing(String name, long pid, int failures, String purpose) {
        if (failures > 0) {
            LOG.info("nydusd {} (pid {}) listed its images, for {}, after {} failed request(s)",
                    name, pid, purpose, failures);
        }
    }

    private static boolean isAlive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private static boolean pause() {
        try {
            Thread.sleep(RETRY_PAUSE);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
