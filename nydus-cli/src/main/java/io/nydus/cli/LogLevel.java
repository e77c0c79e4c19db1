package io.nydus.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import java.util.List;
import java.util.Locale;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** The `--log-level` option every command shares. */
public final class LogLevel {
    /** The levels the log options take, as upstream's tools name them. */
    static final List<String> NAMES = List.of("trace", "debug", "info", "warn", "error");

    @Option(names = "--log-level", defaultValue = "info", paramLabel = "LEVEL",
            converter = Name.class,
            description = "Log level: trace, debug, info, warn or error"
                    + " (default: ${DEFAULT-VALUE}).")
    void level(String level) {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.toLevel(level, Level.INFO));
    }

    /**
     * Accepts a level name in any case and rejects other values, which logback would
     * otherwise take for info without a word.
     */
    static final class Name implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            String name = value.strip().toLowerCase(Locale.ROOT);
            if (!NAMES.contains(name)) {
                throw new TypeConversionException("'" + value + "' is not a log level; expected"
                        + " trace, debug, info, warn or error");
            }
            return name;
        }
    }
}
