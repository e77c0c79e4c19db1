package io.nydus.storage.backend;

import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A mirror or proxy that blob requests try before the registry, with its health: after
 * {@code failureLimit} consecutive failures it is skipped for {@code checkInterval}, then
 * pinged (when it has a ping URL) or simply tried again.
 */
final class Endpoint {
    private final String name;
    private final HttpClient client;
    private final URI base;
    private final Map<String, String> headers;
    private final Optional<URI> pingUrl;
    private final int failureLimit;
    private final long checkIntervalNanos;
    private final AtomicInteger failures = new AtomicInteger();
    private final AtomicLong skipUntil = new AtomicLong();

    Endpoint(String name, HttpClient client, URI base, Map<String, String> headers,
            Optional<URI> pingUrl, int failureLimit, Duration checkInterval) {
        this.name = name;
        this.client = client;
        this.base = base;
        this.headers = Map.copyOf(headers);
        this.pingUrl = pingUrl;
        this.failureLimit = failureLimit;
        this.checkIntervalNanos = checkInterval.toNanos();
    }

    String name() {
        return name;
    }

    HttpClient client() {
        return client;
    }

    URI base() {
        return base;
    }

    Map<String, String> headers() {
        return headers;
    }

    /** Returns whether requests should go to this endpoint now, pinging it when it is due. */
    boolean usable(Duration timeout) {
        if (failures.get() < failureLimit) {
            return true;
        }
        long now = System.nanoTime();
        long until = skipUntil.get();
        if (now - until < 0 || !skipUntil.compareAndSet(until, now + checkIntervalNanos)) {
            return false;
        }
        if (pingUrl.isPresent() && !RangeRequest.ping(client, pingUrl.get(), timeout)) {
            return false;
        }
        failures.set(0);
        return true;
    }

    void succeeded() {
        failures.set(0);
    }

    /** Records a failure and returns whether the endpoint is now skipped. */
    boolean failed() {
        int count = failures.incrementAndGet();
        if (count == failureLimit) {
            skipUntil.set(System.nanoTime() + checkIntervalNanos);
            return true;
        }
        return count > failureLimit;
    }
}
