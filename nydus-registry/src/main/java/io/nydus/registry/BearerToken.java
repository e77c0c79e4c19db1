package io.nydus.registry;

import java.time.Duration;
import java.time.Instant;

/**
 * A bearer token from a registry's token service and the time it expires.
 * {@link #toString()} hides the token.
 *
 * @param value the token sent in {@code Authorization: Bearer}
 * @param expiresAt the expiry time from the token service response
 * @param refreshAt when to fetch a new one, a margin before {@code expiresAt}
 */
record BearerToken(String value, Instant expiresAt, Instant refreshAt) {

    /** The lifetime of tokens whose response has no {@code expires_in}. */
    static final Duration DEFAULT_LIFETIME = Duration.ofSeconds(60);
    /**
     * The maximum lifetime accepted from a token service. A larger {@code expires_in}, up to
     * the largest number JSON can carry, would overflow the expiry time.
     */
    static final Duration MAX_LIFETIME = Duration.ofDays(1);
    private static final Duration MAX_REFRESH_MARGIN = Duration.ofSeconds(10);

    /**
     * Returns a token issued at {@code issuedAt} that lives {@code lifetime}; it is refreshed
     * when a tenth of its lifetime (at most 10 s) remains.
     */
    static BearerToken issued(String value, Instant issuedAt, Duration lifetime) {
        Duration margin = lifetime.dividedBy(10);
        if (margin.compareTo(MAX_REFRESH_MARGIN) > 0) {
            margin = MAX_REFRESH_MARGIN;
        }
        Instant expiresAt = issuedAt.plus(lifetime);
        return new BearerToken(value, expiresAt, expiresAt.minus(margin));
    }

    boolean isFresh(Instant now) {
        return now.isBefore(refreshAt);
    }

    String authorization() {
        return "Bearer " + value;
    }

    @Override
    public String toString() {
        return "BearerToken[value=(hidden), expiresAt=" + expiresAt + "]";
    }
}
