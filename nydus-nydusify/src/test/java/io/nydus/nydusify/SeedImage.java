package io.nydus.nydusify;

import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.Repository;
import io.nydus.testkit.Commands;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * An OCI image that a test builds from directories: each layer is archived with GNU tar (PAX,
 * with xattrs), gzipped and pushed with {@link RegistryClient}, and also applied to an
 * {@code expected} directory as an OCI unpack applies it: whiteouts and opaque markers delete
 * what lower layers left, and {@code .wh.} names are never extracted.
 */
public final class SeedImage {
    public static final Duration TIMEOUT = Duration.ofSeconds(120);
    /**
     * Config fields after rootfs, as Go's encoder writes them: {@code &}, {@code <} and
     * {@code >} escaped, and a number whose text a re-encoding would change.
     */
    public static final String CONFIG_TAIL = "\"x-vendor\":{\"ratio\":1.50,\"note\":"
            + "\"a \\u0026\\u0026 b \\u003e c\"}";
    private static final String OPAQUE = ".wh..wh..opq";
    private static final String WHITEOUT = ".wh.";

    private final Path dir;
    private final Path expected;
    private final List<Path> tars = new ArrayList<>();
    private final List<Path> gzips = new ArrayList<>();

    public SeedImage(Path dir) throws IOException {
        this.dir = dir;
        this.expected = Files.createDirectories(dir.resolve("expected"));
    }

    /**
     * Returns an image of three layers. The first has files with an xattr, a hard link, a
     * symlink and a 3 MiB file. The second has a whiteout, an opaque directory and a changed
     * xattr. The third has no file data.
     */
    public static SeedImage threeLayers(Path dir) throws IOException {
        SeedImage seed = new SeedImage(dir);
        Path one = seed.newLayerDirectory();
        write(one.resolve("etc/config"), "v1\n");
        run("setfattr", "-n", "user.origin", "-v", "layer1", one.resolve("etc/config")
                .toString());
        write(one.resolve("etc/gone"), "deleted by layer 2\n");
        write(one.resolve("etc/cache/a"), "a");
        write(one.resolve("etc/cache/b"), "b");
        byte[] big = new byte[3 << 20];
        new Random(7).nextBytes(big);
        Files.createDirectories(one.resolve("bin"));
        Files.write(one.resolve("bin/tool"), big);
        Files.createLink(one.resolve("bin/tool-hard"), one.resolve("bin/tool"));
        Files.createSymbolicLink(one.resolve("bin/tool-link"), Path.of("tool"));
        Files.createDirectories(one.resolve("var/empty"));
        seed.addLayer(one);

        Path two = seed.newLayerDirectory();
        write(two.resolve("etc/.wh.gone"), "");
        write(two.resolve("etc/config"), "v2\n");
        run("setfattr", "-n", "user.origin", "-v", "layer2", two.resolve("etc/config")
                .toString());
        write(two.resolve("etc/cache/.wh..wh..opq"), "");
        write(two.resolve("etc/cache/c"), "c");
        write(two.resolve("usr/share/doc/readme"), "read me\n");
        Files.createLink(two.resolve("usr/share/doc/readme-hard"),
                two.resolve("usr/share/doc/readme"));
        seed.addLayer(two);

        Path three = seed.newLayerDirectory();
        Files.createDirectories(three.resolve("data"));
        Files.createSymbolicLink(three.resolve("data/config-link"), Path.of("/etc/config"));
        write(three.resolve("bin/.wh.tool-hard"), "");
        write(three.resolve("data/empty"), "");
        seed.addLayer(three);
        return seed;
    }

    /** A change made to a layer directory before it is archived. */
    @FunctionalInterface
    public interface LayerEdit {
        void apply(Path layer) throws IOException;
    }

    /**
     * Returns an image of one small layer: {@code etc/app.conf} with the xattr
     * {@code user.kind}, the executable {@code bin/run} and the symlink {@code bin/app}. The
     * layer is changed by {@code edit} and then every entry gets the same mtime, so two images
     * made with different edits differ only in what the edits change.
     */
    public static SeedImage oneLayer(Path dir, LayerEdit edit) throws IOException {
        SeedImage seed = new SeedImage(dir);
        Path layer = seed.newLayerDirectory();
        write(layer.resolve("etc/app.conf"), "name = app\nport = 8080\n");
        run("setfattr", "-n", "user.kind", "-v", "config", layer.resolve("etc/app.conf")
                .toString());
        write(layer.resolve("bin/run"), "#!/bin/sh\nexec app\n");
        run("chmod", "0755", layer.resolve("bin/run").toString());
        Files.createSymbolicLink(layer.resolve("bin/app"), Path.of("run"));
        edit.apply(layer);
        run("find", layer.toString(), "-exec", "touch", "-h", "-d", "@1700000000", "{}", "+");
        seed.addLayer(layer);
        return seed;
    }

