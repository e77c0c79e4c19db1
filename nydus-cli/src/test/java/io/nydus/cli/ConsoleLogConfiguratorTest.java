package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.Configurator.ExecutionStatus;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import java.nio.charset.StandardCharsets;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

/** {@link ConsoleLogConfigurator} applied to a fresh logback context. */
class ConsoleLogConfiguratorTest {

    @Test
    void rootLogsInfoToStandardError() {
        LoggerContext context = new LoggerContext();

        ExecutionStatus status = configure(context);

        assertEquals(ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY, status);
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        assertEquals(Level.INFO, root.getLevel());
        ConsoleAppender<ILoggingEvent> appender = assertInstanceOf(ConsoleAppender.class,
                root.getAppender(ConsoleLogConfigurator.APPENDER_NAME));
        assertEquals("System.err", appender.getTarget());
        assertTrue(appender.isStarted());
    }

    @Test
    void lineHasLevelLoggerAndMessage() {
        LoggerContext context = new LoggerContext();
        configure(context);
        Logger logger = context.getLogger("io.nydus.builder.ImageBuilder");
        ConsoleAppender<ILoggingEvent> appender = assertInstanceOf(ConsoleAppender.class,
                context.getLogger(Logger.ROOT_LOGGER_NAME)
                        .getAppender(ConsoleLogConfigurator.APPENDER_NAME));

        LoggingEvent event = new LoggingEvent(Logger.class.getName(), logger, Level.WARN,
                "built {}", null, new Object[] {"image.boot"});
        String line = new String(appender.getEncoder().encode(event), StandardCharsets.UTF_8);

        assertTrue(line.matches("\\d\\d:\\d\\d:\\d\\d\\.\\d{3} WARN  ImageBuilder: built"
                + " image\\.boot\\R"), line);
    }

    @Test
    void nettyKeepAliveWarningsAreHidden() {
        LoggerContext context = new LoggerContext();

        configure(context);

        assertEquals(Level.ERROR,
                context.getLogger("io.netty.bootstrap.ServerBootstrap").getLevel());
        assertEquals(Level.ERROR, context.getLogger("io.netty.bootstrap.Bootstrap").getLevel());
    }

    @Test
    void configurationFilePropertyIsLeftToLogback() {
        LoggerContext context = new LoggerContext();
        String before = System.getProperty("logback.configurationFile");
        System.setProperty("logback.configurationFile", "/nonexistent/logback.xml");
        try {
            ExecutionStatus status = configure(context);

            assertEquals(ExecutionStatus.INVOKE_NEXT_IF_ANY, status);
            assertNull(context.getLogger(Logger.ROOT_LOGGER_NAME)
                    .getAppender(ConsoleLogConfigurator.APPENDER_NAME));
        } finally {
            if (before == null) {
                System.clearProperty("logback.configurationFile");
            } else {
                System.setProperty("logback.configurationFile", before);
            }
        }
    }

    @Test
    void serviceLoaderFindsTheConfigurator() {
        boolean found = false;
        for (Configurator configurator : ServiceLoader.load(Configurator.class)) {
            found |= configurator instanceof ConsoleLogConfigurator;
        }

        assertTrue(found);
    }

    private static ExecutionStatus configure(LoggerContext context) {
        ConsoleLogConfigurator configurator = new ConsoleLogConfigurator();
        configurator.setContext(context);
        return configurator.configure(context);
    }
}
