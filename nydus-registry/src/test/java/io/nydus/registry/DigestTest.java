package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DigestTest {

    @Test
    void digestOfKnownInput() {
        Digest digest = Digest.of("abc".getBytes(StandardCharsets.US_ASCII));

        assertEquals("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                digest.toString());
    }

    @Test
    void parseRoundTrip() {
        Digest digest = Digest.of(new byte[0]);

        assertEquals(digest, Digest.parse(digest.toString()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sha256:", "sha256:abc", "sha512:" + "ab",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g"})
    void rejectsInvalid(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Digest.parse(text));

        assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
    }
}
