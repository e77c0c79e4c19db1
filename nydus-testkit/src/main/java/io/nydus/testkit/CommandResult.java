package io.nydus.testkit;

import java.nio.charset.StandardCharsets;
import java.util.List;

/** The exit code and captured output of a finished command. */
public final class CommandResult {

    private final List<String> command;
    private final int exitCode;
    private final byte[] stdout;
    private final byte[] stderr;

    CommandResult(List<String> command, int exitCode, byte[] stdout, byte[] stderr) {
        this.command = List.copyOf(command);
        this.exitCode = exitCode;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    /** Returns the argument vector that ran. */
    public List<String> command() {
        return command;
    }

    /** Returns the exit code; 128 + N when signal N ended the process. */
    public int exitCode() {
        return exitCode;
    }

    /** Returns a copy of the standard output bytes. */
    public byte[] stdout() {
        return stdout.clone();
    }

    /** Returns a copy of the standard error bytes. */
    public byte[] stderr() {
        return stderr.clone();
    }

    /** Returns the standard output decoded as UTF-8. */
    public String stdoutText() {
        return new String(stdout, StandardCharsets.UTF_8);
    }

    /** Returns the standard error decoded as UTF-8. */
    public String stderrText() {
        return new String(stderr, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return Commands.commandLine(command) + " exited with " + exitCode;
    }
}
