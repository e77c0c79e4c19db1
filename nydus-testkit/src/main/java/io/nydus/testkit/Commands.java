package io.nydus.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Runs external commands (mount, losetup, mkfs.erofs, tar) with a timeout and captures their
 * output as bytes.
 */
public final class Commands {

    /** The maximum output kept per stream, so a runaway command cannot exhaust the heap. */
    static final int MAX_OUTPUT_BYTES = 256 << 20;
    private static final int STDERR_SHOWN_CHARS = 4000;
    private static final Pattern PLAIN_ARGUMENT = Pattern.compile("[A-Za-z0-9_./:=,+@%-]+");

    private Commands() {
    }

    /**
     * Runs {@code argv} and waits for it to finish.
     *
     * @return the result of a command that exited with status 0
     * @throws CommandException if it exits with another status, naming the command line and
     *     showing its standard error, or if it runs longer than {@code timeout}
     * @throws IOException if the command cannot be started
     */
    public static CommandResult run(List<String> argv, Duration timeout) throws IOException {
        return run(argv, timeout, new byte[0]);
    }

    /** Runs {@code argv} like {@link #run(List, Duration)} with {@code stdin} as its input. */
    public static CommandResult run(List<String> argv, Duration timeout, byte[] stdin)
            throws IOException {
        CommandResult result = runAllowingFailure(argv, timeout, stdin);
        if (result.exitCode() != 0) {
            throw new CommandException(commandLine(argv) + " failed with exit code "
                    + result.exitCode() + ": " + shorten(result.stderrText().strip()), result);
        }
        return result;
    }

    /**
     * Runs {@code argv} and returns its result whatever its exit code.
     *
     * @throws CommandException if it runs longer than {@code timeout}; the process and its
     *     descendants are killed
     */
    public static CommandResult runAllowingFailure(List<String> argv, Duration timeout,
            byte[] stdin) throws IOException {
        Process process = new ProcessBuilder(argv).start();
        FutureTask<byte[]> stdout = drain(process.getInputStream());
        FutureTask<byte[]> stderr = drain(process.getErrorStream());
        try {
            Thread.ofVirtual().name("command-input").start(() -> writeInput(process, stdin));
            if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                kill(process);
                throw new CommandException(commandLine(argv) + " timed out after " + timeout,
                        null);
            }
            return new CommandResult(argv, process.exitValue(), collect(stdout, argv, timeout),
                    collect(stderr, argv, timeout));
        } catch (InterruptedException e) {
            kill(process);
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + commandLine(argv), e);
        }
    }

    /** Returns {@code argv} as a shell-style command line, quoting unusual arguments. */
    public static String commandLine(List<String> argv) {
        return argv.stream().map(Commands::quote).collect(Collectors.joining(" "));
    }

    private static String quote(String argument) {
        if (PLAIN_ARGUMENT.matcher(argument).matches()) {
            return argument;
        }
        return "'" + argument.replace("'", "'\\''") + "'";
    }

    private static FutureTask<byte[]> drain(InputStream stream) {
        FutureTask<byte[]> task = new FutureTask<>(() -> readLimited(stream));
        Thread.ofVirtual().name("command-output").start(task);
        return task;
    }

    private static byte[] readLimited(InputStream stream) throws IOException {
        try (stream) {
            byte[] data = stream.readNBytes(MAX_OUTPUT_BYTES);
            if (stream.read() != -1) {
                throw new IOException("command output exceeds " + MAX_OUTPUT_BYTES + " bytes");
            }
            return data;
        }
    }

    private static void writeInput(Process process, byte[] stdin) {
        try (OutputStream input = process.getOutputStream()) {
            input.write(stdin);
        } catch (IOException e) {
            // A command may close its input early, and its exit code then reports any problem.
        }
    }

    private static byte[] collect(FutureTask<byte[]> output, List<String> argv, Duration timeout)
            throws IOException, InterruptedException {
        try {
            // A background child that inherited the pipe could keep it open after the exit.
            return output.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new CommandException(commandLine(argv)
                    + " exited, but a child process kept its output open", null);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw new IOException(commandLine(argv) + ": " + io.getMessage(), io);
            }
            throw new IllegalStateException("reading output of " + commandLine(argv) + " failed",
                    e.getCause());
        }
    }

    private static void kill(Process process) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
    }

    private static String shorten(String text) {
        if (text.isEmpty()) {
            return "(no standard error output)";
        }
        return text.length() <= STDERR_SHOWN_CHARS ? text
                : text.substring(0, STDERR_SHOWN_CHARS) + "... (" + text.length() + " chars)";
    }
}