    /** Returns the tree that unpacking the layers added so far gives. */
    public Path expected() {
        return expected;
    }

    /** Returns the uncompressed layer tarballs, bottom layer first. */
    public List<Path> layerTars() {
        return List.copyOf(tars);
    }

    /** Creates an empty directory for the next layer's files. */
    public Path newLayerDirectory() throws IOException {
        return Files.createDirectories(dir.resolve("layer" + (tars.size() + 1)));
    }

    /** Archives {@code layer} with GNU tar, gzips it and applies it to the expected tree. */
    public void addLayer(Path layer) throws IOException {
        Path tar = dir.resolve("layer" + (tars.size() + 1) + ".tar");
        run("tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--sort=name",
                "--numeric-owner", "-C", layer.toString(), "-cf", tar.toString(), ".");
        run("gzip", "-n", "-k", tar.toString());
        applyToExpected(tar, expected);
        tars.add(tar);
        gzips.add(Path.of(tar + ".gz"));
    }

    /** Adds the last layer once more, as an image whose two layers are the same blob. */
    public void repeatLastLayer() throws IOException {
        Path tar = tars.getLast();
        applyToExpected(tar, expected);
        tars.add(tar);
        gzips.add(gzips.getLast());
    }

    /**
     * Pushes the layers, a config and an OCI manifest under {@code reference}.
     *
     * @return the pushed manifest
     */
    public ManifestContent push(RegistryClient client, ImageReference reference)
            throws IOException {
        return push(client, reference, MediaTypes.OCI_MANIFEST, MediaTypes.OCI_CONFIG,
                MediaTypes.OCI_LAYER_GZIP);
    }

    /** Pushes the image like {@link #push} but with Docker schema 2 media types. */
    public ManifestContent pushDocker(RegistryClient client, ImageReference reference)
            throws IOException {
        return push(client, reference, MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_CONFIG,
                MediaTypes.DOCKER_LAYER_GZIP);
    }

    /** Pushes the image like {@link #push} with {@code config} in place of its own. */
    public ManifestContent push(RegistryClient client, ImageReference reference, byte[] config)
            throws IOException {
        return push(client, reference, MediaTypes.OCI_MANIFEST, MediaTypes.OCI_CONFIG,
                MediaTypes.OCI_LAYER_GZIP, config);
    }

    private ManifestContent push(RegistryClient client, ImageReference reference,
            String manifestType, String configType, String layerType) throws IOException {
        return push(client, reference, manifestType, configType, layerType, config());
    }

    private ManifestContent push(RegistryClient client, ImageReference reference,
            String manifestType, String configType, String layerType, byte[] config)
            throws IOException {
        Repository repository = reference.toRepository();
        List<Descriptor> layers = new ArrayList<>();
        for (Path gzip : gzips) {
            Digest digest = sha256(gzip);
            client.pushBlob(repository, digest, Files.size(gzip), BlobSource.of(gzip));
            layers.add(Descriptor.of(layerType, digest, Files.size(gzip)));
        }
        Digest configDigest = Digest.of(config);
        client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
        Manifest manifest = new Manifest(2, manifestType, null,
                Descriptor.of(configType, configDigest, config.length), layers, null,
                Map.of("org.example.source", "seed"), Map.of());
        ManifestContent content = ManifestContent.of(manifest);
        client.putManifest(reference, content);
        return content;
    }

