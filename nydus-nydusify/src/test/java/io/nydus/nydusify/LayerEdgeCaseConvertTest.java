package io.nydus.nydusify;

import static io.nydus.nydusify.SeedImage.run;
import static io.nydus.nydusify.SeedImage.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.nydus.builder.BlockExporter;
import io.nydus.builder.Unpacker;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.Repository;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Converts a four-layer image whose layers use the OCI layer rules that simple images leave
 * out, compares the converted image, unpacked by the project's reader, with the twin image
 * unpacked by umoci, and runs {@link ImageCheck} on it.
 *
 * <p>The first layer is two concatenated gzip members with the FEXTRA, FNAME, FCOMMENT and
 * FHCRC header fields. Besides plain files it has a hard-linked symlink, a file capability, a
 * sparse file, a name that is not valid UTF-8, a path longer than 100 bytes, a FIFO and a
 * character device.
 *
 * <p>The second layer is zstd: two frames with skippable frames around them. It deletes a file
 * and a directory, and makes a directory opaque that has an entry before the marker. It stores
 * the opaque marker and a whiteout as hard links. It turns a file into a directory and two
 * directories into a file and a symlink, and it hard-links files of the first layer.
 *
 * <p>The third layer is a plain tar. It re-creates the deleted directory, turns the changed
 * paths back, deletes and re-creates two directories in the same layer (one whiteout comes
 * before the new entries, one after them), deletes one name of a hard link group, replaces
 * another. It hard-links files of the lower layers: a regular file, an empty file, a
 * second-layer link, a symlink, a FIFO and a device. One more link entry, written with
 * commons-compress, links to one of those link entries.
 *
 * <p>The fourth layer, gzipped by the gzip tool, lists its entries in reverse order, children
 * before their parent directories, and changes the root directory's mode and xattrs.
 *
 * <p>GNU tar writes every layer, and {@link LowerLinks} makes the links into lower layers.
 * The twin image has the same tarballs, gzipped by {@code umoci raw add-layer}, because umoci
 * reads no zstd. Every layer lists its parent directories, so no directory gets the made-up
 * metadata that the builder gives a parent directory that a layer leaves out.
 */
class LayerEdgeCaseConvertTest {
    private static final long FIRST_MTIME = 1_700_000_000L;
    private static final long SECOND_MTIME = 1_700_100_000L;
    private static final long THIRD_MTIME = 1_700_200_000L;
    private static final long FOURTH_MTIME = 1_700_300_000L;
    private static final String LONG_PATH = "usr/share/" + "long-directory-name/".repeat(5)
            + "file-with-a-long-name.txt";

    /** A layer tarball, its compressed blob as pushed, and the blob's media type. */
    private record Layer(Path tar, byte[] blob, String mediaType) {
    }

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;
    private static ImageReference source;
    private static ImageReference target;
    private static Path bootstrap;
    private static Path blobDir;
    private static Path converted;
    private static Path umociRootfs;

