package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

class NydusifyEnvironmentTest {

    /** Parses {@code args} with {@code environment} and returns the subcommand's spec. */
    private static CommandSpec parse(Map<String, String> environment, String... args) {
        CommandLine line = new CommandLine(new Nydusify());
        line.setDefaultValueProvider(new NydusifyEnvironment(environment));
        return line.parseArgs(args).subcommand().commandSpec();
    }

    private static Object value(CommandSpec spec, String option) {
        return spec.findOption(option).getValue();
    }

    @Test
    void convertTakesUpstreamVariables() {
        CommandSpec convert = parse(Map.of("SOURCE", "127.0.0.1:5000/app:v1",
                "TARGET", "127.0.0.1:5000/app:v1-nydus", "PLAIN_HTTP", "1",
                "FS_CHUNK_SIZE", "0x200000", "WORK_DIR", ""), "convert");

        assertEquals("127.0.0.1:5000/app:v1", value(convert, "--source"));
        assertEquals("127.0.0.1:5000/app:v1-nydus", value(convert, "--target"));
        assertEquals(true, value(convert, "--plain-http"));
        assertEquals("0x200000", value(convert, "--chunk-size"));
        assertEquals(Path.of("./tmp"), value(convert, "--work-dir"));
    }

    @Test
    void reverseTakesItsVariable() {
        assertEquals(true, value(parse(Map.of("REVERSE", "true"), "convert"), "--reverse"));
        assertEquals(false, value(parse(Map.of(), "convert"), "--reverse"));
    }

    @Test
    void commandLineWinsOverVariable() {
        CommandSpec convert = parse(Map.of("SOURCE", "127.0.0.1:5000/env:v1"), "convert",
                "--source", "127.0.0.1:5000/flag:v1", "--target", "127.0.0.1:5000/flag:v2");

        assertEquals("127.0.0.1:5000/flag:v1", value(convert, "--source"));
    }

    @Test
    void packTakesDirectoryAndImageName() {
        CommandSpec pack = parse(Map.of("SOURCE_DIR", "/srv/rootfs", "IMAGE_NAME", "app",
                "CHUNK_SIZE", "0x10000"), "pack");

        assertEquals(Path.of("/srv/rootfs"), value(pack, "--target-dir"));
        assertEquals("app", value(pack, "--bootstrap"));
        assertEquals("0x10000", value(pack, "--chunk-size"));
    }

    @Test
    void variableSatisfiesRequiredOption() {
        CommandSpec check = parse(Map.of("TARGET", "127.0.0.1:5000/app:v1-nydus",
                "TARGET_INSECURE", "true"), "check");

        assertEquals("127.0.0.1:5000/app:v1-nydus", value(check, "--target"));
        assertEquals(true, value(check, "--target-insecure"));
    }

    @Test
    void mergeAndMultiPlatformTakeTheirOwnVariables() {
        Map<String, String> environment = Map.of("MERGE_PLATFORM", "true",
                "MULTI_PLATFORM", "false", "TARGET", "127.0.0.1:5000/app:v1-nydus");

        assertEquals(true, value(parse(environment, "convert"), "--merge-platform"));
        assertEquals(false, value(parse(environment, "check"), "--multi-platform"));
        assertEquals(true, value(parse(Map.of("MULTI_PLATFORM", "t", "TARGET", "a:v1"),
                "check"), "--multi-platform"));
    }

    @Test
    void alignChunkTakesEitherVariable() {
        assertEquals(true, value(parse(Map.of("FS_ALIGN_CHUNK", "1"), "convert"),
                "--fs-align-chunk"));
        assertEquals(true, value(parse(Map.of("BACKEND_ALIGNED_CHUNK", "true"), "convert"),
                "--backend-aligned-chunk"));
        assertEquals(false, value(parse(Map.of(), "convert"), "--fs-align-chunk"));
    }

    @Test
    void missingRequiredOptionStillFails() {
        assertThrows(CommandLine.MissingParameterException.class,
                () -> parse(Map.of("TARGET", ""), "check"));
    }
}