    /**
     * Gzips {@code tars} with the gzip tool and pushes them as the layers of an OCI image
     * under {@code reference}, with a config that lists their diff ids.
     */
    public static void pushTars(RegistryClient client, ImageReference reference,
            List<Path> tars) throws IOException {
        Repository repository = reference.toRepository();
        List<Descriptor> layers = new ArrayList<>();
        List<String> diffIds = new ArrayList<>();
        for (Path tar : tars) {
            run("gzip", "-n", "-k", "-f", tar.toString());
            Path gzip = Path.of(tar + ".gz");
            Digest digest = sha256(gzip);
            client.pushBlob(repository, digest, Files.size(gzip), BlobSource.of(gzip));
            layers.add(Descriptor.of(MediaTypes.OCI_LAYER_GZIP, digest, Files.size(gzip)));
            diffIds.add("\"" + sha256(tar) + "\"");
        }
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                + "\"layers\",\"diff_ids\":[" + String.join(",", diffIds) + "]}}")
                .getBytes(StandardCharsets.UTF_8);
        Digest configDigest = Digest.of(config);
        client.pushBlob(repository, configDigest, config.length, BlobSource.of(config));
        client.putManifest(reference, ManifestContent.of(new Manifest(2,
                MediaTypes.OCI_MANIFEST, null, Descriptor.of(MediaTypes.OCI_CONFIG,
                        configDigest, config.length), layers, null, Map.of(), Map.of())));
    }

    /** Returns the config: one diff id and one history entry per layer, then CONFIG_TAIL. */
    public byte[] config() throws IOException {
        StringBuilder diffIds = new StringBuilder();
        StringBuilder history = new StringBuilder();
        for (int i = 0; i < tars.size(); i++) {
            String separator = i == 0 ? "" : ",";
            diffIds.append(separator).append('"').append(sha256(tars.get(i))).append('"');
            history.append(separator).append("{\"created\":\"2026-01-02T03:04:05Z\","
                    + "\"created_by\":\"/bin/sh -c make layer ").append(i + 1)
                    .append(" \\u0026\\u0026 true\"}");
        }
        String json = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":"
                + "[\"PATH=/usr/bin:/bin\"],\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":"
                + "\"layers\",\"diff_ids\":[" + diffIds + "]},\"history\":[" + history + "],"
                + CONFIG_TAIL + "}";
        return json.getBytes(StandardCharsets.UTF_8);
    }

    public static Digest sha256(Path file) throws IOException {
        MessageDigest hash;
        try {
            hash = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) {
                hash.update(buffer, 0, n);
            }
        }
        return Digest.fromHash(hash.digest());
    }

    public static void run(String... argv) throws IOException {
        Commands.run(List.of(argv), TIMEOUT);
    }

    /** Writes {@code text} to {@code file}, making parent directories. */
    public static Path write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.writeString(file, text);
    }

    /**
     * Applies one layer tarball to {@code root} as an OCI unpack does, using GNU tar for the
     * extraction itself.
     */
    static void applyToExpected(Path tar, Path root) throws IOException {
        List<TarArchiveEntry> entries = listEntries(tar);
        for (TarArchiveEntry e : entries) {
            applyWhiteout(root, entryPath(e));
        }
        for (TarArchiveEntry e : entries) {
            String path = entryPath(e);
            if (!path.isEmpty() && !baseName(path).startsWith(WHITEOUT)) {
                clearTypeConflict(root.resolve(path), e.isDirectory());
            }
        }
        run("tar", "--xattrs", "--xattrs-include=*", "-xpf", tar.toString(), "-C",
                root.toString(), "--numeric-owner", "--exclude=.wh.*");
    }

    private static void applyWhiteout(Path root, String path) throws IOException {
        String base = baseName(path);
        Path parent = path.contains("/") ? root.resolve(path.substring(0, path.lastIndexOf('/')))
                : root;
        if (base.equals(OPAQUE)) {
            if (Files.isDirectory(parent, LinkOption.NOFOLLOW_LINKS)) {
                try (Stream<Path> children = Files.list(parent)) {
                    for (Path child : children.toList()) {
                        run("rm", "-rf", "--", child.toString());
                    }
                }
            }
        } else if (base.startsWith(WHITEOUT) && base.length() > WHITEOUT.length()) {
            run("rm", "-rf", "--", parent.resolve(base.substring(WHITEOUT.length())).toString());
        }
    }

    private static void clearTypeConflict(Path target, boolean entryIsDirectory)
            throws IOException {
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS) != entryIsDirectory) {
            run("rm", "-rf", "--", target.toString());
        }
    }

    private static List<TarArchiveEntry> listEntries(Path tar) throws IOException {
        List<TarArchiveEntry> entries = new ArrayList<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(Files.newInputStream(tar))) {
            TarArchiveEntry e;
            while ((e = in.getNextEntry()) != null) {
                entries.add(e);
            }
        }
        return entries;
    }

    /** Returns the entry's path without "./" and trailing "/", empty for the root. */
    private static String entryPath(TarArchiveEntry e) {
        String name = e.getName();
        while (name.startsWith("./")) {
            name = name.substring(2);
        }
        while (name.endsWith("/")) {
            name = name.substring(0, name.length() - 1);
        }
        return name.equals(".") ? "" : name;
    }

    private static String baseName(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }
}
