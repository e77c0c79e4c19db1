package io.nydus.cli;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.FileAppender;
import ch.qos.logback.core.rolling.FixedWindowRollingPolicy;
import ch.qos.logback.core.rolling.RollingFileAppender;
import ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy;
import ch.qos.logback.core.util.Duration;
import ch.qos.logback.core.util.FileSize;
import io.nydus.posix.PosixException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.slf4j.LoggerFactory;

/** Sends the log to a file instead of standard error, for daemons started in the background. */
final class LogFile {

    /** How many rotated files are kept, as FILE.1.gz (the newest) to FILE.10.gz. */
    static final int KEPT_FILES = 10;
    private static final String PATTERN = "%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level %logger{0}: %msg%n";

    private LogFile() {
    }

    /**
     * Replaces the console appender of the process's logger context with one that writes to
     * {@code file}.
     *
     * @param rotationMiB the size in MiB at which the file is rotated, or 0 to never rotate
     * @throws IOException naming {@code file} if it cannot be opened for appending; the log
     *     then stays on standard error
     */
    static void redirect(Path file, long rotationMiB) throws IOException {
        // Logback records a file it cannot open as a status and drops every event, so a
        // daemon would run without any log. The file is opened here first to fail instead.
        requireWritable(file);
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        FileAppender<ILoggingEvent> appender = appender(context, file, rotationMiB);
        if (!appender.isStarted()) {
            throw new IOException("cannot write the log file " + file + ": the logger could"
                    + " not open it");
        }
        Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.detachAppender(ConsoleLogConfigurator.APPENDER_NAME);
        root.addAppender(appender);
    }

    private static void requireWritable(Path file) throws IOException {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND)
                    .close();
        } catch (IOException e) {
            throw new IOException("cannot write the log file " + file + ": "
                    + Cli.message(e), e);
        }
    }

    /** Returns a started appender that writes to {@code file}, rotated as for redirect. */
    static FileAppender<ILoggingEvent> appender(LoggerContext context, Path file,
            long rotationMiB) {
        FileAppender<ILoggingEvent> appender = rotationMiB > 0
                ? new StreamFollowingAppender()
                : new FileAppender<>();
        appender.setContext(context);
        appender.setName("FILE");
        appender.setFile(file.toString());
        appender.setAppend(true);
        appender.setEncoder(ConsoleLogConfigurator.encoder(context, PATTERN));
        if (appender instanceof RollingFileAppender<ILoggingEvent> rolling) {
            rotate(context, rolling, file, rotationMiB);
        }
        appender.start();
        return appender;
    }

    /** Sets the policies of a rotated file; they read the file name, so it must be set. */
    private static void rotate(LoggerContext context, RollingFileAppender<ILoggingEvent> appender,
            Path file, long rotationMiB) {
        FixedWindowRollingPolicy window = new FixedWindowRollingPolicy();
        window.setContext(context);
        window.setParent(appender);
        window.setFileNamePattern(file + ".%i.gz");
        window.setMinIndex(1);
        window.setMaxIndex(KEPT_FILES);
        window.start();
        SizeBasedTriggeringPolicy<ILoggingEvent> trigger = new SizeBasedTriggeringPolicy<>();
        trigger.setContext(context);
        trigger.setMaxFileSize(new FileSize(rotationMiB * FileSize.MB_COEFFICIENT));
        // Logback looks at the file's size once a minute by default, long enough for a busy
        // daemon to write far past the limit.
        trigger.setCheckIncrement(Duration.buildBySeconds(1));
        trigger.start();
        appender.setRollingPolicy(window);
        appender.setTriggeringPolicy(trigger);
    }

    /**
     * A rotated file that takes along the standard output and error that were redirected into
     * it when it started (see {@link StandardStreams}).
     */
    private static final class StreamFollowingAppender
            extends RollingFileAppender<ILoggingEvent> {

        private List<Integer> streams = List.of();

        @Override
        public void start() {
            streams = StandardStreams.writingTo(Path.of(getFile()));
            super.start();
        }

        @Override
        public void rollover() {
            super.rollover();
            if (streams.isEmpty()) {
                return;
            }
            try {
                StandardStreams.redirect(streams, Path.of(getFile()));
            } catch (PosixException e) {
                addWarn("cannot point standard descriptors " + streams + " at the new log file "
                        + getFile() + ": " + e.getMessage());
            }
        }
    }

    /** Sets the root log level by name, as the API's log_level does. */
    static void level(String level) {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(ch.qos.logback.classic.Level.toLevel(level,
                ch.qos.logback.classic.Level.INFO));
    }
}
