package io.nydus.posix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class BytePathTest {

    private static final byte[] INVALID_UTF8 = {'a', (byte) 0xff, 'b', (byte) 0xc3};

    @Test
    void escapeShowsInvalidBytesAsHex() {
        assertEquals("a\\xffb\\xc3", BytePath.escape(INVALID_UTF8));
    }

    @Test
    void escapeKeepsValidUtf8() {
        assertEquals("grüße/日本", BytePath.of("grüße/日本").toString());
    }

    @Test
    void escapeMarksBackslashAndControls() {
        byte[] text = "a\\b\n\u007f\u0085".getBytes(StandardCharsets.UTF_8);
        assertEquals("a\\\\b\\x0a\\x7f\\xc2\\x85", BytePath.escape(text));
    }

    @Test
    void escapeIsInjectiveForBackslashX() {
        byte[] literal = "\\xff".getBytes(StandardCharsets.UTF_8);
        byte[] raw = {(byte) 0xff};
        assertNotEquals(BytePath.escape(literal), BytePath.escape(raw));
    }

    @Test
    void ofRejectsEmptyAndNul() {
        assertThrows(IllegalArgumentException.class, () -> BytePath.of(new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> BytePath.of(new byte[] {'a', 0}));
    }

    @Test
    void ofCopiesInput() {
        byte[] bytes = {'a', 'b'};
        BytePath path = BytePath.of(bytes);
        bytes[0] = 'x';
        assertEquals("ab", path.toString());
    }

    @Test
    void resolveJoinsWithOneSlash() {
        assertEquals(BytePath.of("/a/b"), BytePath.of("/a").resolve("b"));
        assertEquals(BytePath.of("/a/b"), BytePath.of("/a/").resolve("b"));
        assertEquals(BytePath.of("/b"), BytePath.of("/").resolve("b"));
    }

    @Test
    void resolveKeepsRawBytes() {
        BytePath path = BytePath.of("/d").resolve(INVALID_UTF8);
        assertArrayEquals(new byte[] {'/', 'd', '/', 'a', (byte) 0xff, 'b', (byte) 0xc3},
                path.bytes());
    }

    @Test
    void resolveRejectsAbsolute() {
        assertThrows(IllegalArgumentException.class, () -> BytePath.of("/a").resolve("/b"));
    }

    @Test
    void parentAndFileName() {
        BytePath path = BytePath.of("/a/bc//");
        assertEquals(Optional.of(BytePath.of("/a")), path.parent());
        assertArrayEquals("bc".getBytes(StandardCharsets.UTF_8), path.fileName());
        assertEquals(Optional.of(BytePath.of("/")), BytePath.of("/a").parent());
        assertEquals(Optional.empty(), BytePath.of("a").parent());
        assertEquals(Optional.empty(), BytePath.of("/").parent());
    }

    @Test
    void componentsSkipEmptyParts() {
        List<byte[]> parts = BytePath.of("/a//b/").components();
        assertEquals(2, parts.size());
        assertArrayEquals(new byte[] {'a'}, parts.get(0));
        assertArrayEquals(new byte[] {'b'}, parts.get(1));
    }

    @Test
    void compareToIsUnsigned() {
        BytePath high = BytePath.of(new byte[] {(byte) 0x80});
        BytePath low = BytePath.of(new byte[] {0x7f});
        assertTrue(low.compareTo(high) < 0);
    }

    @Test
    void equalityComparesBytes() {
        assertEquals(BytePath.of(INVALID_UTF8), BytePath.of(INVALID_UTF8.clone()));
        assertEquals(BytePath.of(INVALID_UTF8).hashCode(),
                BytePath.of(INVALID_UTF8.clone()).hashCode());
    }

    @Test
    void validUtf8Detection() {
        assertTrue(BytePath.of("ok/ü").isValidUtf8());
        assertFalse(BytePath.of(INVALID_UTF8).isValidUtf8());
    }

    @Test
    void toPathRejectsInvalidUtf8() {
        assertEquals("/tmp/x", BytePath.of("/tmp/x").toPath().toString());
        assertThrows(IllegalArgumentException.class, () -> BytePath.of(INVALID_UTF8).toPath());
    }
}
