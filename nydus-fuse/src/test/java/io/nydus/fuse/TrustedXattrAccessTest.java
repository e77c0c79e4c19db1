package io.nydus.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class TrustedXattrAccessTest {

    private static final List<byte[]> NAMES = List.of("user.a".getBytes(),
            "trusted.b".getBytes(), "security.c".getBytes(), "trustedx".getBytes());

    private static List<String> strings(List<byte[]> names) {
        return names.stream().map(String::new).toList();
    }

    @Test
    void rootSeesEveryName() {
        assertEquals(strings(NAMES), strings(TrustedXattrAccess.filter(NAMES, 0)));
    }

    @Test
    void otherUsersSeeNoTrustedNames() {
        assertEquals(List.of("user.a", "security.c", "trustedx"),
                strings(TrustedXattrAccess.filter(NAMES, 1000)));
        assertEquals(List.of("user.a", "security.c", "trustedx"),
                strings(TrustedXattrAccess.filter(NAMES, -2)));
    }

    @Test
    void prefixMatchesWholeNamespace() {
        assertTrue(TrustedXattrAccess.isTrusted("trusted.x".getBytes()));
        assertFalse(TrustedXattrAccess.isTrusted("trusted".getBytes()));
        assertFalse(TrustedXattrAccess.isTrusted("user.trusted.x".getBytes()));
    }
}
