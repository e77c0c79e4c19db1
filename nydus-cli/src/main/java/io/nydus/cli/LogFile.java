package io.nydus.cli;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.core.FileAppender;
import java.nio.file.Path;
import org.slf4j.LoggerFactory;

/** Sends the log to a file instead of standard error, for daemons started in the background. */
final class LogFile {

    private LogFile() {
    }

    static void redirect(Path file) {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        FileAppender<ch.qos.logback.classic.spi.ILoggingEvent> appender = new FileAppender<>();
        appender.setContext(context);
        appender.setName("FILE");
        appender.setFile(file.toString());
        appender.setAppend(true);
        appender.setEncoder(ConsoleLogConfigurator.encoder(context,
                "%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level %logger{0}: %msg%n"));
        appender.start();
        Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.detachAppender(ConsoleLogConfigurator.APPENDER_NAME);
        root.addAppender(appender);
    }

    /** Sets the root log level by name, as the API's log_level does. */
    static void level(String level) {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(ch.qos.logback.classic.Level.toLevel(level,
                ch.qos.logback.classic.Level.INFO));
    }
}
