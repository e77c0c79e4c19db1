package io.nydus.nydusify;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.MediaTypes;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Validates hand-made Nydus manifests and configs that break one rule each. */
class ManifestCheckTest {
    private static final Digest BLOB = Digest.of(bytes("blob"));
    private static final Digest BOOTSTRAP = Digest.of(bytes("bootstrap"));
    private static final String SOURCE = "{\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\"]},"
            + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:aa\"]},"
            + "\"history\":[{\"created_by\":\"make\"}]}";

    @Test
    void convertedLayoutPasses() throws Exception {
        assertEquals(List.of(), ManifestCheck.checkManifest(manifest(blobLayer())));
        assertEquals(List.of(), ManifestCheck.checkConfig(bytes(SOURCE), target("A=1",
                BLOB.toString(), true), manifest(blobLayer())));
    }

    @Test
    void missingBlobAnnotationIsReported() {
        Descriptor bare = Descriptor.of(MediaTypes.NYDUS_BLOB, BLOB, 4);

        assertEquals(List.of("manifest: layer 0 " + BLOB + " has annotation "
                + MediaTypes.ANNOTATION_NYDUS_BLOB + " = (missing), expected \"true\""),
                ManifestCheck.checkManifest(manifest(bare)));
    }

    @Test
    void missingMediaTypeIsReportedAsMissing() {
        Manifest converted = manifest(blobLayer());
        Manifest bare = new Manifest(2, null, null, converted.config(), converted.layers(),
                null, Map.of(), Map.of());

        assertEquals(List.of("manifest: media type is (missing), expected "
                + MediaTypes.OCI_MANIFEST + " or " + MediaTypes.DOCKER_MANIFEST),
                ManifestCheck.checkManifest(bare));
    }

    @Test
    void gzipBlobLayerIsReported() {
        Descriptor gzip = Descriptor.of(MediaTypes.OCI_LAYER_GZIP, BLOB, 4).withAnnotations(
                Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true"));

        assertEquals(List.of("manifest: layer 0 " + BLOB + " has media type "
                + MediaTypes.OCI_LAYER_GZIP + ", expected " + MediaTypes.NYDUS_BLOB),
                ManifestCheck.checkManifest(manifest(gzip)));
    }

    @Test
    void changedEnvIsReported() throws Exception {
        List<String> problems = ManifestCheck.checkConfig(bytes(SOURCE), target("A=2",
                BLOB.toString(), true), manifest(blobLayer()));

        assertEquals(List.of("config: config.Env differs: source [\"A=1\"], target [\"A=2\"]"),
                problems);
    }

    @Test
    void wrongBlobDiffIdIsReported() throws Exception {
        List<String> problems = ManifestCheck.checkConfig(bytes(SOURCE), target("A=1",
                "sha256:aa", true), manifest(blobLayer()));

        assertEquals(List.of("config: rootfs.diff_ids[0] is \"sha256:aa\", expected the blob"
                + " digest " + BLOB), problems);
    }

    @Test
    void missingHistoryEntryIsReported() throws Exception {
        List<String> problems = ManifestCheck.checkConfig(bytes(SOURCE), target("A=1",
                BLOB.toString(), false), manifest(blobLayer()));

        assertEquals(List.of("config: last history entry was created by \"make\", expected"
                + " \"" + ConfigRewriter.HISTORY_CREATED_BY + "\"",
                "config: history differs: source [{\"created_by\":\"make\"}], target []"),
                problems);
    }

    @Test
    void bootstrapDiffIdMismatchIsReported() throws Exception {
        Digest tar = Digest.of(bytes("tar"));

        assertEquals("config: rootfs.diff_ids[1] is \"sha256:bb\", but the bootstrap"
                + " layer's tar has digest " + tar, ManifestCheck.checkBootstrapDiffId(
                target("A=1", BLOB.toString(), true), manifest(blobLayer()), tar).orElseThrow());
    }

    private static Descriptor blobLayer() {
        return Descriptor.of(MediaTypes.NYDUS_BLOB, BLOB, 4).withAnnotations(
                Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true"));
    }

    private static Manifest manifest(Descriptor blob) {
        List<Descriptor> layers = new ArrayList<>();
        layers.add(blob);
        layers.add(Descriptor.of(MediaTypes.OCI_LAYER_GZIP, BOOTSTRAP, 9).withAnnotations(Map.of(
                MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true",
                MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "6")));
        return new Manifest(2, MediaTypes.OCI_MANIFEST, null, Descriptor.of(
                MediaTypes.OCI_CONFIG, Digest.of(bytes("config")), 6), layers, null, Map.of(),
                Map.of());
    }

    /** Returns a converted config with {@code env}, the blob's diff id and the history. */
    private static byte[] target(String env, String blobDiffId, boolean withHistory) {
        String history = withHistory ? ",{\"created_by\":\"" + ConfigRewriter.HISTORY_CREATED_BY
                + "\",\"comment\":\"" + ConfigRewriter.HISTORY_COMMENT + "\"}" : "";
        return bytes("{\"os\":\"linux\",\"config\":{\"Env\":[\"" + env + "\"]},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + blobDiffId
                + "\",\"sha256:bb\"]},\"history\":[{\"created_by\":\"make\"}" + history + "]}");
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
