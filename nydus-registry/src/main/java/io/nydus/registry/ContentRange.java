package io.nydus.registry;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The byte range that a 206 response states its body contains, from its {@code Content-Range}
 * header (RFC 9110): {@code bytes FIRST-LAST/SIZE}, where SIZE may be {@code *}.
 *
 * @param first the offset of the body's first byte
 * @param last the offset of the body's last byte, inclusive
 */
public record ContentRange(long first, long last) {

    private static final Pattern BYTES =
            Pattern.compile("bytes\\s+(\\d{1,18})-(\\d{1,18})/(\\d{1,18}|\\*)");

    public ContentRange {
        if (first < 0 || last < first) {
            throw new IllegalArgumentException("invalid byte range " + first + "-" + last);
        }
    }

    /**
     * Parses a {@code Content-Range} header value.
     *
     * @return the range, or empty if {@code value} is not a valid byte range
     */
    public static Optional<ContentRange> parse(String value) {
        Matcher matcher = BYTES.matcher(value.strip());
        if (!matcher.matches()) {
            return Optional.empty();
        }
        long first = Long.parseLong(matcher.group(1));
        long last = Long.parseLong(matcher.group(2));
        if (last < first) {
            return Optional.empty();
        }
        return Optional.of(new ContentRange(first, last));
    }

    /**
     * Returns why a 206 response whose {@code Content-Range} is {@code header} does not hold
     * the bytes {@code first} to {@code last} that were requested, or empty if it does. A
     * response without the header passes, as the length of its body is checked anyway.
     */
    public static Optional<String> mismatch(Optional<String> header, long first, long last) {
        if (header.isEmpty()) {
            return Optional.empty();
        }
        Optional<ContentRange> range = parse(header.get());
        if (range.isPresent() && range.get().equals(new ContentRange(first, last))) {
            return Optional.empty();
        }
        return Optional.of("returned Content-Range " + header.get().strip()
                + " for the requested bytes " + first + "-" + last);
    }
}
