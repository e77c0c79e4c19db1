package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The defaults that {@code containerd-nydus-grpc --help} states: an option left out takes the
 * value of the config file, and only without that the built-in one.
 */
class SnapshotterHelpTest {

    /** Returns the help text of {@code option}. */
    private static String description(String option) {
        CommandLine.Model.OptionSpec spec = new CommandLine(new Snapshotter()).getCommandSpec()
                .findOption(option);
        return String.join(" ", spec.description());
    }

    @Test
    void rootDefaultNamesConfigKey() {
        String help = description("--root");

        assertTrue(help.contains("(default: root of the config, else"
                + " /var/lib/containerd/io.containerd.snapshotter.v1.nydus)"), help);
    }

    @Test
    void addressDefaultNamesConfigKey() {
        String help = description("--address");

        assertTrue(help.contains("(default: address of the config, else"
                + " /run/containerd-nydus/containerd-nydus-grpc.sock)"), help);
    }

    @Test
    void nydusdConfigDefaultNamesConfigKey() {
        String help = description("--nydusd-config");

        assertTrue(help.contains("(default: [daemon] nydusd_config of the config, else"
                + " /etc/nydus/nydusd-config.fusedev.json)"), help);
    }
}
