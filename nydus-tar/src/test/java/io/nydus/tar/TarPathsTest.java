package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class TarPathsTest {

    @Test
    void dropsDotsSlashesAndLeadingRoot() {
        assertEquals(List.of(b("usr"), b("bin"), b("x")), TarPaths.normalize(b("/usr//bin/./x/")));
        assertEquals(List.of(b("a")), TarPaths.normalize(b("./a")));
        assertEquals(List.of(), TarPaths.normalize(b("./")));
        assertEquals(List.of(), TarPaths.normalize(b("/")));
        assertEquals(List.of(), TarPaths.normalize(b(".")));
    }

    @Test
    void dotDotNeverLeavesRoot() {
        assertEquals(List.of(b("etc"), b("passwd")), TarPaths.normalize(b("../../etc/passwd")));
        assertEquals(List.of(b("b")), TarPaths.normalize(b("a/../../b")));
        assertEquals(List.of(b("a"), b("c")), TarPaths.normalize(b("a/b/../c")));
        assertEquals(List.of(), TarPaths.normalize(b("a/..")));
        assertEquals(List.of(), TarPaths.normalize(b("/../..")));
    }

    @Test
    void namesThatLookLikeDotsStay() {
        assertEquals(List.of(b("..."), b(".a"), b("..b")), TarPaths.normalize(b(".../.a/..b")));
    }

    @Test
    void rawBytesSurvive() {
        Bytes name = Bytes.of(new byte[] {'d', (byte) 0xff, '/', '.', '.', '/', (byte) 0x80});

        assertEquals(List.of(Bytes.of(new byte[] {(byte) 0x80})), TarPaths.normalize(name));
    }

    @Test
    void joinWritesRelativePath() {
        assertEquals(b("a/b"), TarPaths.join(List.of(b("a"), b("b"))));
        assertEquals(Bytes.EMPTY, TarPaths.join(List.of()));
    }

    private static Bytes b(String text) {
        return Bytes.ofUtf8(text);
    }
}
