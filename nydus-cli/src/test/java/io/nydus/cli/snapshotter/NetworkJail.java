package io.nydus.cli.snapshotter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A network namespace in which only 127.0.0.1 is reachable and every attempt to reach another
 * address is recorded, for a snapshotter and the nydusd processes it starts.
 *
 * <p>The namespace has no device but its loopback device, and its IPv4 and IPv6 default routes
 * lead to it, so that a connection or DNS query to any address sends a packet instead of failing
 * with "network unreachable". An nftables rule on the namespace's output hook passes packets to
 * 127.0.0.1 and drops every other packet, adding its destination to a set. No device of the
 * namespace leads out of it, so nothing leaves the machine in any case.
 *
 * <p>Processes in the namespace share the host's mount namespace, because containerd must see
 * the FUSE mounts of nydusd. {@link #forward} connects a TCP port of the namespace's 127.0.0.1 to
 * the same port of the host's through a unix socket, with a socat process on each side.
 */
final class NetworkJail implements AutoCloseable {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final AtomicInteger JAILS = new AtomicInteger();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String RULES = """
            table inet guard {
              set v4 { type ipv4_addr; size 4096; flags dynamic; }
              set v6 { type ipv6_addr; size 4096; flags dynamic; }
              chain output {
                type filter hook output priority 0; policy accept;
                ip daddr 127.0.0.1 accept
                meta nfproto ipv4 add @v4 { ip daddr } drop
                meta nfproto ipv6 add @v6 { ip6 daddr } drop
              }
            }
            """;

    private final String name;
    private final Path dir;
    private final List<Process> forwarders = new ArrayList<>();

    private NetworkJail(String name, Path dir) {
        this.name = name;
        this.dir = dir;
    }

    /** Creates a namespace, keeping its rules file and forwarding sockets in {@code dir}. */
    static NetworkJail create(Path dir) throws IOException {
        String name = "nydus-test-" + ProcessHandle.current().pid() + "-"
                + JAILS.incrementAndGet();
        run(List.of("ip", "netns", "add", name));
        NetworkJail jail = new NetworkJail(name, dir);
        try {
            run(List.of("ip", "-n", name, "link", "set", "lo", "up"));
            run(List.of("ip", "-n", name, "route", "add", "default", "dev", "lo"));
            run(List.of("ip", "-n", name, "-6", "route", "add", "default", "dev", "lo"));
            Path rules = dir.resolve("guard.nft");
            Files.writeString(rules, RULES);
            run(jail.inside("nft", "-f", rules.toString()));
        } catch (IOException | RuntimeException e) {
            jail.close();
            throw e;
        }
        return jail;
    }

    /** Returns the command prefix that runs a command in the namespace, keeping its pid. */
    List<String> launcher() {
        return List.of("nsenter", "--net=" + Path.of("/run/netns", name));
    }

    /** Runs {@code command} in the namespace. A non-zero exit is the caller's to check. */
    CommandResult runInside(String... command) throws IOException {
        return Commands.runAllowingFailure(inside(command), TIMEOUT, new byte[0]);
    }

    private List<String> inside(String... command) {
        List<String> argv = new ArrayList<>(launcher());
        argv.addAll(List.of(command));
        return argv;
    }

    /** Returns every address other than 127.0.0.1 that a packet was sent to, sorted. */
    List<String> foreignDestinations() throws IOException {
        TreeSet<String> addresses = new TreeSet<>();
        for (String set : List.of("v4", "v6")) {
            JsonNode listing = JSON.readTree(run(inside("nft", "-j", "list", "set", "inet",
                    "guard", set)).stdout());
            for (JsonNode item : listing.path("nftables")) {
                for (JsonNode element : item.path("set").path("elem")) {
                    // An element is a plain address, or an object when it carries a timeout.
                    addresses.add(element.isTextual() ? element.asText()
                            : element.path("elem").path("val").asText());
                }
            }
        }
        return List.copyOf(addresses);
    }

    /** Forgets the destinations recorded so far. */
    void clearDestinations() throws IOException {
        run(inside("nft", "flush", "set", "inet", "guard", "v4"));
        run(inside("nft", "flush", "set", "inet", "guard", "v6"));
    }

    /** Returns whether process {@code pid} runs in this namespace. */
    boolean contains(long pid) throws IOException {
        Object jail = Files.getAttribute(Path.of("/run/netns", name), "unix:ino");
        Path link = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns", "net"));
        return link.toString().equals("net:[" + jail + "]");
    }

    /**
     * Makes 127.0.0.1:{@code port} in the namespace reach 127.0.0.1:{@code port} of the host,
     * and waits until it accepts connections.
     */
    void forward(int port) throws IOException, InterruptedException {
        Path socket = dir.resolve("forward-" + port + ".sock");
        Process host = start(List.of("socat", "UNIX-LISTEN:" + socket + ",fork,unlink-early",
                "TCP:127.0.0.1:" + port), "host-" + port);
        await(() -> Files.exists(socket), host, "socat listening on " + socket);
        Process jailed = start(inside("socat", "TCP-LISTEN:" + port
                + ",bind=127.0.0.1,reuseaddr,fork", "UNIX-CONNECT:" + socket), "jail-" + port);
        await(() -> listens(jailed.pid(), port), jailed, "socat listening on 127.0.0.1:"
                + port + " in network namespace " + name);
    }

    private Process start(List<String> command, String logName) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("socat-" + logName + ".log").toFile()).start();
        forwarders.add(process);
        return process;
    }

    /** Returns whether process {@code pid} has a TCP socket listening on 127.0.0.1:port. */
    private static boolean listens(long pid, int port) throws IOException {
        String local = String.format(Locale.ROOT, "0100007F:%04X", port);
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "net",
                "tcp"))) {
            String[] fields = line.trim().split("\\s+");
            // Fields: sl, local address, remote address, state (0A is LISTEN), ...
            if (fields.length > 3 && fields[1].equals(local) && fields[3].equals("0A")) {
                return true;
            }
        }
        return false;
    }

    private interface Check {
        boolean test() throws IOException;
    }

    private static void await(Check condition, Process process, String description)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!condition.test()) {
            if (!process.isAlive()) {
                throw new IOException(description + ": the process exited with "
                        + process.exitValue());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(description + ": not ready within " + TIMEOUT.toSeconds()
                        + " s");
            }
            Thread.sleep(20);
        }
    }

    private static CommandResult run(List<String> command) throws IOException {
        return Commands.run(command, TIMEOUT);
    }

    /** Stops the socat processes and deletes the namespace's name. */
    @Override
    public void close() throws IOException {
        for (Process process : forwarders) {
            process.descendants().forEach(ProcessHandle::destroy);
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        run(List.of("ip", "netns", "delete", name));
    }
}
