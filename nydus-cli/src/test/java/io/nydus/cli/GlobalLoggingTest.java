package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Logging options given before the subcommand, as upstream's tools take them. */
class GlobalLoggingTest {
    private TempDir work;
    private Path source;

    @BeforeEach
    void createSource() throws IOException {
        work = TempDirs.create("global-logging-");
        source = Files.createDirectory(work.resolve("source"));
        Files.writeString(source.resolve("a"), "hello");
    }

    @AfterEach
    void restoreLevel() throws IOException {
        root().setLevel(Level.INFO);
        work.close();
    }

    @Test
    void levelBeforeSubcommandApplies() {
        assertEquals(0, Cli.run(new NydusImage(), "-l", "warn", "create", source.toString(),
                "--bootstrap", work.resolve("out/b").toString(), "--blob-dir",
                work.resolve("out").toString()));

        assertEquals(Level.WARN, root().getLevel());
    }

    @Test
    void levelAfterSubcommandWins() {
        assertEquals(0, Cli.run(new NydusImage(), "--log-level", "error", "create",
                "--log-level", "debug", source.toString(), "--bootstrap",
                work.resolve("out/b").toString(), "--blob-dir", work.resolve("out").toString()));

        assertEquals(Level.DEBUG, root().getLevel());
    }

    @Test
    void debugFlagOfNydusifySetsDebug() {
        assertEquals(0, Cli.run(new Nydusify(), "-D", "pack", "--target-dir",
                source.toString(), "--output-dir", work.resolve("out").toString(), "--name",
                "image"));

        assertEquals(Level.DEBUG, root().getLevel());
    }

    @Test
    void logFileBeforeSubcommandReceivesLog() throws IOException {
        Path log = work.resolve("nydus-image.log");
        try {
            assertEquals(0, Cli.run(new NydusImage(), "-L", log.toString(), "create",
                    source.toString(), "--bootstrap", work.resolve("out/b").toString(),
                    "--blob-dir", work.resolve("out").toString()));
        } finally {
            restoreConsole();
        }

        assertTrue(Files.readString(log).contains("INFO  ImageBuilder: built bootstrap"),
                Files.readString(log));
    }

    @Test
    void unwritableLogFileFailsCommand() throws IOException {
        Path log = Files.writeString(work.resolve("file"), "").resolve("nydus-image.log");
        Path bootstrap = work.resolve("out/b");
        int code;
        try {
            code = Cli.run(new NydusImage(), "-L", log.toString(), "create", source.toString(),
                    "--bootstrap", bootstrap.toString(), "--blob-dir",
                    work.resolve("out").toString());
        } finally {
            restoreConsole();
        }

        assertEquals(1, code);
        assertFalse(Files.exists(bootstrap));
    }

    /** Puts the console appender back in place of the file one that -L installed. */
    private static void restoreConsole() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        Appender<ILoggingEvent> file = root().getAppender("FILE");
        if (file != null) {
            root().detachAppender(file);
            file.stop();
        }
        if (root().getAppender(ConsoleLogConfigurator.APPENDER_NAME) == null) {
            new ConsoleLogConfigurator().configure(context);
        }
    }

    private static Logger root() {
        return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    }
}
