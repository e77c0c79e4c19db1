package io.nydus.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/** The `--log-level` option every command shares. */
public final class LogLevel {
    @Option(names = "--log-level", defaultValue = "info", paramLabel = "LEVEL",
            description = "Log level: trace, debug, info, warn or error"
                    + " (default: ${DEFAULT-VALUE}).")
    void level(String level) {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.toLevel(level, Level.INFO));
    }
}
