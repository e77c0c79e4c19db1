package io.nydus.cli;

import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A process that logs to a file rotated at 1 MiB, fills it past the limit, and then prints to
 * its standard output and error. The test starts it with both streams redirected into the log
 * file, as the snapshotter starts nydusd.
 */
public final class RotatingLogProcess {

    static final String STDOUT_LINE = "printed to standard output after the rotation";
    static final String STDERR_LINE = "printed to standard error after the rotation";

    private RotatingLogProcess() {
    }

    public static void main(String[] args) throws Exception {
        LogFile.redirect(Path.of(args[0]), 1);
        Logger log = LoggerFactory.getLogger(RotatingLogProcess.class);
        String line = "x".repeat(1000);
        for (int i = 0; i < 1200; i++) {
            log.info("{} {}", i, line);
        }
        // The appender looks at the file's size no more than once a second.
        Thread.sleep(1100);
        log.info("past the limit");
        System.out.println(STDOUT_LINE);
        System.err.println(STDERR_LINE);
    }
}
