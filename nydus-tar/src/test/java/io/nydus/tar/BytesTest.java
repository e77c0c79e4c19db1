package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BytesTest {

    @Test
    void equalityComparesContent() {
        byte[] array = {1, 2, (byte) 0xff};
        Bytes first = Bytes.of(array);
        array[0] = 9;

        assertEquals(Bytes.of(new byte[] {1, 2, (byte) 0xff}), first);
        assertEquals(Bytes.of(new byte[] {1, 2, (byte) 0xff}).hashCode(), first.hashCode());
        assertNotEquals(Bytes.of(new byte[] {1, 2}), first);
    }

    @Test
    void toByteArrayIsACopy() {
        Bytes bytes = Bytes.ofUtf8("abc");

        bytes.toByteArray()[0] = 'x';

        assertEquals(Bytes.ofUtf8("abc"), bytes);
    }

    @Test
    void orderIsUnsignedLexicographic() {
        List<Bytes> sorted = new ArrayList<>(List.of(Bytes.of(new byte[] {(byte) 0xff}),
                Bytes.ofUtf8("b"), Bytes.ofUtf8("ab"), Bytes.ofUtf8("a"), Bytes.EMPTY));

        sorted.sort(null);

        assertEquals(List.of(Bytes.EMPTY, Bytes.ofUtf8("a"), Bytes.ofUtf8("ab"), Bytes.ofUtf8("b"),
                Bytes.of(new byte[] {(byte) 0xff})), sorted);
    }

    @Test
    void toStringEscapesInvalidUtf8AndControls() {
        byte[] bytes = {'d', 'i', 'r', (byte) 0xc3, '(', '/', (byte) 0xe2, (byte) 0x82, '\n', '\\',
            (byte) 0xc3, (byte) 0xa9, (byte) 0xf0, (byte) 0x9f, (byte) 0x98, (byte) 0x80, 0x7f};

        assertEquals("dir\\xc3(/\\xe2\\x82\\x0a\\\\\u00e9\ud83d\ude00\\x7f",
                Bytes.of(bytes).toString());
    }

    @Test
    void utf8ValidityRejectsOverlongAndSurrogates() {
        assertTrue(Bytes.ofUtf8("caf\u00e9 \ud83d\ude00").isValidUtf8());
        assertFalse(Bytes.of(new byte[] {(byte) 0xc0, (byte) 0xaf}).isValidUtf8());
        assertFalse(Bytes.of(new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80}).isValidUtf8());
        assertFalse(Bytes.of(new byte[] {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80})
                .isValidUtf8());
        assertFalse(Bytes.of(new byte[] {(byte) 0xe2, (byte) 0x82}).isValidUtf8());
    }

    @Test
    void sliceAndPrefix() {
        Bytes bytes = Bytes.ofUtf8("SCHILY.xattr.user.x");

        assertTrue(bytes.startsWith(Bytes.ofUtf8("SCHILY.xattr.")));
        assertFalse(Bytes.ofUtf8("SCHILY").startsWith(bytes));
        assertEquals(Bytes.ofUtf8("user.x"), bytes.slice(13, bytes.length()));
        assertEquals(6, bytes.indexOf((byte) '.', 0));
        assertEquals(-1, bytes.indexOf((byte) '/', 0));
    }
}
