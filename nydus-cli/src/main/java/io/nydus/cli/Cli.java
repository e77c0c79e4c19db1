package io.nydus.cli;

import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.DockerConfigCredentials;
import io.nydus.registry.RegistryUnauthorizedException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import picocli.CommandLine;

/**
 * Runs a command line and turns failures into one clear message and a non-zero exit, never a
 * bare stack trace. `--log-level debug` adds the stack trace to the log.
 */
public final class Cli {
    private Cli() {
    }

    public static int run(Object command, String... args) {
        return run(command, System.getenv(), args);
    }

    /** Runs {@code command} with {@code environment} in place of the process's environment. */
    static int run(Object command, java.util.Map<String, String> environment, String... args) {
        CommandLine cmd = new CommandLine(command);
        cmd.setCaseInsensitiveEnumValuesAllowed(true);
        cmd.setExecutionExceptionHandler((e, line, parsed) -> {
            Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
            org.slf4j.LoggerFactory.getLogger("nydus").debug("command failed", cause);
            String hint = command instanceof Nydusify ? credentialsHint(cause, environment) : "";
            line.getErr().println("error: " + message(cause) + hint);
            return 1;
        });
        NydusifyEnvironment variables = command instanceof Nydusify
                ? new NydusifyEnvironment(environment) : null;
        if (variables != null) {
            cmd.setDefaultValueProvider(variables);
        }
        cmd.setParameterExceptionHandler((e, arguments) -> usageError(e, arguments, variables));
        cmd.setExecutionStrategy(parsed -> {
            switch (command) {
                case Nydusify nydusify -> nydusify.applyLogging(parsed);
                case NydusImage nydusImage -> nydusImage.applyLogging(parsed);
                default -> { }
            }
            return new CommandLine.RunLast().execute(parsed);
        });
        return withOutputCheck(cmd, cmd.execute(args));
    }

    /**
     * Returns {@code code}, or 1 when standard output could not be written, as on a full disk
     * or a closed pipe. PrintStream records such a failure instead of throwing it, so without
     * this check a truncated output would end with status 0.
     */
    private static int withOutputCheck(CommandLine cmd, int code) {
        cmd.getOut().flush();
        if (!System.out.checkError()) {
            return code;
        }
        cmd.getErr().println("error: writing to standard output failed; the output is"
                + " incomplete");
        return code == 0 ? 1 : code;
    }

    /** A step that reads option values and may reject one with IllegalArgumentException. */
    @FunctionalInterface
    interface OptionReader<T> {
        T read() throws IOException;
    }

    /**
     * Runs {@code reader} and turns its IllegalArgumentException, an option value it rejects,
     * into a usage error, so that the command exits with status 2 as for an unknown option.
     */
    static <T> T readOptions(CommandLine.Model.CommandSpec spec, OptionReader<T> reader)
            throws IOException {
        try {
            return reader.read();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }
    }

    /**
     * Prints a wrong command line as one "error:" line and a pointer to --help, and returns
     * picocli's usage-error status 2, so that scripts can tell a usage error from a failed run.
     */
    private static int usageError(CommandLine.ParameterException e, String[] args,
            NydusifyEnvironment variables) {
        CommandLine line = e.getCommandLine();
        // picocli's own messages start with "Error: ", which would follow "error: ".
        String message = e.getMessage().startsWith("Error: ")
                ? e.getMessage().substring("Error: ".length())
                : e.getMessage();
        if (variables != null && e.getArgSpec() instanceof CommandLine.Model.OptionSpec option
                && !given(option, args)) {
            message += variables.variableFor(option)
                    .map(name -> " (from the environment variable " + name + ")").orElse("");
        }
        line.getErr().println("error: " + message);
        line.getErr().println("Run '" + line.getCommandSpec().qualifiedName() + " --help' for"
                + " the options.");
        return line.getCommandSpec().exitCodeOnInvalidInput();
    }

    /** Returns whether one of {@code option}'s names is among the command line's words. */
    private static boolean given(CommandLine.Model.OptionSpec option, String[] args) {
        for (String arg : args) {
            String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
            if (java.util.Arrays.asList(option.names()).contains(name)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Returns, after a registry rejected a request with 401 or 403, whose credentials nydusify
     * sent or where it found none, so that the user knows what to fix. Returns an empty string
     * for other failures.
     */
    static String credentialsHint(Throwable e, java.util.Map<String, String> environment) {
        Throwable denied = e;
        while (denied != null && !(denied instanceof RegistryUnauthorizedException)) {
            denied = denied.getCause() == denied ? null : denied.getCause();
        }
        if (denied == null || ((RegistryUnauthorizedException) denied).registry() == null) {
            return "";
        }
        String registry = ((RegistryUnauthorizedException) denied).registry();
        java.util.Optional<Credentials> sent;
        try {
            sent = CredentialProvider.defaults(environment).credentialsFor(registry);
        } catch (IOException | RuntimeException failure) {
            // The lookup failed before the request too, with its own error.
            return "";
        }
        if (sent.isEmpty()) {
            return "; no credentials for " + registry + " were found in "
                    + CredentialProvider.USERNAME_VARIABLE + " or "
                    + DockerConfigCredentials.defaultFile(environment) + ", so the request was"
                    + " anonymous: run docker login " + registry + " or set "
                    + CredentialProvider.USERNAME_VARIABLE + " and "
                    + CredentialProvider.PASSWORD_VARIABLE;
        }
        String sender = sent.get().hasIdentityToken() ? "an identity token"
                : "the credentials of user '" + sent.get().username() + "'";
        return "; nydusify sent " + sender + " for " + registry + ": check that they are valid and"
                + " allow this access to the repository";
    }

    static String message(Throwable e) {
        String text = e.getMessage();
        if (text == null || text.isBlank()) {
            text = e.getClass().getSimpleName();
        }
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file: " + text;
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied: " + text;
        }
        if (e instanceof FileSystemException f && f.getReason() == null
                && f.getFile() != null && f.getOtherFile() == null) {
            return withoutReason(f);
        }
        if (e instanceof IOException || e instanceof IllegalArgumentException) {
            return text;
        }
        return e.getClass().getSimpleName() + ": " + text;
    }

    /**
     * Describes the failure behind a file system exception that names only its file, such as
     * those that Files.createDirectories and Files.delete throw.
     */
    private static String withoutReason(FileSystemException e) {
        String file = e.getFile();
        if (e instanceof FileAlreadyExistsException) {
            Path path = Path.of(file);
            return Files.exists(path) && !Files.isDirectory(path)
                    ? file + " exists and is not a directory"
                    : file + " already exists";
        }
        if (e instanceof NotDirectoryException) {
            return file + " is not a directory";
        }
        if (e instanceof DirectoryNotEmptyException) {
            return "directory " + file + " is not empty";
        }
        return e.getClass().getSimpleName() + ": " + file;
    }
}
