package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.Digest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Splicing new diff ids and the bootstrap history entry into config bytes. */
class ConfigRewriterTest {
    private static final Digest A = Digest.of(new byte[] {1});
    private static final Digest B = Digest.of(new byte[] {2});
    private static final String ENTRY =
            "{\"created_by\":\"Nydus Converter\",\"comment\":\"Nydus Bootstrap Layer\"}";

    @Test
    void keepsOtherBytes() {
        String config = "{\"os\":\"linux\", \"x\": {\"n\": 1.50, \"s\": \"\\u0026\"},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + A + "\"]},"
                + "\"history\":[{\"created_by\":\"a \\u003e b\"}],\"z\":[ ]}";

        String out = rewrite(config, 1, List.of(A, B));

        assertEquals("{\"os\":\"linux\", \"x\": {\"n\": 1.50, \"s\": \"\\u0026\"},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + A + "\",\"" + B + "\"]},"
                + "\"history\":[{\"created_by\":\"a \\u003e b\"}," + ENTRY + "],\"z\":[ ]}",
                out);
    }

    @Test
    void addsMissingHistory() {
        String config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]} }";

        String out = rewrite(config, 0, List.of(B));

        assertEquals("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + B + "\"]} ,"
                + "\"history\":[" + ENTRY + "]}", out);
    }

    @Test
    void replacesNullHistory() {
        String config = "{\"history\":null,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";

        String out = rewrite(config, 0, List.of(B));

        assertTrue(out.startsWith("{\"history\":[" + ENTRY + "],"), out);
    }

    @Test
    void fillsEmptyHistory() {
        String config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"history\":[ ]}";

        String out = rewrite(config, 0, List.of(B));

        assertTrue(out.endsWith("\"history\":[ " + ENTRY + "]}"), out);
    }

    @Test
    void diffIdCountMismatchNamesConfig() {
        String config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + A + "\"]}}";

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> rewrite(config, 2, List.of(A, B)));

        assertTrue(e.getMessage().contains("config sha256:test"), e.getMessage());
        assertTrue(e.getMessage().contains("1 rootfs.diff_ids for 2 layers"), e.getMessage());
    }

    @Test
    void missingRootfsIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> rewrite("{\"os\":\"linux\"}", 0, List.of(A)));

        assertTrue(e.getMessage().contains("no rootfs"), e.getMessage());
    }

    @Test
    void invalidJsonIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> rewrite("{\"rootfs\":", 0, List.of(A)));

        assertTrue(e.getMessage().contains("invalid JSON"), e.getMessage());
    }

    @Test
    void trailingContentIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> rewrite("{\"rootfs\":{\"diff_ids\":[]}} {}", 0, List.of(A)));

        assertTrue(e.getMessage().contains("content after"), e.getMessage());
    }

    @Test
    void duplicateFieldIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> rewrite("{\"rootfs\":{\"diff_ids\":[]},\"rootfs\":{}}", 0, List.of(A)));

        assertTrue(e.getMessage().contains("'rootfs' twice"), e.getMessage());
    }

    @Test
    void reverseDropsBootstrapHistory() {
        String config = "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\""
                + A + "\",\"" + B + "\"]},\"history\":[ {\"created_by\":\"a \\u003e b\"} ,"
                + ENTRY + ",{\"empty_layer\":true}],\"z\":1.50}";

        String out = reverse(config, 2, List.of(B));

        assertEquals("{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\""
                + B + "\"]},\"history\":[{\"created_by\":\"a \\u003e b\"},"
                + "{\"empty_layer\":true}],\"z\":1.50}", out);
    }

    @Test
    void reverseKeepsConfigWithoutHistory() {
        String config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + A + "\"]}}";

        String out = reverse(config, 1, List.of());

        assertEquals("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", out);
    }

    @Test
    void reverseDiffIdCountMismatchNamesConfig() {
        String config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + A + "\"]}}";

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> reverse(config, 3, List.of(A, B)));

        assertTrue(e.getMessage().contains("sha256:test"), e.getMessage());
        assertTrue(e.getMessage().contains("3 layers"), e.getMessage());
    }

    private static String reverse(String config, int nydusLayers, List<Digest> diffIds) {
        byte[] out = ConfigRewriter.reverse(config.getBytes(StandardCharsets.UTF_8),
                "sha256:test", nydusLayers, diffIds);
        return new String(out, StandardCharsets.UTF_8);
    }

    private static String rewrite(String config, int sourceLayers, List<Digest> diffIds) {
        byte[] out = ConfigRewriter.rewrite(config.getBytes(StandardCharsets.UTF_8),
                "sha256:test", sourceLayers, diffIds);
        return new String(out, StandardCharsets.UTF_8);
    }
}
