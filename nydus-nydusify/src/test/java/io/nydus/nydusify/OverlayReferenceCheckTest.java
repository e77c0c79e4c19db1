package io.nydus.nydusify;

import static io.nydus.nydusify.SeedImage.run;
import static io.nydus.nydusify.SeedImage.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Checks Nydus images against a three-layer source with {@link OverlayReference}, the source
 * layers unpacked and mounted as overlayfs. The second layer deletes a file and a directory,
 * makes a directory opaque and turns a file into a directory. The third re-creates the deleted
 * directory, turns the directory back into a file and hard-links a file of the first layer.
 *
 * <p>Tampered targets are conversions of a variant of the source that differs in one place.
 * After every test no overlay mount of the check is left in {@code /proc/mounts}, and the work
 * directory is empty.
 */
class OverlayReferenceCheckTest {
    private static final long MTIME = 1_700_000_000L;
    /**
     * The third layer's stand-in for the first layer's bin/tool, deleted from its archive so
     * that the link bin/tool-again names a file of a lower layer.
     */
    private static final String LOWER_LINK_PLACEHOLDER = "./bin/tool";

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;
    private static ImageReference source;
    private static ImageReference target;
    private static List<Path> sourceTars;

    /** A change made to one layer's directory before it is archived. */
    @FunctionalInterface
    private interface LayerEdit {
        void apply(int layer, Path dir) throws IOException;
    }

    @BeforeAll
    static void convertSource() throws Exception {
        temp = TempDirs.create("overlay-check-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
        source = registry.repository("layers/app").tag("v1");
        target = registry.repository("layers/app").tag("v1-nydus");
        sourceTars = pushLayered(temp.resolve("source"), source, (layer, dir) -> { });
        convert(source, target);
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    @AfterEach
    void nothingIsLeftBehind() throws IOException {
        assertEquals(List.of(), overlayMounts());
        Path workDir = temp.resolve("check-work");
        if (Files.exists(workDir)) {
            try (Stream<Path> entries = Files.list(workDir)) {
                assertEquals(List.of(), entries.toList());
            }
        }
    }

    @Test
    void layeredImagePassesWithOverlay() throws Exception {
        CheckResult result = check(source, target);

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.OVERLAY, result.reference());
        assertEquals(18, result.entries());
    }

    @Test
    void builderReferenceStaysAvailable() throws Exception {
        CheckResult result = new ImageCheck(client, client).withBuilderReference()
                .check(options(source, target));

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.BUILDER, result.reference());
    }

    /** An overlayfs refuses whiteout devices, so it cannot hold the unpacked layers. */
    @Test
    void workDirOnOverlayfsFallsBackToBuilder() throws Exception {
        Path base = temp.resolve("overlay-work-dir");
        for (String name : List.of("lower", "upper", "work", "mnt")) {
            Files.createDirectories(base.resolve(name));
        }
        Path mountPoint = base.resolve("mnt");
        run("mount", "-t", "overlay", "test-work-dir", "-o", "lowerdir=" + base.resolve("lower")
                + ",upperdir=" + base.resolve("upper") + ",workdir=" + base.resolve("work"),
                mountPoint.toString());
        try {
            CheckOptions options = options(source, target).withWorkDir(mountPoint.resolve("c"));

            CheckResult result = new ImageCheck(client, client).check(options);

            assertEquals(List.of(), result.differences());
            assertEquals(CheckResult.Reference.BUILDER, result.reference());
        } finally {
            run("umount", mountPoint.toString());
        }
    }

    @Test
    void changedContentIsReported() throws Exception {
        ImageReference tampered = convertVariant("content", (layer, dir) -> {
            if (layer == 1) {
                write(dir.resolve("etc/keep"), "KEPT\n");
            }
        });

        List<String> differences = check(source, tampered).differences();

        assertEquals(1, differences.size(), differences.toString());
        assertTrue(differences.getFirst().startsWith(
                "/etc/keep: content differs: source sha256:"), differences.getFirst());
    }