    @BeforeAll
    static void convertImage() throws Exception {
        temp = TempDirs.create("layer-edge-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
        source = registry.repository("edge/app").tag("v1");
        target = registry.repository("edge/app").tag("v1-nydus");

        List<Layer> layers = List.of(firstLayer(), secondLayer(), thirdLayer(), fourthLayer());
        push(layers);
        ConvertOptions options = ConvertOptions.defaults(source, target)
                .withWorkDir(temp.resolve("convert-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64"));
        new Converter(client, client).convert(options);
        converted = unpackConverted();
        umociRootfs = umociUnpack(layers);
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        if (client != null) {
            client.close();
        }
        if (registry != null) {
            registry.close();
        }
        if (temp != null) {
            temp.close();
        }
    }

    @Test
    void foreignLayerNamesItsUrls() throws Exception {
        String url = "http://127.0.0.1:9/layers/base.tar.gz";
        try (TempDir dir = TempDirs.create("foreign-");
                RegistryServer foreign = RegistryServer.start(dir, "", """
                        validation:
                          manifests:
                            urls:
                              allow:
                                - '^http://127\\.0\\.0\\.1'
                        """)) {
            ImageReference image = foreign.repository("foreign/app").tag("v1");
            byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":"
                    + "{\"type\":\"layers\",\"diff_ids\":[\"sha256:" + "1".repeat(64) + "\"]}}")
                    .getBytes(StandardCharsets.UTF_8);
            client.pushBlob(image.toRepository(), Digest.of(config), config.length,
                    BlobSource.of(config));
            Digest layer = Digest.of("never stored".getBytes(StandardCharsets.UTF_8));
            String manifest = """
                    {"schemaVersion":2,"mediaType":"%s",
                     "config":{"mediaType":"%s","digest":"%s","size":%d},
                     "layers":[{"mediaType":"%s","digest":"%s","size":12,"urls":["%s"]}]}
                    """.formatted(MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_CONFIG,
                    Digest.of(config), config.length,
                    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", layer, url);
            client.putManifest(image, manifest.getBytes(StandardCharsets.UTF_8),
                    MediaTypes.DOCKER_MANIFEST);
            ConvertOptions options = ConvertOptions.defaults(image,
                    foreign.repository("foreign/app").tag("v1-nydus"))
                    .withWorkDir(dir.resolve("work"))
                    .withPlatform(PlatformSpec.parse("linux/amd64"));

            IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                    () -> new Converter(client, client).convert(options));

            assertTrue(e.getMessage().contains(layer.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("non-distributable"), e.getMessage());
            assertTrue(e.getMessage().contains(url), e.getMessage());
        }
    }

    @Test
    void unpackedTreeEqualsUmociUnpack() throws IOException {
        TreeComparator.assertSameTree(TreeSnapshot.capture(umociRootfs),
                TreeSnapshot.capture(converted), TreeComparator.Options.defaults());
    }

    @Test
    void reversedImageEqualsUmociUnpack() throws IOException {
        Path layout = temp.resolve("reversed-layout");
        ReverseOptions options = ReverseOptions.defaults(ImageLocation.registry(target),
                ImageLocation.layout(layout, "reversed"))
                .withPlatforms(List.of(PlatformSpec.parse("linux/amd64")))
                .withWorkDir(temp.resolve("reverse-work"));

        new ReverseConverter(client, client).reverse(options);

        Path bundle = temp.resolve("reversed-bundle");
        run("umoci", "unpack", "--image", layout + ":reversed", bundle.toString());
        // The reversed third layer also has the entry var/-dir/ before the whiteout
        // var/.wh.-dir, so umoci leaves the unpack time as that mtime, as for the twin.
        run("touch", "-h", "-d", "@" + THIRD_MTIME, bundle.resolve("rootfs/var/-dir")
                .toString());
        TreeComparator.assertSameTree(TreeSnapshot.capture(umociRootfs),
                TreeSnapshot.capture(bundle.resolve("rootfs")),
                TreeComparator.Options.defaults());
    }

    @Test
    void kernelMountEqualsUmociUnpack() throws IOException {
        Path image = temp.resolve("image.erofs");
        BlockExporter.export(bootstrap, blobDir, image);
        try (KernelErofs mount = KernelErofs.mount(image,
                Files.createDirectories(temp.resolve("mnt")))) {
            TreeComparator.assertSameTree(TreeSnapshot.capture(umociRootfs),
                    TreeSnapshot.capture(mount.mountPoint()), TreeComparator.Options.defaults());
        }
    }

    @Test
    void imageCheckPasses() throws IOException {
        CheckOptions options = CheckOptions.defaults(source, target)
                .withWorkDir(temp.resolve("check-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64"));

        CheckResult result = new ImageCheck(client, client).check(options);

        assertEquals(List.of(), result.differences());
        assertTrue(result.passed());
        assertEquals(CheckResult.Reference.OVERLAY, result.reference());
        assertTrue(result.bytesVerified() >= 3 << 20, "bytes " + result.bytesVerified());
    }

    @Test
    void builderReferenceCheckPasses() throws IOException {
        CheckOptions options = CheckOptions.defaults(source, target)
                .withWorkDir(temp.resolve("check-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64"));

        CheckResult result = new ImageCheck(client, client).withBuilderReference()
                .check(options);

        assertEquals(List.of(), result.differences());
        assertEquals(CheckResult.Reference.BUILDER, result.reference());
    }

    // The tests below check each case on both trees, so a case that the layers fail to set
    // up shows in the umoci tree too, and not only as a difference between the trees.

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void whiteoutsDeleteLowerEntries(String tree) {
        Path root = root(tree);
        assertFalse(exists(root.resolve("etc/gone")), "etc/gone");
        assertFalse(exists(root.resolve("var/log")), "var/log, whiteout stored as hard link");
        assertTrue(exists(root.resolve("etc/keep")), "etc/keep");
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void opaqueDirectoryHidesLowerEntries(String tree) throws IOException {
        Path app = root(tree).resolve("opt/app");
        assertEquals(List.of("-early.txt", "new.txt"), names(app));
        assertEquals("second", xattr(app, "user.dir"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void deletedDirectoryIsRecreated(String tree) throws IOException {
        Path recreated = root(tree).resolve("srv/gone");
        assertEquals(List.of("new.txt"), names(recreated));
        assertEquals("0750", mode(recreated));
        assertEquals("again", xattr(recreated, "user.state"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void typeChangesTurnBack(String tree) throws IOException {
        Path root = root(tree);
        assertEquals("file again\n", Files.readString(root.resolve("usr/lib/thing")));
        assertEquals(List.of("back"), names(root.resolve("usr/share/flip")));
        assertEquals(Path.of("usr/lib"), Files.readSymbolicLink(root.resolve("lib64")));
        assertEquals(List.of("inside"), names(root.resolve("opt/link")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void directoryDeletedAndRecreatedInOneLayer(String tree) throws IOException {
        assertEquals(List.of("fresh"), names(root(tree).resolve("var/cache")));
        assertEquals(List.of("fresh"), names(root(tree).resolve("var/-dir")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void hardlinksReachLowerLayers(String tree) throws IOException {
        Path root = root(tree);
        assertFalse(exists(root.resolve("bin/tool")), "bin/tool");
        assertEquals(inode(root.resolve("bin/tool-hard")), inode(root.resolve("bin/tool-again")));
        assertEquals(inode(root.resolve("bin/tool-hard")), inode(root.resolve("bin/tool-third")));
        assertEquals(inode(root.resolve("bin/tool-hard")), inode(root.resolve("bin/tool-fourth")));
        assertEquals(4, nlink(root.resolve("bin/tool-again")));
        assertEquals(3 << 20, Files.size(root.resolve("bin/tool-third")));
        assertEquals(inode(root.resolve("etc/config")), inode(root.resolve("etc/config-link")));
        assertEquals(inode(root.resolve("etc/config")), inode(root.resolve("etc/motd")));
        assertEquals(3, nlink(root.resolve("etc/config")));
        assertEquals("v2\n", Files.readString(root.resolve("etc/motd")));
        assertEquals("second", xattr(root.resolve("etc/config-link"), "user.origin"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void replacedNameLeavesLinkGroup(String tree) throws IOException {
        Path lib = root(tree).resolve("usr/lib");
        assertEquals("version 2\n", Files.readString(lib.resolve("libx.so.1")));
        assertEquals(1, nlink(lib.resolve("libx.so.1")));
        assertEquals(inode(lib.resolve("libx.so")), inode(lib.resolve("libx.so.1-again")));
        assertEquals(2, nlink(lib.resolve("libx.so.1-again")));
        assertEquals("version 1\n", Files.readString(lib.resolve("libx.so.1-again")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void hardlinksReachSymlinkAndFifo(String tree) throws IOException {
        Path root = root(tree);
        Path again = root.resolve("bin/sh-again");
        assertTrue(Files.isSymbolicLink(again), "bin/sh-again is a symlink");
        assertEquals(Path.of("tool"), Files.readSymbolicLink(again));
        assertEquals(inode(root.resolve("bin/sh")), inode(again));
        assertEquals(3, nlink(again));
        assertEquals(inode(root.resolve("run/fifo")), inode(root.resolve("run/fifo-again")));
        assertEquals(0010000, fileType(root.resolve("run/fifo-again")), "FIFO type bits");
        assertEquals(inode(root.resolve("dev/zero")), inode(root.resolve("dev/zero-again")));
        assertEquals(0020000, fileType(root.resolve("dev/zero-again")), "device type bits");
        assertEquals(inode(root.resolve("etc/empty")), inode(root.resolve("etc/empty-again")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void reversedLayerSetsDirectories(String tree) throws IOException {
        Path root = root(tree);
        assertEquals("0700", mode(root.resolve("opt/late")));
        assertEquals(FOURTH_MTIME, mtime(root.resolve("opt/late")));
        assertEquals(FOURTH_MTIME, mtime(root.resolve("opt")));
        assertEquals("late\n", Files.readString(root.resolve("opt/late/dir/file")));
        assertEquals("0711", mode(root));
        assertEquals("reversed", xattr(root, "user.root"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void unusualFilesSurvive(String tree) throws IOException {
        Path root = root(tree);
        assertEquals(root.resolve("usr/bin/ping") + " cap_net_raw=ep",
                Commands.run(List.of("getcap", root.resolve("usr/bin/ping").toString()),
                        SeedImage.TIMEOUT).stdoutText().strip());
        Path sparse = root.resolve("usr/share/sparse");
        assertEquals(8 << 20, Files.size(sparse));
        assertEquals("middle", Commands.run(List.of("dd", "if=" + sparse, "bs=1",
                "skip=4000000", "count=6", "status=none"), SeedImage.TIMEOUT).stdoutText());
        assertEquals(0, Commands.runAllowingFailure(List.of("sh", "-c",
                "test -f \"$1\"/\"$(printf 'caf\\351')\"", "sh",
                root.resolve("usr/share").toString()), SeedImage.TIMEOUT, new byte[0])
                .exitCode(), "usr/share has the name caf\\351");
        assertTrue(exists(root.resolve(LONG_PATH)), "long path");
    }

    @ParameterizedTest
    @ValueSource(strings = {"nydus", "umoci"})
    void noWhiteoutNameRemains(String tree) throws IOException {
        try (Stream<Path> paths = Files.walk(root(tree))) {
            List<String> whiteouts = paths.map(p -> p.getFileName().toString())
                    .filter(name -> name.startsWith(".wh.")).toList();
            assertEquals(List.of(), whiteouts);
        }
    }

    /**
     * Returns the first layer, in two gzip members with header fields. It has the paths that
     * the upper layers change, among them the 3 MiB file {@code bin/tool}, and files with
     * xattrs, owners, special modes and the other traits that the class comment lists.
     */
    private static Layer firstLayer() throws IOException {
        Path layer = layerDirectory("first");
        byte[] big = new byte[3 << 20];
        new Random(11).nextBytes(big);
        Files.createDirectories(layer.resolve("bin"));
        Files.write(layer.resolve("bin/tool"), big);
        run("chmod", "0755", layer.resolve("bin/tool").toString());
        setXattr(layer.resolve("bin/tool"), "user.size", "big");
        Files.createLink(layer.resolve("bin/tool-hard"), layer.resolve("bin/tool"));
        Files.createSymbolicLink(layer.resolve("bin/sh"), Path.of("tool"));
        run("ln", "-P", layer.resolve("bin/sh").toString(), layer.resolve("bin/sh-hard")
                .toString());

        setXattr(write(layer.resolve("etc/config"), "v1\n"), "user.origin", "first");
        write(layer.resolve("etc/gone"), "deleted by the second layer\n");
        write(layer.resolve("etc/keep"), "kept\n");
        write(layer.resolve("etc/empty"), "");
        write(layer.resolve("etc/motd"), "replaced by a link in the third layer\n");
        write(layer.resolve("usr/lib/libx.so.1"), "version 1\n");
        Files.createLink(layer.resolve("usr/lib/libx.so"), layer.resolve("usr/lib/libx.so.1"));
        write(layer.resolve("opt/app/a.txt"), "hidden by the opaque marker\n");
        write(layer.resolve("opt/app/sub/b.txt"), "hidden too\n");
        setXattr(layer.resolve("opt/app"), "user.dir", "first");
        write(layer.resolve("srv/gone/old.txt"), "deleted with its directory\n");
        write(layer.resolve("srv/gone/deep/x"), "x\n");
        write(layer.resolve("usr/lib/thing"), "a file first\n");
        write(layer.resolve("usr/share/flip/inner"), "a directory first\n");
        write(layer.resolve("var/log/messages"), "deleted by a linked whiteout\n");
        write(layer.resolve("var/cache/old"), "replaced in the third layer\n");
        write(layer.resolve("var/-dir/old"), "replaced in the third layer\n");
        write(layer.resolve("lib64/ld.so"), "a directory that becomes a symlink\n");
        Files.createSymbolicLink(layer.resolve("opt/link"), Path.of("app"));
        write(layer.resolve(LONG_PATH), "a path longer than the 100 bytes of a tar header\n");
        write(layer.resolve("usr/bin/setuid"), "#!/bin/sh\n");
        run("chmod", "4755", layer.resolve("usr/bin/setuid").toString());
        // A file capability is a binary security.capability xattr.
        write(layer.resolve("usr/bin/ping"), "#!/bin/sh\n");
        run("setcap", "cap_net_raw+ep", layer.resolve("usr/bin/ping").toString());
        // 8 MiB with 6 bytes of data, which tar --sparse stores as a PAX sparse entry.
        run("truncate", "-s", "8M", layer.resolve("usr/share/sparse").toString());
        run("sh", "-c", "printf middle | dd of=\"$1\" bs=1 seek=4000000 conv=notrunc"
                + " status=none", "sh", layer.resolve("usr/share/sparse").toString());
        // The byte 0xE9 (e acute in Latin-1) makes a name that is not valid UTF-8.
        run("sh", "-c", "touch \"$1\"/\"$(printf 'caf\\351')\"", "sh",
                layer.resolve("usr/share").toString());
        write(layer.resolve("home/user/.profile"), "export A=1\n");
        run("chown", "-R", "1000:1000", layer.resolve("home/user").toString());
        run("chmod", "0600", layer.resolve("home/user/.profile").toString());
        Files.createDirectories(layer.resolve("tmp"));
        Files.createDirectories(layer.resolve("run"));
        Files.createDirectories(layer.resolve("dev"));
        run("mkfifo", layer.resolve("run/fifo").toString());
        run("mknod", layer.resolve("dev/zero").toString(), "c", "1", "5");
        setMtimes(layer, FIRST_MTIME);
        run("chmod", "1777", layer.resolve("tmp").toString());
        run("touch", "-h", "-d", "@" + FIRST_MTIME + ".123456789",
                layer.resolve("etc/keep").toString());

        Path tar = archive(layer);
        byte[] bytes = Files.readAllBytes(tar);
        byte[] gzip = LayerCompression.gzipTwoMembers(bytes, bytes.length / 2 + 123,
                "first.tar");
        assertArrayEquals(bytes, Commands.run(List.of("gzip", "-dc"), SeedImage.TIMEOUT, gzip)
                .stdout(), "gzip -dc of the two-member layer");
        return new Layer(tar, gzip, MediaTypes.OCI_LAYER_GZIP);
    }

    /** Returns the second layer, in two zstd frames with skippable frames around them. */
    private static Layer secondLayer() throws IOException {
        Path layer = layerDirectory("second");
        LowerLinks lowerLinks = new LowerLinks(layer);
        // GNU tar stores a second name of a file as a hard link entry, so the opaque marker
        // becomes a link to the whiteout etc/.wh.gone.
        Path whiteout = write(layer.resolve("etc/.wh.gone"), "");
        Files.createDirectories(layer.resolve("opt/app"));
        Files.createLink(layer.resolve("opt/app/.wh..wh..opq"), whiteout);
        // A whiteout is only a name, so its link target must not be looked up. This one
        // names srv/gone, a directory of the first layer that this layer deletes.
        write(layer.resolve("srv/.wh.gone"), "");
        lowerLinks.add("var/.wh.log", "srv/gone");
        write(layer.resolve("opt/app/new.txt"), "after the opaque marker\n");
        // "-" sorts before ".", so this entry precedes the opaque marker in the archive.
        write(layer.resolve("opt/app/-early.txt"), "before the opaque marker\n");
        setXattr(layer.resolve("opt/app"), "user.dir", "second");
        setXattr(write(layer.resolve("etc/config"), "v2\n"), "user.origin", "second");
        write(layer.resolve("usr/lib/thing/inside"), "now a directory\n");
        write(layer.resolve("usr/share/flip"), "now a file\n");
        Files.createSymbolicLink(layer.resolve("lib64"), Path.of("usr/lib"));
        lowerLinks.add("bin/tool-again", "bin/tool");
        lowerLinks.add("usr/lib/libx.so.1-again", "usr/lib/libx.so.1");
        setMtimes(layer, SECOND_MTIME);

        Path tar = archive(layer);
        lowerLinks.deletePlaceholders(tar);
        assertLinkEntry(tar, "opt/app/.wh..wh..opq", "etc/.wh.gone");
        int split = (int) Files.size(tar) / 3;
        byte[] zstd = LayerCompression.zstdTwoFrames(tar, split, layer.getParent());
        assertArrayEquals(Files.readAllBytes(tar), Commands.run(List.of("zstd", "-dc"),
                SeedImage.TIMEOUT, zstd).stdout(), "zstd -dc of the layer with skippable frames");
        return new Layer(tar, zstd, MediaTypes.OCI_LAYER_ZSTD);
    }

    /** Returns the third layer, as a plain tar. */
    private static Layer thirdLayer() throws IOException {
        Path layer = layerDirectory("third");
        LowerLinks lowerLinks = new LowerLinks(layer);
        write(layer.resolve("srv/gone/new.txt"), "a new directory of the same name\n");
        setXattr(layer.resolve("srv/gone"), "user.state", "again");
        write(layer.resolve("usr/lib/thing"), "file again\n");
        write(layer.resolve("usr/share/flip/back"), "directory again\n");
        write(layer.resolve("var/.wh.cache"), "");
        write(layer.resolve("var/cache/fresh"), "made after the whiteout\n");
        // Here the re-created directory precedes its whiteout in the archive.
        write(layer.resolve("var/.wh.-dir"), "");
        write(layer.resolve("var/-dir/fresh"), "made before the whiteout\n");
        write(layer.resolve("opt/link/inside"), "a symlink that became a directory\n");
        write(layer.resolve("bin/.wh.tool"), "");
        // etc/motd of the first layer becomes another name of the second layer's etc/config.
        lowerLinks.add("etc/config-link", "etc/config");
        lowerLinks.add("etc/motd", "etc/config");
        lowerLinks.add("bin/tool-third", "bin/tool-again");
        lowerLinks.add("bin/sh-again", "bin/sh");
        lowerLinks.add("run/fifo-again", "run/fifo");
        lowerLinks.add("dev/zero-again", "dev/zero");
        lowerLinks.add("etc/empty-again", "etc/empty");
        // A new file replaces one name of the link group that the second layer extended.
        write(layer.resolve("usr/lib/libx.so.1"), "version 2\n");
        setMtimes(layer, THIRD_MTIME);
        run("chmod", "0750", layer.resolve("srv/gone").toString());

        Path tar = archive(layer);
        lowerLinks.deletePlaceholders(tar);
        appendLinkEntry(tar, "bin/tool-fourth", "bin/tool-third");
        return new Layer(tar, Files.readAllBytes(tar), MediaTypes.OCI_LAYER_TAR);
    }

    /**
     * Hard links of a layer whose targets lie in lower layers, so that the layer's archive
     * has no entry for the target. GNU tar writes a link entry only for a later name of a file
     * whose first name is in the same archive. So each link is made to a placeholder regular
     * file, which must sort before the link's name, and the placeholder's entry is deleted
     * from the archive with {@code tar --delete}. A link entry stores only its target's name,
     * so the placeholder's type does not matter, and GNU tar writes no link entries for a
     * FIFO's names anyway.
     */
    private static final class LowerLinks {
        private final Path layer;
        private final Map<String, String> targets = new LinkedHashMap<>();

        LowerLinks(Path layer) {
            this.layer = layer;
        }

        void add(String name, String target) throws IOException {
            Path placeholder = layer.resolve(target);
            if (!exists(placeholder)) {
                write(placeholder, "placeholder\n");
            }
            Files.createDirectories(layer.resolve(name).getParent());
            Files.createLink(layer.resolve(name), placeholder);
            targets.put(name, target);
        }

        /** Deletes the placeholders' entries and checks that each link entry remains. */
        void deletePlaceholders(Path tar) throws IOException {
            List<String> argv = new ArrayList<>(List.of("tar", "--delete", "-f", tar.toString()));
            targets.values().stream().distinct().map(t -> "./" + t).forEach(argv::add);
            run(argv.toArray(String[]::new));
            for (Map.Entry<String, String> link : targets.entrySet()) {
                assertLinkEntry(tar, link.getKey(), link.getValue());
            }
        }
    }

    /**
     * Appends a hard link entry to {@code tar} with {@code tar --concatenate}. Its target may
     * be a link entry itself, which GNU tar never writes because it links every later name to
     * the first.
     */
    private static void appendLinkEntry(Path tar, String name, String target) throws IOException {
        Path extra = Path.of(tar + ".extra");
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(
                Files.newOutputStream(extra))) {
            TarArchiveEntry entry = new TarArchiveEntry("./" + name, TarConstants.LF_LINK);
            entry.setLinkName("./" + target);
            entry.setMode(0100644);
            entry.setModTime(THIRD_MTIME * 1000);
            out.putArchiveEntry(entry);
            out.closeArchiveEntry();
        }
        run("tar", "--concatenate", "-f", tar.toString(), extra.toString());
        assertLinkEntry(tar, name, target);
    }

    private static void assertLinkEntry(Path tar, String name, String target) throws IOException {
        try (TarArchiveInputStream in = new TarArchiveInputStream(Files.newInputStream(tar))) {
            TarArchiveEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                if (entry.getName().equals("./" + name)) {
                    assertTrue(entry.isLink(), tar + ": " + name + " is a hard link entry");
                    assertEquals("./" + target, entry.getLinkName(), tar + ": " + name);
                    return;
                }
            }
        }
        fail(tar + " has no entry " + name);
    }

    /**
     * Returns a layer whose entries come in reverse name order, children before their parent
     * directories, gzipped by the gzip tool. It also changes the root directory's mode and
     * xattrs.
     */
    private static Layer fourthLayer() throws IOException {
        Path layer = layerDirectory("reversed");
        write(layer.resolve("opt/late/dir/file"), "late\n");
        setXattr(layer, "user.root", "reversed");
        setMtimes(layer, FOURTH_MTIME);
        run("chmod", "0700", layer.resolve("opt/late").toString());
        run("chmod", "0711", layer.toString());

        Path list = Path.of(layer + ".list");
        Files.write(list, List.of("./opt/late/dir/file", "./opt/late/dir", "./opt/late",
                "./opt", "."));
        Path tar = Path.of(layer + ".tar");
        run("tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                "--no-recursion", "-C", layer.toString(), "-T", list.toString(), "-cf",
                tar.toString());
        assertEquals(List.of("./opt/late/dir/file", "./opt/late/dir/", "./opt/late/", "./opt/",
                "./"), Commands.run(List.of("tar", "-tf", tar.toString()), SeedImage.TIMEOUT)
                .stdoutText().lines().toList(), "entry order of " + tar);
        run("gzip", "-n", "-k", tar.toString());
        return new Layer(tar, Files.readAllBytes(Path.of(tar + ".gz")), MediaTypes.OCI_LAYER_GZIP);
    }

    private static Path layerDirectory(String name) throws IOException {
        return Files.createDirectories(temp.resolve("layers").resolve(name));
    }

    private static Path archive(Path layer) throws IOException {
        Path tar = Path.of(layer + ".tar");
        run("tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--sparse",
                "--sort=name", "--numeric-owner", "-C", layer.toString(), "-cf",
                tar.toString(), ".");
        return tar;
    }

    private static void setMtimes(Path layer, long seconds) throws IOException {
        run("find", layer.toString(), "-exec", "touch", "-h", "-d", "@" + seconds, "{}", "+");
    }

    private static Path setXattr(Path file, String name, String value) throws IOException {
        run("setfattr", "-n", name, "-v", value, file.toString());
        return file;
    }

    /** Pushes the layers with their media types, a config with their diff ids and a manifest. */
    private static void push(List<Layer> layers) throws IOException {
        Repository repository = source.toRepository();
        List<Descriptor> descriptors = new ArrayList<>();
        List<String> diffIds = new ArrayList<>();
        for (Layer layer : layers) {
            Digest digest = Digest.of(layer.blob());
            client.pushBlob(repository, digest, layer.blob().length, BlobSource.of(layer.blob()));
            descriptors.add(Descriptor.of(layer.mediaType(), digest, layer.blob().length));
            diffIds.add("\"" + SeedImage.sha256(layer.tar()) + "\"");
        }
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                + "\"layers\",\"diff_ids\":[" + String.join(",", diffIds) + "]}}")
                .getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
        Manifest manifest = new Manifest(2, MediaTypes.OCI_MANIFEST, null,
                Descriptor.of(MediaTypes.OCI_CONFIG, configDigest, config.length), descriptors,
                null, Map.of(), Map.of());
        client.putManifest(source, ManifestContent.of(manifest));
    }

    /**
     * Downloads the converted image's blobs to {@link #blobDir} and its bootstrap to
     * {@link #bootstrap}, and unpacks them with Unpacker.
     */
    private static Path unpackConverted() throws IOException {
        Manifest manifest = client.getManifest(target).toManifest();
        List<Descriptor> layers = manifest.layers();
        blobDir = Files.createDirectories(temp.resolve("nydus-blobs"));
        for (Descriptor layer : layers.subList(0, layers.size() - 1)) {
            Files.write(blobDir.resolve(layer.digest().hex()), blob(layer));
        }
        Map<String, byte[]> files = ConverterTest.untar(ConverterTest.gunzip(
                blob(layers.getLast())));
        bootstrap = temp.resolve("image.boot");
        Files.write(bootstrap, files.get("image/image.boot"));
        Path unpacked = temp.resolve("nydus-rootfs");
        Unpacker.unpackToDirectory(bootstrap, blobDir, unpacked);
        return unpacked;
    }

    private static byte[] blob(Descriptor descriptor) throws IOException {
        try (InputStream in = client.getBlob(target.toRepository(), descriptor.digest(),
                descriptor.size())) {
            return in.readAllBytes();
        }
    }

    /** Unpacks the twin image, whose layers are the same tarballs gzipped, with umoci. */
    private static Path umociUnpack(List<Layer> layers) throws IOException {
        Path layout = temp.resolve("umoci-layout");
        String image = layout + ":twin";
        run("umoci", "init", "--layout", layout.toString());
        run("umoci", "new", "--image", image);
        for (Layer layer : layers) {
            run("umoci", "raw", "add-layer", "--image", image, layer.tar().toString());
        }
        Path bundle = temp.resolve("umoci-bundle");
        run("umoci", "unpack", "--image", image, bundle.toString());
        Path rootfs = bundle.resolve("rootfs");
        // When the whiteout var/.wh.-dir follows the same layer's var/-dir/ entry, umoci
        // 0.4.7 keeps the new directory, as the OCI rules require, but leaves the time of the
        // unpack as its mtime. The layer's entry gives the mtime that an unpack should leave.
        run("touch", "-h", "-d", "@" + THIRD_MTIME, rootfs.resolve("var/-dir").toString());
        return rootfs;
    }

    private static Path root(String tree) {
        return tree.equals("nydus") ? converted : umociRootfs;
    }

    private static boolean exists(Path path) {
        return Files.exists(path, LinkOption.NOFOLLOW_LINKS);
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> children = Files.list(dir)) {
            return children.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static Object inode(Path file) throws IOException {
        return Files.getAttribute(file, "unix:ino", LinkOption.NOFOLLOW_LINKS);
    }

    private static int nlink(Path file) throws IOException {
        return (Integer) Files.getAttribute(file, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
    }

    private static int fileType(Path file) throws IOException {
        return (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS)
                & 0170000;
    }

    private static long mtime(Path file) throws IOException {
        return Files.getLastModifiedTime(file, LinkOption.NOFOLLOW_LINKS).toMillis() / 1000;
    }

    private static String mode(Path file) throws IOException {
        int mode = (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return String.format("%04o", mode & 07777);
    }

    private static String xattr(Path file, String name) throws IOException {
        return Commands.run(List.of("getfattr", "--only-values", "-n", name, file.toString()),
                SeedImage.TIMEOUT).stdoutText();
    }
}
