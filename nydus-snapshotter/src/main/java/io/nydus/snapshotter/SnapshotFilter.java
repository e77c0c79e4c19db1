package io.nydus.snapshotter;

import io.nydus.snapshotter.SnapshotException.Reason;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The subset of containerd's filter syntax that snapshot listings use: comma-separated
 * conditions that must all hold, each {@code FIELD}, {@code FIELD==VALUE},
 * {@code FIELD!=VALUE} or {@code FIELD~=REGEX}, on the fields {@code name}, {@code parent},
 * {@code kind} and {@code labels.NAME} (a label name may be quoted).
 */
final class SnapshotFilter {

    private static final Pattern CONDITION = Pattern.compile(
            "\\s*(name|parent|kind|labels\\.(?:\"([^\"]*)\"|([A-Za-z0-9_./-]+)))"
                    + "\\s*(?:(==|!=|~=)\\s*(?:\"([^\"]*)\"|([^,\"]*)))?\\s*");

    private SnapshotFilter() {
    }

    /** Returns a predicate that accepts a snapshot if any filter accepts it, or all if none. */
    static Predicate<SnapshotRecord> anyOf(List<String> filters) throws SnapshotException {
        if (filters.isEmpty()) {
            return record -> true;
        }
        List<Predicate<SnapshotRecord>> alternatives = new ArrayList<>();
        for (String filter : filters) {
            alternatives.add(parse(filter));
        }
        return record -> alternatives.stream().anyMatch(p -> p.test(record));
    }

    private static Predicate<SnapshotRecord> parse(String filter) throws SnapshotException {
        Predicate<SnapshotRecord> all = record -> true;
        for (String part : filter.split(",")) {
            all = all.and(condition(part, filter));
        }
        return all;
    }

    private static Predicate<SnapshotRecord> condition(String text, String filter)
            throws SnapshotException {
        Matcher matcher = CONDITION.matcher(text);
        if (!matcher.matches()) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, "invalid snapshot filter '"
                    + Snapshotter.abbreviate(filter) + "' at '" + text.strip() + "'");
        }
        String label = matcher.group(2) != null ? matcher.group(2) : matcher.group(3);
        String field = matcher.group(1);
        java.util.function.Function<SnapshotRecord, String> value = switch (field) {
            case "name" -> SnapshotRecord::key;
            case "parent" -> SnapshotRecord::parent;
            case "kind" -> record -> record.kind().name().toLowerCase(Locale.ROOT);
            default -> record -> record.label(label);
        };
        String operator = matcher.group(4);
        String operand = matcher.group(5) != null ? matcher.group(5) : matcher.group(6);
        if (operator == null) {
            return record -> {
                String actual = value.apply(record);
                return actual != null && !actual.isEmpty();
            };
        }
        return switch (operator) {
            case "==" -> record -> operand.equals(value.apply(record));
            case "!=" -> record -> !operand.equals(value.apply(record));
            default -> regex(operand, filter, value);
        };
    }

    private static Predicate<SnapshotRecord> regex(String operand, String filter,
            java.util.function.Function<SnapshotRecord, String> value) throws SnapshotException {
        try {
            Pattern pattern = Pattern.compile(operand);
            return record -> {
                String actual = value.apply(record);
                return actual != null && pattern.matcher(actual).find();
            };
        } catch (PatternSyntaxException e) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, "invalid regular expression in"
                    + " snapshot filter '" + Snapshotter.abbreviate(filter) + "': "
                    + e.getDescription());
        }
    }
}
