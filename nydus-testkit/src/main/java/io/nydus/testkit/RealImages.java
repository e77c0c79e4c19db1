package io.nydus.testkit;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Real OCI images for acceptance tests, built once per machine and shared by every test class,
 * module and JVM: a Debian bookworm rootfs from {@code debootstrap --variant=minbase}, the same
 * rootfs with the Temurin 25 JDK under {@code /opt/java}, and a two-platform index.
 *
 * <p>The images live in one OCI layout made with {@code umoci raw add-layer} from layers that
 * GNU tar archives (PAX, xattrs, numeric owners), under
 * {@code v<CONTENT_VERSION>} below {@code /var/tmp/nydus-test-images} or
 * {@code $NYDUS_TEST_IMAGES}. Tests use the layout and the unpacked trees read-only: copy them
 * before changing them. A file lock makes concurrent JVMs wait for the one that builds. A
 * build that fails leaves only a {@code .partial} directory, which the next build removes.
 *
 * <p>Layers of {@link #DEBIAN}: the rootfs; {@code /opt/seed}, a tree with hard links, xattrs,
 * a symlink, a FIFO, odd modes and owners, and a 3 MiB file; a whiteout of
 * {@code /usr/share/doc/apt}; an opaque {@code /etc/apt/apt.conf.d} with one new file.
 * {@link #JDK} adds {@code /opt/java} on top. {@link #MULTI_PLATFORM} is an OCI index of
 * {@link #DEBIAN} as linux/amd64 and a one-layer tree labelled linux/arm64.
 * {@link #DEBIAN_ZSTD} is {@link #DEBIAN} with zstd layers.
 */
public final class RealImages {

    /** The version of what the build makes; raising it builds a new cache directory. */
    public static final int CONTENT_VERSION = 3;
    /** The tag of the Debian image in the layout. */
    public static final String DEBIAN = "debian";
    /** The tag of the Debian image with the JDK under {@code /opt/java}. */
    public static final String JDK = "jdk";
    /** The tag of the one-layer image labelled linux/arm64. */
    public static final String ARM64 = "tiny-arm64";
    /** The tag of the index of {@link #DEBIAN} (linux/amd64) and {@link #ARM64}. */
    public static final String MULTI_PLATFORM = "multi";
    /**
     * The tag of {@link #DEBIAN} with every layer recompressed with zstd, in a layout of its
     * own: a copy into the main layout would keep the gzip blobs that are already there.
     */
    public static final String DEBIAN_ZSTD = "debian-zstd";

    private static final Path DEFAULT_CACHE = Path.of("/var/tmp/nydus-test-images");
    /** The rootfs that {@code scripts/demo.sh} caches; reused when present. */
    private static final Path DEMO_ROOTFS = Path.of("/var/tmp/nydus-demo/rootfs");
    private static final Path JAVA_HOME = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");
    private static final Duration STEP_TIMEOUT = Duration.ofMinutes(10);
    /** A manifest entry of umoci's {@code index.json}: digest, size and tag. */
    private static final Pattern REF_NAME = Pattern.compile(
            "\"digest\"\\s*:\\s*\"(sha256:[0-9a-f]{64})\"\\s*,\\s*\"size\"\\s*:\\s*(\\d+)"
                    + "\\s*,\\s*\"annotations\"\\s*:\\s*\\{\\s*"
                    + "\"org\\.opencontainers\\.image\\.ref\\.name\"\\s*:\\s*\"([^\"]+)\"");
    private static final Object BUILD_MONITOR = new Object();
    private static RealImages instance;

    private final Path root;

    private RealImages(Path root) {
        this.root = root;
    }

    /**
     * Returns the images, building them first if this machine has no complete cache of
     * {@link #CONTENT_VERSION}. The build took 40 s on a 2-core machine with the demo's rootfs
     * cached. Without it, debootstrap adds about 30 s and needs deb.debian.org.
     *
     * @throws IOException if a build step fails, naming the command and its error output
     */
    public static RealImages get() throws IOException {
        synchronized (BUILD_MONITOR) {
            if (instance == null) {
                instance = load(cacheRoot().resolve("v" + CONTENT_VERSION));
            }
            return instance;
        }
    }

    private static Path cacheRoot() {
        String configured = System.getenv("NYDUS_TEST_IMAGES");
        return configured == null || configured.isEmpty() ? DEFAULT_CACHE : Path.of(configured);
    }

    private static RealImages load(Path root) throws IOException {
        Files.createDirectories(root.getParent());
        Path lockFile = root.getParent().resolve("v" + CONTENT_VERSION + ".lock");
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock lock = channel.lock()) {
            if (!Files.exists(root.resolve("complete"))) {
                build(root);
            }
        }
        return new RealImages(root);
    }

    /** Returns the OCI layout directory that contains every image but {@link #DEBIAN_ZSTD}. */
    public Path layout() {
        return root.resolve("oci");
    }

    /** Returns the skopeo transport reference of {@code tag}, {@code oci:LAYOUT:TAG}. */
    public String ociReference(String tag) {
        Path layout = tag.equals(DEBIAN_ZSTD) ? root.resolve("oci-zstd") : layout();
        return "oci:" + layout + ":" + tag;
    }

    /**
     * Returns the root file system that {@code umoci unpack} makes of {@link #DEBIAN} or
     * {@link #JDK}: the expected tree of a converted image.
     */
    public Path unpacked(String tag) {
        if (!tag.equals(DEBIAN) && !tag.equals(JDK)) {
            throw new IllegalArgumentException("no unpacked tree of tag " + tag + "; only "
                    + DEBIAN + " and " + JDK + " are unpacked");
        }
        return root.resolve("unpacked").resolve(tag).resolve("rootfs");
    }

    /**
     * Pushes {@code tag} to {@code destination} (a {@code docker://} reference) with
     * {@code skopeo copy}, adding {@code --all} for the index. {@code options} go before the
     * references, such as {@code --format v2s2}, {@code --dest-creds U:P} or
     * {@code --dest-tls-verify=false}.
     */
    public void push(String tag, String destination, String... options) throws IOException {
        List<String> argv = new ArrayList<>(List.of("skopeo", "copy", "--quiet"));
        if (tag.equals(MULTI_PLATFORM)) {
            argv.add("--all");
        }
        argv.addAll(List.of(options));
        argv.add(ociReference(tag));
        argv.add(destination);
        Commands.run(argv, STEP_TIMEOUT);
    }

    private static void build(Path root) throws IOException {
        Path partial = root.resolveSibling(root.getFileName() + ".partial");
        TempDirs.remove(partial);
        TempDirs.remove(root);
        Files.createDirectories(partial);
        Path layout = partial.resolve("oci");
        Path rootfs = rootfs(root.getParent());
        run("umoci", "init", "--layout", layout.toString());
        buildDebian(partial, layout, rootfs);
        Path jdk = Files.createDirectories(partial.resolve("jdk/opt"));
        readableByAll(jdk);
        run("cp", "-a", JAVA_HOME.toString(), jdk.resolve("java").toString());
        addLayer(layout, DEBIAN, "--tag", JDK, archive(partial.resolve("jdk"), "opt"));
        buildArm64(partial, layout);
        writeIndex(layout);
        run("skopeo", "copy", "--quiet", "--dest-compress-format", "zstd",
                "oci:" + layout + ":" + DEBIAN, "oci:" + partial.resolve("oci-zstd") + ":"
                        + DEBIAN_ZSTD);
        for (String tag : List.of(DEBIAN, JDK)) {
            Path bundle = partial.resolve("unpacked").resolve(tag);
            Files.createDirectories(bundle.getParent());
            run("umoci", "unpack", "--image", layout + ":" + tag, bundle.toString());
        }
        Files.writeString(partial.resolve("complete"), "content version " + CONTENT_VERSION
                + "\n");
        Files.move(partial, root);
    }

    /** Returns the demo's cached rootfs, or a debootstrap rootfs cached next to the images. */
    private static Path rootfs(Path cache) throws IOException {
        if (Files.isRegularFile(DEMO_ROOTFS.resolve("etc/os-release"))) {
            return DEMO_ROOTFS;
        }
        Path rootfs = cache.resolve("rootfs");
        if (Files.isRegularFile(rootfs.resolve("etc/os-release"))) {
            return rootfs;
        }
        Path partial = cache.resolve("rootfs.partial");
        TempDirs.remove(partial);
        run("debootstrap", "--variant=minbase", "bookworm", partial.toString(),
                "http://deb.debian.org/debian");
        Files.move(partial, rootfs);
        return rootfs;
    }

    private static void buildDebian(Path work, Path layout, Path rootfs) throws IOException {
        run("umoci", "new", "--image", layout + ":" + DEBIAN);
        addLayer(layout, DEBIAN, archive(rootfs, "."));
        Path seed = Files.createDirectories(work.resolve("seed/opt"));
        seedTree(seed.resolve("seed"));
        addLayer(layout, DEBIAN, archive(work.resolve("seed"), "opt"));
        Path whiteout = Files.createDirectories(work.resolve("whiteout/usr/share/doc"));
        Files.writeString(whiteout.resolve(".wh.apt"), "");
        readableByAll(work.resolve("whiteout"));
        addLayer(layout, DEBIAN, archive(work.resolve("whiteout"), "usr"));
        Path opaque = Files.createDirectories(work.resolve("opaque/etc/apt/apt.conf.d"));
        Files.writeString(opaque.resolve(".wh..wh..opq"), "");
        Files.writeString(opaque.resolve("99seed"), "APT::Install-Recommends \"false\";\n");
        readableByAll(work.resolve("opaque"));
        addLayer(layout, DEBIAN, archive(work.resolve("opaque"), "etc"));
    }

    /**
     * Archives {@code paths} below {@code dir} with GNU tar into a file next to {@code dir}.
     * Each layer has entries for the parent directories of what it adds, as Docker's layers
     * do: the converter gives a parent that a layer leaves out mtime 0, where an OCI unpack
     * keeps the lower layer's directory.
     * GNU tar ends the archive with two zero blocks, which the layers that {@code umoci insert}
     * 0.4.7 writes lack.
     */
    private static String archive(Path dir, String... paths) throws IOException {
        Path tar = dir.resolveSibling(dir.getFileName() + ".tar");
        List<String> argv = new ArrayList<>(List.of("tar", "--format=posix", "--xattrs",
                "--xattrs-include=*", "--numeric-owner", "--sort=name", "-C", dir.toString(),
                "-cf", tar.toString()));
        argv.addAll(List.of(paths));
        Commands.run(argv, STEP_TIMEOUT);
        return tar.toString();
    }

    /**
     * Writes the files of the second Debian layer: the cases a converter must carry over that
     * a plain rootfs has few of.
     */
    private static Path seedTree(Path dir) throws IOException {
        Files.createDirectories(dir.resolve("bin"));
        Files.createDirectories(dir.resolve("data/empty-dir"));
        Path tool = Files.writeString(dir.resolve("bin/tool"), "#!/bin/sh\necho tool\n");
        Files.createLink(dir.resolve("bin/tool-hard"), tool);
        Files.createLink(dir.resolve("data/tool-hard-2"), tool);
        Files.createSymbolicLink(dir.resolve("bin/tool-link"), Path.of("tool"));
        Path config = Files.writeString(dir.resolve("data/config"), "key = value\n");
        run("setfattr", "-n", "user.origin", "-v", "seed", config.toString());
        run("setfattr", "-n", "user.empty", config.toString());
        run("setfattr", "-n", "trusted.overlay.test", "-v", "0x00ff", tool.toString());
        byte[] big = new byte[3 << 20];
        new Random(20260101).nextBytes(big);
        Files.write(dir.resolve("data/random.bin"), big);
        Files.writeString(dir.resolve("data/empty"), "");
        Files.writeString(dir.resolve("data/name with spaces and ü"), "utf-8 name\n");
        Files.writeString(dir.resolve("data/" + "long".repeat(60)), "long name\n");
        run("mkfifo", dir.resolve("data/fifo").toString());
        readableByAll(dir.getParent());
        run("chmod", "4755", tool.toString());
        run("chmod", "1777", dir.resolve("data/empty-dir").toString());
        run("chown", "1000:1001", config.toString());
        run("touch", "-h", "-d", "@1700000000.123456789", dir.resolve("bin/tool-link")
                .toString());
        return dir;
    }

    private static void buildArm64(Path work, Path layout) throws IOException {
        Path tree = Files.createDirectories(work.resolve("tiny/bin"));
        Files.writeString(tree.resolve("busybox"), "not really busybox, arm64 label only\n");
        Files.createSymbolicLink(tree.resolve("sh"), Path.of("busybox"));
        readableByAll(work.resolve("tiny"));
        run("umoci", "new", "--image", layout + ":" + ARM64);
        run("umoci", "config", "--image", layout + ":" + ARM64, "--architecture", "arm64");
        addLayer(layout, ARM64, archive(work.resolve("tiny"), "."));
    }

    /**
     * Adds the index {@link #MULTI_PLATFORM} to the layout: umoci and skopeo make no index, so
     * the blob and the {@code index.json} entry are written here.
     */
    private static void writeIndex(Path layout) throws IOException {
        String top = Files.readString(layout.resolve("index.json"));
        String index = "{\"schemaVersion\":2,\"mediaType\":"
                + "\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
                + platformEntry(top, DEBIAN, "amd64") + "," + platformEntry(top, ARM64, "arm64")
                + "]}";
        byte[] bytes = index.getBytes(StandardCharsets.UTF_8);
        String hex = sha256(bytes);
        Files.write(layout.resolve("blobs/sha256").resolve(hex), bytes);
        String entry = "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                + "\"digest\":\"sha256:" + hex + "\",\"size\":" + bytes.length + ","
                + "\"annotations\":{\"org.opencontainers.image.ref.name\":\""
                + MULTI_PLATFORM + "\"}}";
        int end = top.lastIndexOf(']');
        if (end < 0) {
            throw new IOException(layout.resolve("index.json") + ": no manifests array in "
                    + top);
        }
        Files.writeString(layout.resolve("index.json"),
                top.substring(0, end) + "," + entry + top.substring(end));
    }

    private static String platformEntry(String indexJson, String tag, String architecture)
            throws IOException {
        Matcher matcher = REF_NAME.matcher(indexJson);
        while (matcher.find()) {
            if (matcher.group(3).equals(tag)) {
                return "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                        + "\"digest\":\"" + matcher.group(1) + "\",\"size\":" + matcher.group(2)
                        + ",\"platform\":{\"architecture\":\"" + architecture
                        + "\",\"os\":\"linux\"}}";
            }
        }
        throw new IOException("index.json of the test layout has no tag " + tag + ": "
                + indexJson);
    }

    private static void addLayer(Path layout, String tag, String... arguments)
            throws IOException {
        List<String> argv = new ArrayList<>(List.of("umoci", "raw", "add-layer", "--image",
                layout + ":" + tag, "--history.created_by", "nydus test image"));
        argv.addAll(List.of(arguments));
        Commands.run(argv, STEP_TIMEOUT);
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this JDK", e);
        }
    }

    /**
     * Gives everyone read access to the tree below {@code dir}, and search access to its
     * directories, whatever the umask was when it was made. Otherwise a cache built under
     * umask 077 contains images whose modes differ from what the tests expect.
     */
    private static void readableByAll(Path dir) throws IOException {
        run("chmod", "-R", "u+rwX,go+rX,go-w", dir.toString());
    }

    private static void run(String... argv) throws IOException {
        Commands.run(List.of(argv), STEP_TIMEOUT);
    }
}
