package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ManifestTest {

    private static final Digest CONFIG = Digest.of(new byte[] {1});
    private static final Digest BLOB = Digest.of(new byte[] {2});
    private static final Digest BOOTSTRAP = Digest.of(new byte[] {3});

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static String nydusManifest() {
        return """
                {"schemaVersion": 2,
                 "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                            "digest": "%s", "size": 10},
                 "layers": [
                   {"mediaType": "application/vnd.oci.image.layer.nydus.blob.v1",
                    "digest": "%s", "size": 2000,
                    "annotations": {"containerd.io/snapshot/nydus-blob": "true"}},
                   {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "%s", "size": 300,
                    "annotations": {"containerd.io/snapshot/nydus-bootstrap": "true",
                                    "containerd.io/snapshot/nydus-fs-version": "6"}}],
                 "annotations": {"b": "2", "a": "1"},
                 "x-extra": {"nested": [1, 2, 3]}}
                """.formatted(CONFIG, BLOB, BOOTSTRAP);
    }

    @Test
    void parsesNydusManifest() {
        Manifest manifest = Manifest.parse(utf8(nydusManifest()), "test");

        assertEquals(2, manifest.layers().size());
        assertEquals(MediaTypes.NYDUS_BLOB, manifest.layers().getFirst().mediaType());
        assertEquals(BOOTSTRAP, manifest.layers().getLast().digest());
        assertTrue(manifest.isNydus());
        assertEquals(List.of("b", "a"), List.copyOf(manifest.annotations().keySet()));
    }

    @Test
    void rewriteKeepsUnknownFields() {
        Manifest manifest = Manifest.parse(utf8(nydusManifest()), "test");

        Manifest again = Manifest.parse(manifest.toJson(), "rewritten");

        assertEquals(manifest, again);
        assertEquals("[1,2,3]", again.otherFields().get("x-extra").get("nested").toString());
    }

    @Test
    void ociManifestWithoutMediaType() {
        String json = """
                {"schemaVersion": 2, "config": {"mediaType": "a/b", "digest": "%s",
                 "size": 1}, "layers": []}
                """.formatted(CONFIG);

        Manifest manifest = Manifest.parse(utf8(json), "test");

        assertNull(manifest.mediaType());
        assertEquals(MediaTypes.OCI_MANIFEST, manifest.effectiveMediaType());
        assertFalse(manifest.isNydus());
    }

    @Test
    void invalidLayerDigestNamesField() {
        String json = """
                {"schemaVersion": 2, "config": {"mediaType": "a/b", "digest": "%s", "size": 1},
                 "layers": [{"mediaType": "a/b", "digest": "sha256:bad", "size": 1}]}
                """.formatted(CONFIG);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Manifest.parse(utf8(json), "app:v1"));

        assertTrue(e.getMessage().contains("manifest app:v1 layers[0]"), e.getMessage());
        assertTrue(e.getMessage().contains("'digest'"), e.getMessage());
    }

    @Test
    void negativeSizeIsRejected() {
        String json = """
                {"schemaVersion": 2, "config": {"mediaType": "a/b", "digest": "%s", "size": -1},
                 "layers": []}
                """.formatted(CONFIG);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Manifest.parse(utf8(json), "m"));

        assertTrue(e.getMessage().contains("negative size -1"), e.getMessage());
    }

    @Test
    void wrongSchemaVersionIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Manifest.parse(utf8("{\"schemaVersion\": 1}"), "old"));

        assertTrue(e.getMessage().contains("schemaVersion 1"), e.getMessage());
    }

    @Test
    void indexTypeIsNotAManifest() {
        String json = """
                {"schemaVersion": 2, "mediaType": "%s", "manifests": []}
                """.formatted(MediaTypes.OCI_INDEX);

        assertThrows(IllegalArgumentException.class, () -> Manifest.parse(utf8(json), "x"));
        assertEquals(List.of(), ImageIndex.parse(utf8(json), "x").manifests());
    }

    @Test
    void invalidJsonNamesSource() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Manifest.parse(utf8("{not json"), "broken:tag"));

        assertTrue(e.getMessage().contains("manifest broken:tag: invalid JSON"), e.getMessage());
    }

    @Test
    void indexFindsLegacyNydusEntry() {
        String json = """
                {"schemaVersion": 2, "mediaType": "%s", "manifests": [
                  {"mediaType": "%s", "digest": "%s", "size": 5,
                   "platform": {"os": "linux", "architecture": "amd64"}},
                  {"mediaType": "%s", "digest": "%s", "size": 6,
                   "platform": {"os": "linux", "architecture": "amd64",
                                "os.features": ["nydus.remoteimage.v1"], "x-p": 1}}]}
                """.formatted(MediaTypes.DOCKER_MANIFEST_LIST, MediaTypes.DOCKER_MANIFEST,
                CONFIG, MediaTypes.DOCKER_MANIFEST, BLOB);

        ImageIndex index = ImageIndex.parse(utf8(json), "list");

        assertFalse(index.manifests().get(0).isNydusManifest());
        assertTrue(index.manifests().get(1).isNydusManifest());
        assertEquals("linux/amd64", index.manifests().get(1).platform().toString());
        assertEquals(index, ImageIndex.parse(index.toJson(), "rewritten"));
    }

    @Test
    void contentKeepsBytesAndDigest() {
        byte[] bytes = utf8(nydusManifest());

        ManifestContent content = new ManifestContent(bytes, MediaTypes.OCI_MANIFEST);

        assertEquals(Digest.of(bytes), content.digest());
        assertEquals(bytes.length, content.size());
        assertTrue(content.toManifest().isNydus());
        assertThrows(IllegalArgumentException.class, content::toIndex);
        assertEquals(Descriptor.of(MediaTypes.OCI_MANIFEST, Digest.of(bytes), bytes.length),
                content.descriptor());
    }

    @Test
    void descriptorCopiesAnnotations() {
        Map<String, String> annotations = new java.util.HashMap<>(Map.of("k", "v"));
        Descriptor descriptor = Descriptor.of("a/b", CONFIG, 1).withAnnotations(annotations);

        annotations.put("k", "changed");

        assertEquals("v", descriptor.annotations().get("k"));
    }
}
