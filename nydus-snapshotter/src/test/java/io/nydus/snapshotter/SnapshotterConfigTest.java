package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class SnapshotterConfigTest {

    @Test
    void shippedConfigLoads() throws IOException {
        SnapshotterConfig config = SnapshotterConfig.load(
                Path.of("..", "misc", "snapshotter", "config.toml"));

        assertEquals(SnapshotterConfig.DEFAULT_ROOT, config.root());
        assertEquals(SnapshotterConfig.DEFAULT_ADDRESS, config.address());
        assertEquals(SnapshotterConfig.DaemonMode.SHARED, config.daemonMode());
        assertEquals(Duration.ofHours(24), config.gcPeriod());
        assertEquals(Duration.ofSeconds(30), config.mountTimeout());
        assertEquals("127.0.0.1:9110", config.metricsAddress());
        assertEquals(SnapshotterConfig.DEFAULT_ROOT.resolve("cache"), config.cacheDir());
        assertFalse(config.criKeychain());
        assertFalse(config.cleanupOnClose());
        assertFalse(config.logToStdout());
    }

    @Test
    void logTableSetsLogToStdout() throws IOException {
        try (TempDir dir = TempDirs.create("config")) {
            Path file = dir.resolve("config.toml");
            Files.writeString(file, "[log]\nlog_to_stdout = true\n");

            assertTrue(SnapshotterConfig.load(file).logToStdout());
            assertFalse(SnapshotterConfig.load(file).withLogToStdout(false).logToStdout());
        }
    }

    @Test
    void shippedNydusdTemplateLoads() throws IOException {
        DaemonConfigs configs = DaemonConfigs.load(
                Path.of("..", "misc", "snapshotter", "nydusd-config.fusedev.json"),
                Path.of("/cache"), new CredentialStore(registry -> java.util.Optional.empty()));

        assertTrue(configs.daemonConfig().contains("\"work_dir\":\"/cache\""),
                configs.daemonConfig());
    }

    @Test
    void sizesParse() {
        assertEquals(10L << 30, SnapshotterConfig.parseSize("10GiB"));
        assertEquals(512L << 20, SnapshotterConfig.parseSize("512MB"));
        assertEquals(4096, SnapshotterConfig.parseSize("4096"));
    }

    @Test
    void invalidValuesNameTheKey() throws IOException {
        try (TempDir dir = TempDirs.create("config")) {
            for (String[] entry : new String[][] {
                    {"daemon_mode = \"fast\"", "daemon_mode"},
                    {"[cache_manager]\ngc_period = \"soon\"", "gc_period"},
                    {"[cache_manager]\ndisk_limit = \"lots\"", "disk_limit"},
                    {"root = \"relative/dir\"", "root must be an absolute path"},
                    {"[log]\nlevel = \"loud\"", "invalid log level 'loud'"},
                    {"[daemon]\nthreads_number = 5000", "daemon.threads_number 5000"},
                    {"[daemon]\nthreads_number = 65", "daemon.threads_number 65"},
                    {"[daemon]\nrecover_policy = \"flush\"", "recover_policy 'flush'"},
                    {"cleanup_on_close = \"yes\"", "'cleanup_on_close' must be true or false"},
                    {"[cache_manager]\ndisable = \"true\"",
                            "'cache_manager.disable' must be true or false"},
                    {"[remote.auth]\nenable_cri_keychain = 1",
                            "'remote.auth.enable_cri_keychain' must be true or false"},
                    {"[system]\nenable = \"on\"", "'system.enable' must be true or false"},
                    {"[log]\nlog_to_stdout = \"yes\"",
                            "'log.log_to_stdout' must be true or false"},
                    {"[daemon]\nlog_rotation_size = \"100MB\"",
                            "daemon.log_rotation_size \"100MB\""},
                    {"[daemon]\nlog_rotation_size = -1", "daemon.log_rotation_size -1"},
                    {"[daemon]\nlog_rotation_size = 2000000",
                            "daemon.log_rotation_size 2000000"}}) {
                Path file = dir.resolve("config.toml");
                Files.writeString(file, entry[0] + "\n");

                IOException e = assertThrows(IOException.class,
                        () -> SnapshotterConfig.load(file), entry[0]);

                assertTrue(e.getMessage().contains(entry[1]), e.getMessage());
                assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
            }
        }
    }

    @Test
    void booleanSwitchesAreRead() throws IOException {
        JsonNode toml = new TomlMapper().readTree("""
                cleanup_on_close = true
                [cache_manager]
                disable = true
                [remote.auth]
                enable_cri_keychain = true
                [system]
                enable = true
                """);

        SnapshotterConfig config = SnapshotterConfig.fromToml(toml);

        assertTrue(config.cleanupOnClose());
        assertTrue(config.cacheDisabled());
        assertTrue(config.criKeychain());
        assertEquals(SnapshotterConfig.DEFAULT_SYSTEM_ADDRESS, config.systemAddress());
    }

    @Test
    void threadsNumberReachesNydusdCommand() throws IOException {
        JsonNode toml = new TomlMapper().readTree("""
                [daemon]
                threads_number = 8
                nydusd_path = "/bin/nydusd"
                """);
        SnapshotterConfig config = SnapshotterConfig.fromToml(toml);

        List<String> command = NydusdManager.nydusdCommand(config, Path.of("/s/api.sock"),
                Path.of("/m"), Path.of("/s/config.json"));

        assertEquals(List.of("/bin/nydusd", "--apisock", "/s/api.sock", "--mountpoint", "/m",
                "--config", "/s/config.json", "--log-level", "info", "--thread-num", "8",
                "--log-file", "/s/nydusd.log", "--log-rotation-size", "100"), command);
        assertEquals(List.of(), SnapshotterConfig.unsupportedKeys(toml, ""));
    }

    @Test
    void logRotationSizeReachesNydusdCommand() throws IOException {
        JsonNode toml = new TomlMapper().readTree("[daemon]\nlog_rotation_size = 7\n");
        SnapshotterConfig config = SnapshotterConfig.fromToml(toml);

        List<String> command = NydusdManager.nydusdCommand(config, Path.of("/s/api.sock"),
                Path.of("/m"), Path.of("/s/config.json"));

        assertEquals(List.of("--log-file", "/s/nydusd.log", "--log-rotation-size", "7"),
                command.subList(command.size() - 4, command.size()));
        assertEquals(List.of(), SnapshotterConfig.unsupportedKeys(toml, ""));
    }

    @Test
    void logToStdoutLeavesLogFileOut() throws IOException {
        SnapshotterConfig config = SnapshotterConfig.fromToml(new TomlMapper().readTree(
                "[log]\nlog_to_stdout = true\n"));

        List<String> command = NydusdManager.nydusdCommand(config, Path.of("/s/api.sock"),
                Path.of("/m"), Path.of("/s/config.json"));

        assertFalse(command.contains("--log-file"), command.toString());
        assertFalse(command.contains("--log-rotation-size"), command.toString());
    }

    @Test
    void recoverPolicyDefaultsToRestart() throws IOException {
        SnapshotterConfig config = SnapshotterConfig.fromToml(new TomlMapper().readTree(""));

        assertEquals(SnapshotterConfig.RecoverPolicy.RESTART, config.recoverPolicy());
    }

    @Test
    void failoverDaemonGetsSupervisorOptions() throws IOException {
        JsonNode toml = new TomlMapper().readTree("""
                [daemon]
                recover_policy = "failover"
                nydusd_path = "/bin/nydusd"
                """);
        SnapshotterConfig config = SnapshotterConfig.fromToml(toml);
        List<String> command = NydusdManager.nydusdCommand(config, Path.of("/s/api.sock"),
                Path.of("/m"), Path.of("/s/config.json"));

        List<String> upgrade = NydusdManager.withSupervisor(command, "shared",
                Path.of("/r/supervisor/shared.sock"), true);

        assertEquals(SnapshotterConfig.RecoverPolicy.FAILOVER, config.recoverPolicy());
        assertEquals(List.of("--id", "shared", "--supervisor", "/r/supervisor/shared.sock",
                "--upgrade"), upgrade.subList(command.size(), upgrade.size()));
        assertEquals(List.of(), SnapshotterConfig.unsupportedKeys(toml, ""));
    }

    @Test
    void systemSocketNeedsEnable() throws IOException {
        SnapshotterConfig off = SnapshotterConfig.fromToml(new TomlMapper().readTree(
                "[system]\naddress = \"/s/system.sock\"\n"));
        JsonNode toml = new TomlMapper().readTree("[system]\nenable = true\n");
        SnapshotterConfig on = SnapshotterConfig.fromToml(toml);

        assertEquals(null, off.systemAddress());
        assertEquals(SnapshotterConfig.DEFAULT_SYSTEM_ADDRESS, on.systemAddress());
        assertEquals(List.of(), SnapshotterConfig.unsupportedKeys(toml, ""));
    }

    @Test
    void relativeSystemAddressIsRejected() throws IOException {
        JsonNode toml = new TomlMapper().readTree(
                "[system]\nenable = true\naddress = \"system.sock\"\n");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SnapshotterConfig.fromToml(toml));

        assertTrue(e.getMessage().contains("system.address"), e.getMessage());
    }

    @Test
    void defaultConfigLeavesThreadsToNydusd() {
        List<String> command = NydusdManager.nydusdCommand(SnapshotterConfig.defaults(),
                Path.of("/s/api.sock"), Path.of("/m"), Path.of("/s/config.json"));

        assertFalse(command.contains("--thread-num"), command.toString());
    }

    @Test
    void unsupportedKeysAreListed() throws IOException {
        JsonNode toml = new TomlMapper().readTree("""
                root = "/r"
                typo_key = 1
                [daemon]
                fs_driver = "fscache"
                nydusd_path = "/bin/nydusd"
                [experimental]
                enable_stargz = true
                """);

        assertEquals(List.of("typo_key", "daemon.fs_driver", "experimental"),
                SnapshotterConfig.unsupportedKeys(toml, ""));
    }

    @Test
    void shippedConfigHasNoUnsupportedKeys() throws IOException {
        JsonNode toml = new TomlMapper().readTree(Files.readString(
                        Path.of("..", "misc", "snapshotter", "config.toml")));

        assertEquals(List.of(), SnapshotterConfig.unsupportedKeys(toml, ""));
    }

    @Test
    void loopbackRegistriesUsePlainHttp() {
        assertEquals("http", DaemonConfigs.scheme("127.0.0.1:5000"));
        assertEquals("http", DaemonConfigs.scheme("localhost"));
        assertEquals("http", DaemonConfigs.scheme("[::1]:5000"));
        assertEquals("https", DaemonConfigs.scheme("registry.example.com:5000"));
    }
}