    @Test
    void changedModeIsReported() throws Exception {
        ImageReference tampered = convertVariant("mode", (layer, dir) -> {
            if (layer == 2) {
                run("chmod", "0600", dir.resolve("etc/config").toString());
            }
        });

        List<String> differences = check(source, tampered).differences();

        assertEquals(List.of("/etc/config: mode differs: source 0100644, target 0100600"),
                differences);
    }

    @Test
    void changedXattrIsReported() throws Exception {
        ImageReference tampered = convertVariant("xattr", (layer, dir) -> {
            if (layer == 2) {
                run("setfattr", "-n", "user.origin", "-v", "tampered",
                        dir.resolve("etc/config").toString());
            }
        });

        List<String> differences = check(source, tampered).differences();

        assertEquals(List.of("/etc/config: xattr user.origin differs: source \"second\","
                + " target \"tampered\""), differences);
    }

    @Test
    void whitedOutFileThatReappearsIsReported() throws Exception {
        ImageReference tampered = convertVariant("whiteout", (layer, dir) -> {
            if (layer == 2) {
                Files.delete(dir.resolve("etc/.wh.gone"));
            }
        });

        List<String> differences = check(source, tampered).differences();

        assertEquals(List.of("/etc/gone: not in source"), differences);
    }

    @Test
    void ignoredOpaqueMarkerIsReported() throws Exception {
        ImageReference tampered = convertVariant("opaque", (layer, dir) -> {
            if (layer == 2) {
                Files.delete(dir.resolve("etc/cache/.wh..wh..opq"));
            }
        });

        List<String> differences = check(source, tampered).differences();

        assertEquals(List.of("/etc/cache/a: not in source", "/etc/cache/b: not in source"),
                differences);
    }

    /**
     * A conversion that merged the layers without applying their whiteouts: the deleted file,
     * the deleted directory and the entries below the opaque directory are back. If the
     * converter's merger had this fault, the builder's reference would have it too, because
     * both come from the same builder and merger. The tree comparison then finds nothing, as
     * the first assertion shows. The overlay reference, merged by the kernel, reports each
     * entry.
     */
    @Test
    void mergeFaultSharedWithBuilderIsReported() throws Exception {
        Path flatTar = concatenate(sourceTars, temp.resolve("flat.tar"));
        ImageReference flatSource = registry.repository("flat/app").tag("v1");
        SeedImage.pushTars(client, flatSource, List.of(flatTar));
        ImageReference faulty = registry.repository("flat/app").tag("v1-nydus");
        convert(flatSource, faulty);
        Bootstrap faultyBootstrap = targetBootstrap(faulty);
        Bootstrap faultyReference = builderReference(flatTar, faultyBootstrap);

        List<String> builderDifferences = TreeDiff.compare(faultyReference.root(),
                faultyBootstrap.root()).differences();
        CheckResult result = check(source, faulty);

        assertEquals(List.of(), builderDifferences);
        assertEquals(CheckResult.Reference.OVERLAY, result.reference());
        List<String> tree = result.differences().stream()
                .filter(line -> line.startsWith("/")).toList();
        assertEquals(List.of("/etc/cache/a: not in source", "/etc/cache/b: not in source",
                "/etc/gone: not in source", "/srv/old/x: not in source"), tree);
    }

    @Test
    void danglingHardLinkNamesEntryAndCleansUp() throws Exception {
        ImageReference broken = registry.repository("dangling/app").tag("v1");
        pushLayered(temp.resolve("dangling"), broken, (layer, dir) -> {
            if (layer == 2) {
                // GNU tar stores the later name as the link, so the target must sort first.
                write(dir.resolve("a-missing/file"), "placeholder\n");
                Files.createLink(dir.resolve("etc/dangling"), dir.resolve("a-missing/file"));
            }
        }, List.of("", "./a-missing/file", LOWER_LINK_PLACEHOLDER));

        IOException e = assertThrows(IOException.class, () -> check(broken, target));

        // The overlay's unpacker rejects the link, and then the builder's reference does.
        assertTrue(e.getMessage().contains("hard link /etc/dangling points to /a-missing/file"),
                e.getMessage());
    }

