package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ImageReferenceTest {

    private static final String HEX =
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    @ParameterizedTest
    @CsvSource({
        "ubuntu, docker.io, library/ubuntu, latest",
        "ubuntu:22.04, docker.io, library/ubuntu, 22.04",
        "org/app, docker.io, org/app, latest",
        "docker.io/ubuntu, docker.io, library/ubuntu, latest",
        "index.docker.io/org/app:1, docker.io, org/app, 1",
        "ghcr.io/org/team/app:v1.2, ghcr.io, org/team/app, v1.2",
        "localhost/app, localhost, app, latest",
        "localhost:5000/app:dev, localhost:5000, app, dev",
        "127.0.0.1:5000/a/b, 127.0.0.1:5000, a/b, latest",
        "registry:5000/app, registry:5000, app, latest",
        "my.registry/app__x-y.z, my.registry, app__x-y.z, latest",
    })
    void parsesWithDockerDefaults(String text, String registry, String repository,
            String tag) {
        ImageReference reference = ImageReference.parse(text);

        assertEquals(registry, reference.registry());
        assertEquals(repository, reference.repository());
        assertEquals(tag, reference.tag());
        assertNull(reference.digest());
    }

    @Test
    void parsesDigestOnly() {
        ImageReference reference = ImageReference.parse("repo@sha256:" + HEX);

        assertEquals("library/repo", reference.repository());
        assertNull(reference.tag());
        assertEquals(Digest.parse("sha256:" + HEX), reference.digest());
        assertEquals("sha256:" + HEX, reference.manifestReference());
    }

    @Test
    void parsesTagAndDigest() {
        ImageReference reference = ImageReference.parse("host:5000/repo:v2@sha256:" + HEX);

        assertEquals("host:5000", reference.registry());
        assertEquals("v2", reference.tag());
        assertEquals(HEX, reference.digest().hex());
        assertEquals("sha256:" + HEX, reference.manifestReference());
        assertEquals("host:5000/repo:v2@sha256:" + HEX, reference.toString());
    }

    @Test
    void toStringParsesBack() {
        ImageReference reference = ImageReference.parse("ubuntu");

        assertEquals("docker.io/library/ubuntu:latest", reference.toString());
        assertEquals(reference, ImageReference.parse(reference.toString()));
    }

    @Test
    void dockerHubUsesApiHost() {
        assertEquals("registry-1.docker.io", ImageReference.parse("ubuntu").apiHost());
        assertEquals("ghcr.io", ImageReference.parse("ghcr.io/a/b").apiHost());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "Upper", "repo:", "repo:tag:extra", "repo@sha256:abc",
        "repo@md5:" + HEX, "host:5000/", "repo//double", "-leading", "trailing-",
        "repo:" + "t234567890123456789012345678901234567890123456789012345678901234567890"
                + "1234567890123456789012345678901234567890123456789012345678901234567890",
        "host/Repo", "127.0.0.1:99999/app:v1", "registry.example:0/app:v1",
        "[::1]:65536/app:v1"})
    void rejectsInvalid(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ImageReference.parse(text));

        assertTrue(e.getMessage().contains("'" + text + "'") || text.isEmpty(), e.getMessage());
    }

    @Test
    void rejectsOverlongName() {
        String name = "a".repeat(250);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ImageReference.parse("registry.example/" + name));

        assertTrue(e.getMessage().contains("longer than 255"), e.getMessage());
    }

    @Test
    void repositoryParsing() {
        Repository repository = Repository.parse("127.0.0.1:5000/team/app");

        assertEquals(new Repository("127.0.0.1:5000", "team/app"), repository);
        assertEquals("127.0.0.1:5000/team/app:v1", repository.tag("v1").toString());
        assertThrows(IllegalArgumentException.class, () -> Repository.parse("app:v1"));
    }
}
