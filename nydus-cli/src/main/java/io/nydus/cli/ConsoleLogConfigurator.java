package io.nydus.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * Log setup of the executables: INFO and above to standard error, one line per event. Logback
 * finds this class through the service loader. An XML file with the same settings loaded the
 * JDK's XML parser, about 0.1 s of every command's start (estimate from class-load times).
 * With {@code -Dlogback.configurationFile=FILE}, logback reads that file instead.
 */
public final class ConsoleLogConfigurator extends ContextAwareBase implements Configurator {
    static final String APPENDER_NAME = "STDERR";
    private static final String PATTERN = "%d{HH:mm:ss.SSS} %-5level %logger{0}: %msg%n";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        if (System.getProperty("logback.configurationFile") != null) {
            return ExecutionStatus.INVOKE_NEXT_IF_ANY;
        }
        ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
        appender.setContext(context);
        appender.setName(APPENDER_NAME);
        appender.setTarget("System.err");
        appender.setEncoder(encoder(context, PATTERN));
        appender.start();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.INFO);
        root.addAppender(appender);
        // grpc-netty sets SO_KEEPALIVE on every connection, which unix sockets do not support,
        // and netty warns about that once for each connection it accepts or opens.
        context.getLogger("io.netty.bootstrap.ServerBootstrap").setLevel(Level.ERROR);
        context.getLogger("io.netty.bootstrap.Bootstrap").setLevel(Level.ERROR);
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    /** Returns a started encoder that writes each event in {@code pattern}. */
    static PatternLayoutEncoder encoder(LoggerContext context, String pattern) {
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(pattern);
        encoder.start();
        return encoder;
    }
}
