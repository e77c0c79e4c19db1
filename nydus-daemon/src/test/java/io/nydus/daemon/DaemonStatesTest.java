package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.fuse.FuseConnection;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DaemonStatesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static DaemonStates sample() {
        ObjectNode config = JSON.createObjectNode();
        config.putObject("device").putObject("backend").put("type", "registry")
                .putObject("config").put("auth", "c2VjcmV0");
        return new DaemonStates(Path.of("/run/nydus/mnt"), true,
                new FuseConnection(7, 38, 1 << 20, 1 << 20),
                List.of(new DaemonStates.Image("/app", 3, Path.of("/var/boot/app"), config,
                        Map.of("registry_auth", "dXNlcjpwYXNz"), List.of("/usr/bin", "/etc/app"))),
                5);
    }

    @Test
    void roundTripKeepsEveryField() {
        DaemonStates states = sample();
        assertEquals(states, DaemonStates.parse("test", states.toBytes()));
    }

    @Test
    void statesWithoutPrefetchListGetEmptyOne() throws Exception {
        ObjectNode root = (ObjectNode) JSON.readTree(sample().toBytes());
        ((ObjectNode) root.path("images").get(0)).remove("prefetch_files");

        DaemonStates states = DaemonStates.parse("test", JSON.writeValueAsBytes(root));

        assertEquals(List.of(), states.images().getFirst().prefetchFiles());
    }

    @Test
    void imageTextLeavesTheConfigurationOut() {
        String text = sample().toString();
        assertTrue(text.contains("/var/boot/app"), text);
        assertFalse(text.contains("c2VjcmV0"), text);
        assertFalse(text.contains("dXNlcjpwYXNz"), text);
    }

    @Test
    void otherBytesAreRejectedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DaemonStates.parse("supervisor /s.sock",
                        "{\"fs\": 1}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("supervisor /s.sock"), e.getMessage());
        assertTrue(e.getMessage().contains("another program"), e.getMessage());
    }

    @Test
    void emptyAndBinaryStatesAreNamed() {
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> DaemonStates.parse("s", new byte[0]));
        IllegalArgumentException binary = assertThrows(IllegalArgumentException.class,
                () -> DaemonStates.parse("s", new byte[] {0, 'g', 'a'}));

        assertTrue(empty.getMessage().contains("are empty"), empty.getMessage());
        assertTrue(binary.getMessage().contains("byte 0x0"), binary.getMessage());
    }

    @Test
    void newerVersionIsRejected() {
        ObjectNode root = (ObjectNode) readTree(sample().toBytes());
        root.put("version", 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DaemonStates.parse("s", root.toString().getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("version 2"), e.getMessage());
    }

    @Test
    void statesWithoutCounterSkipRestoredSlots() {
        ObjectNode root = (ObjectNode) readTree(sample().toBytes());
        root.remove("next_slot");

        DaemonStates states = DaemonStates.parse("s",
                root.toString().getBytes(StandardCharsets.UTF_8));

        assertEquals(4, states.nextSlot());
    }

    @Test
    void missingSlotIsNamed() {
        ObjectNode root = (ObjectNode) readTree(sample().toBytes());
        ((ObjectNode) root.path("images").get(0)).remove("slot");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DaemonStates.parse("s", root.toString().getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("\"slot\""), e.getMessage());
    }

    private static com.fasterxml.jackson.databind.JsonNode readTree(byte[] bytes) {
        try {
            return JSON.readTree(bytes);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
