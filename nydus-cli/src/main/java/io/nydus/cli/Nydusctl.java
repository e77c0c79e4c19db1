package io.nydus.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.snapshotter.NydusdClient;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * `nydusctl`: queries and configures a running nydusd through its HTTP API on a unix socket,
 * with upstream's options and subcommands.
 */
@Command(name = "nydusctl", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = "Query and configure a running nydusd through the API socket that it"
                + " opened with --apisock: its state and mounts, its metrics, its log level, and"
                + " the images mounted in a shared daemon.",
        subcommands = {CtlInfoCommand.class, CtlSetCommand.class, CtlMetricsCommand.class,
            CtlMountCommand.class, CtlUmountCommand.class, CommandLine.HelpCommand.class})
public final class Nydusctl implements Runnable {
    private static final ObjectMapper JSON = new ObjectMapper();

    // Checked when a request is sent instead of by picocli, which would reject a subcommand's
    // --help without it.
    @Option(names = {"-S", "--sock"}, paramLabel = "SOCKET", scope = ScopeType.INHERIT,
            description = "The nydusd API socket, the path given to nydusd's --apisock"
                    + " (required).")
    private Path socket;

    @Option(names = {"-r", "--raw"}, scope = ScopeType.INHERIT,
            description = "Print the API's JSON response as one line instead of a summary;"
                    + " commands whose request returns no body print nothing.")
    private boolean raw;

    @Option(names = "--timeout", defaultValue = "60", paramLabel = "SECONDS",
            description = "Fail a request that nydusd has not responded to within this many"
                    + " seconds, 1 or more (default: ${DEFAULT-VALUE}).")
    private long timeoutSeconds;

    @Spec
    private CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing a subcommand;"
                + " give info, set, metrics, mount or umount");
    }

    boolean raw() {
        return raw;
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    /**
     * Sends a GET request and returns its JSON body.
     *
     * @throws IOException if nydusd cannot be reached, returns an error or a body that is not
     *     JSON
     */
    JsonNode get(String pathAndQuery) throws IOException {
        NydusdClient.Response response = send("GET", pathAndQuery, null);
        JsonNode body;
        try {
            body = JSON.readTree(response.body());
        } catch (JsonProcessingException e) {
            throw new IOException("nydusd at " + socket + " returned invalid JSON for GET "
                    + pathAndQuery + ": " + e.getOriginalMessage(), e);
        }
        // Every GET of nydusd's API returns an object, so anything else is another server.
        if (body == null || !body.isObject()) {
            String type = body == null || body.isMissingNode() ? "an empty body"
                    : "a JSON " + body.getNodeType().toString().toLowerCase(Locale.ROOT);
            throw new IOException("nydusd at " + socket + " returned " + type + ", not an"
                    + " object, for GET " + pathAndQuery + ": is it a nydusd API socket?");
        }
        return body;
    }

    /**
     * Sends a request and returns the response when its status is 2xx.
     *
     * @throws IOException naming the socket if nydusd cannot be reached, and naming the request
     *     and nydusd's message if it returns an error
     */
    NydusdClient.Response send(String method, String pathAndQuery, String jsonBody)
            throws IOException {
        checkOptions();
        checkSocket();
        NydusdClient.Response response;
        try {
            response = new NydusdClient(socket).send(method, pathAndQuery, jsonBody,
                    Duration.ofSeconds(timeoutSeconds));
        } catch (IOException e) {
            if (e.getCause() instanceof ConnectException) {
                throw new IOException("nothing listens on the nydusd API socket " + socket
                        + " (connection refused): the nydusd that opened it has stopped", e);
            }
            throw e;
        }
        if (!response.ok()) {
            String message = response.errorMessage();
            throw new IOException("nydusd at " + socket + " rejected " + method + " "
                    + URLDecoder.decode(pathAndQuery, StandardCharsets.UTF_8) + " with status "
                    + response.status() + (message.isBlank() ? " and no message"
                            : ": " + message));
        }
        return response;
    }

    /**
     * Returns {@code value}, a mountpoint given with {@code option}, unless it contains
     * U+FFFD. The JVM decodes arguments as UTF-8 and puts U+FFFD for bytes that are not, so
     * such a name would reach nydusd as another one.
     *
     * @throws CommandLine.ParameterException naming the option as a usage error
     */
    static String requireUtf8(CommandSpec command, String option, String value) {
        if (value.indexOf('\uFFFD') >= 0) {
            throw new CommandLine.ParameterException(command.commandLine(), option + " '"
                    + value + "' is not valid UTF-8: nydusd names its mounts in UTF-8");
        }
        return value;
    }

    /** Returns {@code value} encoded for a query parameter. */
    static String query(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    /** Rejects a missing socket or a timeout below 1 second as a usage error. */
    private void checkOptions() {
        if (socket == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "missing --sock"
                    + " SOCKET, the nydusd API socket");
        }
        if (timeoutSeconds < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--timeout "
                    + timeoutSeconds + " is below 1 second");
        }
    }

    /** Names the usual mistakes with the socket path before connecting. */
    private void checkSocket() throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(socket, BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException("the nydusd API socket " + socket + " does not exist: start"
                    + " nydusd with --apisock " + socket + ", or give the path of its socket"
                    + " with --sock", e);
        }
        if (attributes.isRegularFile() || attributes.isDirectory()) {
            throw new IOException(socket + " is a " + (attributes.isDirectory() ? "directory"
                    : "regular file") + ", not a socket: give the path that nydusd's --apisock"
                    + " names");
        }
    }

    public static void main(String[] args) {
        System.exit(Cli.run(new Nydusctl(), args));
    }
}