    /**
     * OCI hides every lower entry below an opaque marker at a layer's root, but overlayfs
     * ignores an opaque root directory, so the reference leaves the lower layers out itself.
     */
    @Test
    void opaqueRootHidesLowerLayers() throws Exception {
        Path first = Files.createDirectories(temp.resolve("opaque-root/first"));
        write(first.resolve("etc/hidden"), "hidden by the opaque root\n");
        Path second = Files.createDirectories(temp.resolve("opaque-root/second"));
        write(second.resolve(".wh..wh..opq"), "");
        write(second.resolve("only"), "the only file\n");
        ImageReference converted = convertTars("opaque-root",
                List.of(archive(first), archive(second)));

        CheckResult result = check(converted.withTag("v1"), converted);

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.OVERLAY, result.reference());
        assertEquals(2, result.entries());
    }

    /**
     * A layer deletes a lower file and then hard-links a new name to it. Whiteouts apply only
     * to lower layers, so the link gets the lower file while the old name stays deleted.
     */
    @Test
    void linkToDeletedLowerFilePasses() throws Exception {
        Path first = Files.createDirectories(temp.resolve("deleted-link/first"));
        write(first.resolve("old"), "lower file\n");
        Path second = Files.createDirectories(temp.resolve("deleted-link/second"));
        write(second.resolve(".wh.old"), "");
        // The stand-in sorts before the link, so GNU tar stores "new" as a link to "old".
        write(second.resolve("old"), "stand-in\n");
        Files.createLink(second.resolve("new"), second.resolve("old"));
        Path secondTar = archive(second);
        run("tar", "--delete", "-f", secondTar.toString(), "./old");
        ImageReference converted = convertTars("deleted-link",
                List.of(archive(first), secondTar));

        CheckResult result = check(converted.withTag("v1"), converted);

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.OVERLAY, result.reference());
        assertEquals(2, result.entries());
    }

    /**
     * With absolute paths, the lowerdir option of 130 layers would pass the kernel's 4096-byte
     * limit on mount options, and the layers' short relative names keep it under 500 bytes.
     */
    @Test
    void manyLayersMountAsOneOverlay() throws Exception {
        List<Path> tars = new ArrayList<>();
        for (int i = 0; i < 130; i++) {
            tars.add(oneFileTar(temp.resolve("many/layer" + i + ".tar"), "files/" + i));
        }
        ImageReference converted = convertTars("many", tars);

        CheckResult result = check(converted.withTag("v1"), converted);

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.OVERLAY, result.reference());
        assertEquals(132, result.entries());
    }

    @Test
    void tooManyLayersUseBuilderReference() throws Exception {
        Path tar = oneFileTar(temp.resolve("too-many/layer.tar"), "files/same");
        ImageReference converted = convertTars("too-many", Collections.nCopies(500, tar));

        CheckResult result = check(converted.withTag("v1"), converted);

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.BUILDER, result.reference());
    }

    @Test
    void sourceWithoutLayersFailsClearly() throws Exception {
        ImageReference empty = registry.repository("empty/app").tag("v1");
        SeedImage.pushTars(client, empty, List.of());

        IOException e = assertThrows(IOException.class, () -> check(empty, target));

        assertTrue(e.getMessage().contains("has no layers, so there is no tree to compare"
                + " with"), e.getMessage());
    }

    /**
     * Linux refuses user.* xattrs on symlinks, so such a layer cannot be unpacked for the
     * overlay, and the builder's reference serves instead of failing the check.
     */
    @Test
    void unpackableLayerFallsBackToBuilder() throws Exception {
        Path tar = temp.resolve("symlink-xattr/layer.tar");
        Files.createDirectories(tar.getParent());
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(
                Files.newOutputStream(tar))) {
            TarArchiveEntry link = new TarArchiveEntry("link", TarArchiveEntry.LF_SYMLINK);
            link.setLinkName("target");
            link.setModTime(MTIME * 1000);
            link.addPaxHeader("SCHILY.xattr.user.note", "on a symlink");
            out.putArchiveEntry(link);
            out.closeArchiveEntry();
        }
        ImageReference converted = convertTars("symlink-xattr", List.of(tar));

        CheckResult result = check(converted.withTag("v1"), converted);

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.BUILDER, result.reference());
    }

    /** Writes a tar of the directory "files" and one file {@code name} in it. */
    private static Path oneFileTar(Path tar, String name) throws IOException {
        Files.createDirectories(tar.getParent());
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(
                Files.newOutputStream(tar))) {
            TarArchiveEntry directory = new TarArchiveEntry("files/");
            directory.setModTime(MTIME * 1000);
            out.putArchiveEntry(directory);
            out.closeArchiveEntry();
            byte[] data = name.getBytes(StandardCharsets.UTF_8);
            TarArchiveEntry file = new TarArchiveEntry(name);
            file.setSize(data.length);
            file.setModTime(MTIME * 1000);
            out.putArchiveEntry(file);
            out.write(data);
            out.closeArchiveEntry();
        }
        return tar;
    }

    /** Pushes {@code tars} as the image NAME/app:v1, converts it and returns the target. */
    private static ImageReference convertTars(String name, List<Path> tars)
            throws IOException {
        ImageReference from = registry.repository(name + "/app").tag("v1");
        ImageReference to = from.withTag("v1-nydus");
        SeedImage.pushTars(client, from, tars);
        convert(from, to);
        return to;
    }

    /** Archives {@code dir} with GNU tar into DIR.tar, every entry with the same mtime. */
    private static Path archive(Path dir) throws IOException {
        run("find", dir.toString(), "-exec", "touch", "-h", "-d", "@" + MTIME, "{}", "+");
        Path tar = Path.of(dir + ".tar");
        run("tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--sort=name",
                "--numeric-owner", "-C", dir.toString(), "-cf", tar.toString(), ".");
        return tar;
    }

    /** Builds the three layers changed by {@code edit}, pushes them and returns the tarballs. */
    private static List<Path> pushLayered(Path dir, ImageReference reference, LayerEdit edit)
            throws IOException {
        return pushLayered(dir, reference, edit, List.of("", "", LOWER_LINK_PLACEHOLDER));
    }

    /**
     * Builds the three layers, deletes the entry named in {@code deletions} (one per layer,
     * empty for none) from each archive, and pushes the image.
     */
    private static List<Path> pushLayered(Path dir, ImageReference reference, LayerEdit edit,
            List<String> deletions) throws IOException {
        List<Path> tars = new ArrayList<>();
        for (int layer = 1; layer <= 3; layer++) {
            Path layerDir = Files.createDirectories(dir.resolve("layer" + layer));
            fillLayer(layer, layerDir);
            // The modes that the umask 022 gives, whatever the umask, because edits change them.
            run("chmod", "-R", "u+rwX,go+rX,go-w", layerDir.toString());
            edit.apply(layer, layerDir);
            Path tar = archive(layerDir);
            String deletion = deletions.get(layer - 1);
            if (!deletion.isEmpty()) {
                run("tar", "--delete", "-f", tar.toString(), deletion);
            }
            tars.add(tar);
        }
        SeedImage.pushTars(client, reference, tars);
        return tars;
    }

    private static void fillLayer(int layer, Path dir) throws IOException {
        switch (layer) {
            case 1 -> {
                write(dir.resolve("etc/config"), "v1\n");
                run("setfattr", "-n", "user.origin", "-v", "first",
                        dir.resolve("etc/config").toString());
                write(dir.resolve("etc/gone"), "deleted by layer 2\n");
                write(dir.resolve("etc/keep"), "kept\n");
                write(dir.resolve("etc/cache/a"), "a");
                write(dir.resolve("etc/cache/b"), "b");
                write(dir.resolve("srv/old/x"), "deleted with its directory\n");
                write(dir.resolve("usr/lib/thing"), "a file first\n");
                byte[] data = new byte[64 << 10];
                new Random(3).nextBytes(data);
                Files.createDirectories(dir.resolve("bin"));
                Files.write(dir.resolve("bin/tool"), data);
                Files.createSymbolicLink(dir.resolve("bin/tool-link"), Path.of("tool"));
            }
            case 2 -> {
                write(dir.resolve("etc/.wh.gone"), "");
                write(dir.resolve("etc/config"), "v2\n");
                run("setfattr", "-n", "user.origin", "-v", "second",
                        dir.resolve("etc/config").toString());
                write(dir.resolve("etc/cache/.wh..wh..opq"), "");
                write(dir.resolve("etc/cache/c"), "c");
                write(dir.resolve("srv/.wh.old"), "");
                write(dir.resolve("usr/lib/thing/inside"), "now a directory\n");
            }
            default -> {
                write(dir.resolve("srv/old/new"), "a new directory of the same name\n");
                write(dir.resolve("usr/lib/thing"), "a file again\n");
                write(dir.resolve("data/empty"), "");
                write(dir.resolve("bin/tool"), "placeholder\n");
                Files.createLink(dir.resolve("bin/tool-again"), dir.resolve("bin/tool"));
            }
        }
    }

    /** Returns one tarball of all entries of {@code tars}, whiteout files included. */
    private static Path concatenate(List<Path> tars, Path output) throws IOException {
        Files.copy(tars.getFirst(), output);
        for (Path tar : tars.subList(1, tars.size())) {
            run("tar", "--concatenate", "-f", output.toString(), tar.toString());
        }
        return output;
    }

    /** Builds a reference from {@code tar} the way the builder-based check builds one. */
    private static Bootstrap builderReference(Path tar, Bootstrap target) throws IOException {
        BuildOptions options = new BuildOptions(Compressor.NONE, target.digester(),
                target.chunkSize(), WhiteoutSpec.NONE, 4, false, true);
        Path bootstrap = temp.resolve("flat-reference.boot");
        try (InputStream in = Files.newInputStream(tar)) {
            new ImageBuilder(options).buildTar(in, tar.toString(), bootstrap,
                    ImageBuilder.BlobTarget.toFile(temp.resolve("flat-reference.blob")));
        }
        Path merged = temp.resolve("flat-reference-merged.boot");
        new ImageMerger().merge(List.of(bootstrap), merged);
        return BootstrapReader.read(merged);
    }

    private static Bootstrap targetBootstrap(ImageReference reference) throws IOException {
        Manifest manifest = client.getManifest(reference).toManifest();
        Descriptor layer = manifest.layers().getLast();
        byte[] blob;
        try (InputStream in = client.getBlob(reference.toRepository(), layer.digest(),
                layer.size())) {
            blob = in.readAllBytes();
        }
        Path file = temp.resolve(reference.tag() + ".boot");
        Files.write(file, ConverterTest.untar(ConverterTest.gunzip(blob))
                .get("image/image.boot"));
        return BootstrapReader.read(file);
    }

    private static ImageReference convertVariant(String name, LayerEdit edit)
            throws IOException {
        ImageReference variant = registry.repository("variant/" + name).tag("v1");
        ImageReference converted = registry.repository("variant/" + name).tag("v1-nydus");
        pushLayered(temp.resolve("variant-" + name), variant, edit);
        convert(variant, converted);
        return converted;
    }

    private static void convert(ImageReference from, ImageReference to) throws IOException {
        ConvertOptions options = ConvertOptions.defaults(from, to)
                .withWorkDir(temp.resolve("convert-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64"));
        new Converter(client, client).convert(options);
    }

    private static CheckResult check(ImageReference from, ImageReference to)
            throws IOException {
        return new ImageCheck(client, client).check(options(from, to));
    }

    private static CheckOptions options(ImageReference from, ImageReference to) {
        return CheckOptions.defaults(from, to).withWorkDir(temp.resolve("check-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64"));
    }

    /** Returns the lines of /proc/mounts of overlay mounts that this test's checks made. */
    private static List<String> overlayMounts() throws IOException {
        return Files.readAllLines(Path.of("/proc/mounts")).stream()
                .filter(line -> line.startsWith("nydusify-check ")
                        && line.contains(temp.path().toString())).toList();
    }
}
