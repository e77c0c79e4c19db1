package io.nydus.registry;

import java.io.InputStream;
import java.net.http.HttpResponse.BodyHandler;
import java.net.http.HttpResponse.BodySubscriber;
import java.net.http.HttpResponse.BodySubscribers;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A response body as an {@link InputStream} that fails with {@link HttpTimeoutException} when
 * the server sends nothing for the read timeout while the reader waits for data. The JDK client
 * applies its request timeout only until the response headers arrive, so without this a stalled
 * body would block a reader forever.
 */
public final class IdleTimeoutSubscriber implements BodySubscriber<InputStream> {

    private final BodySubscriber<InputStream> delegate = BodySubscribers.ofInputStream();
    private final Duration timeout;
    private final ScheduledExecutorService scheduler;
    private final AtomicBoolean finished = new AtomicBoolean();
    /** When the reader requested data that has not arrived yet, or 0 if it waits for none. */
    private volatile long waitingSinceNanos;
    private volatile Flow.Subscription upstream;
    private volatile ScheduledFuture<?> check;

    IdleTimeoutSubscriber(Duration timeout, ScheduledExecutorService scheduler) {
        this.timeout = timeout;
        this.scheduler = scheduler;
    }

    /**
     * Returns a handler whose bodies fail after {@code timeout} without data while a reader
     * waits, checked on {@code scheduler}.
     */
    public static BodyHandler<InputStream> handler(Duration timeout,
            ScheduledExecutorService scheduler) {
        return info -> new IdleTimeoutSubscriber(timeout, scheduler);
    }

    @Override
    public CompletionStage<InputStream> getBody() {
        return delegate.getBody();
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
        upstream = subscription;
        long period = Math.max(10, Math.min(timeout.toMillis() / 4, 1000));
        check = scheduler.scheduleAtFixedRate(this::checkIdle, period, period,
                TimeUnit.MILLISECONDS);
        delegate.onSubscribe(new Flow.Subscription() {
            @Override
            public void request(long n) {
                if (waitingSinceNanos == 0) {
                    waitingSinceNanos = System.nanoTime();
                }
                subscription.request(n);
            }

            @Override
            public void cancel() {
                stopChecking();
                subscription.cancel();
            }
        });
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        waitingSinceNanos = 0;
        delegate.onNext(item);
    }

    @Override
    public void onError(Throwable throwable) {
        if (stopChecking()) {
            delegate.onError(throwable);
        }
    }

    @Override
    public void onComplete() {
        if (stopChecking()) {
            delegate.onComplete();
        }
    }

    private void checkIdle() {
        long since = waitingSinceNanos;
        if (since == 0 || System.nanoTime() - since < timeout.toNanos()) {
            return;
        }
        if (stopChecking()) {
            // The reader must see the timeout before the cancellation closes the connection.
            delegate.onError(new HttpTimeoutException("no response data for "
                    + timeout.toMillis() + " ms"));
            upstream.cancel();
        }
    }

    /** Stops the idle check; returns false if the body had already finished. */
    private boolean stopChecking() {
        ScheduledFuture<?> scheduled = check;
        if (scheduled != null) {
            scheduled.cancel(false);
        }
        return finished.compareAndSet(false, true);
    }
}
