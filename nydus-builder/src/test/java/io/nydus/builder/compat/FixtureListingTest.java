package io.nydus.builder.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.ImageInspector;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.testkit.Commands;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * Lists every upstream v6 bootstrap with {@link ImageInspector} and compares the tree with two
 * independent readers: {@code dump.erofs --ls} of erofs-utils for every directory, and a kernel
 * EROFS mount of the bootstrap for every entry. Both get zero-filled devices in place of the
 * blobs, because they only need the device count to read metadata.
 */
class FixtureListingTest {
    private static final Duration DUMP_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern DIRENT = Pattern.compile("^\\s*(\\d+)\\s+(\\d+)  (.*)$");
    private static final Pattern DIR_SIZE = Pattern.compile("^Size: (\\d+) ");
    private static final Pattern DIR_LINKS = Pattern.compile("^NID: (\\d+)\\s+Links: (\\d+)");
    private static final Pattern DIR_OWNER =
            Pattern.compile("^Uid: (\\d+)\\s+Gid: (\\d+)\\s+Access: ([0-7]+)/");
    private static final Pattern STAT_COUNT =
            Pattern.compile("^Filesystem (regular file|directory|symlink file) count:\\s+(\\d+)");
    private static final Pattern STAT_SIZE =
            Pattern.compile("^Filesystem total original file size:\\s+(\\d+) Bytes");

    static final List<String> IMAGES = FixtureImages.NAMES;

    private static TempDir dir;

    @BeforeAll
    static void createTempDir() throws IOException {
        dir = TempDirs.create("fixture-listing-");
    }

    @AfterAll
    static void removeTempDir() throws IOException {
        if (dir != null) {
            dir.close();
        }
    }

    /** What dump.erofs prints about a directory: its inode fields and its entries. */
    private record DumpedDirectory(long nid, long size, long links, long uid, long gid,
            int permissions, Map<String, long[]> entries) {
    }

    @ParameterizedTest
    @FieldSource("IMAGES")
    void dumpErofsListsSameDirectories(String image) throws IOException {
        Path bootstrap = FixtureImages.bootstrap(image, dir.path());
        List<Path> devices = FixtureImages.zeroDevices(bootstrap, bootstrap.getParent());
        ImageInspector.Report report = ImageInspector.inspect(bootstrap);
        DecodedBootstrap decoded = report.decoded();
        int directories = 0;
        for (ImageInspector.Entry entry : report.entries()) {
            if (entry.node().isDirectory()) {
                compareDirectory(decoded, entry, dump(bootstrap, devices, entry.node()));
                directories++;
            }
        }
        assertTrue(directories > 0, image + " has no directories");
    }

    @ParameterizedTest
    @FieldSource("IMAGES")
    void dumpErofsCountsSameFiles(String image) throws IOException {
        Path bootstrap = FixtureImages.bootstrap(image, dir.path());
        List<Path> devices = FixtureImages.zeroDevices(bootstrap, bootstrap.getParent());
        ImageInspector.Report report = ImageInspector.inspect(bootstrap);
        Map<String, Long> expected = new TreeMap<>();
        expected.put("regular file", count(report, FileType.REGULAR));
        expected.put("directory", count(report, FileType.DIRECTORY));
        expected.put("symlink file", count(report, FileType.SYMLINK));
        long expectedBytes = report.entries().stream()
                .filter(e -> e.node().inode().type() == FileType.REGULAR)
                .mapToLong(e -> e.node().inode().size()).sum();
        Map<String, Long> counted = new TreeMap<>();
        long bytes = -1;
        for (String line : runDump(bootstrap, devices, List.of("-S"))) {
            Matcher count = STAT_COUNT.matcher(line);
            Matcher size = STAT_SIZE.matcher(line);
            if (count.find()) {
                counted.put(count.group(1), Long.parseLong(count.group(2)));
            } else if (size.find()) {
                bytes = Long.parseLong(size.group(1));
            }
        }
        assertEquals(expected, counted);
        assertEquals(expectedBytes, bytes);
    }

    @ParameterizedTest
    @FieldSource("IMAGES")
    void kernelMountShowsSameTree(String image) throws IOException {
        Path bootstrap = FixtureImages.bootstrap(image, dir.path());
        List<Path> devices = FixtureImages.zeroDevices(bootstrap, bootstrap.getParent());
        ImageInspector.Report report = ImageInspector.inspect(bootstrap);
        Path mountPoint = Files.createDirectories(bootstrap.getParent().resolve("mnt"));
        List<String> problems = new ArrayList<>();
        try (KernelErofs mount = KernelErofs.mount(bootstrap, devices, mountPoint)) {
            for (ImageInspector.Entry entry : report.entries()) {
                compareWithKernel(report.decoded(), entry, mount.mountPoint(), problems);
            }
        }
        assertTrue(problems.isEmpty(), image + ": the kernel shows another tree:\n"
                + String.join("\n", problems.subList(0, Math.min(50, problems.size()))));
    }

    private static long count(ImageInspector.Report report, FileType type) {
        return report.entries().stream().filter(e -> e.node().inode().type() == type).count();
    }

    private static void compareDirectory(DecodedBootstrap decoded, ImageInspector.Entry entry,
            DumpedDirectory dumped) {
        Node node = entry.node();
        Inode inode = node.inode();
        String where = node.path();
        assertEquals(entry.nid(), dumped.nid(), where + " nid");
        assertEquals(decoded.inode(node).size(), dumped.size(), where + " size");
        assertEquals(entry.nlink(), dumped.links(), where + " links");
        assertEquals(inode.uid(), dumped.uid(), where + " uid");
        assertEquals(inode.gid(), dumped.gid(), where + " gid");
        // dump.erofs 1.5 prints only the 0777 bits; the kernel check covers the others.
        assertEquals(inode.permissions() & 0777, dumped.permissions(), where + " permissions");
        Map<String, long[]> expected = new TreeMap<>();
        Node parent = node.parent() == null ? node : node.parent();
        expected.put(".", new long[] {entry.nid(), FileType.DIRECTORY.direntType()});
        expected.put("..", new long[] {decoded.nid(parent), FileType.DIRECTORY.direntType()});
        for (Node child : node.children()) {
            expected.put(utf8(child), new long[] {decoded.nid(child),
                    child.inode().type().direntType()});
        }
        assertEquals(describe(expected), describe(dumped.entries()), where + " entries");
    }

    private static String describe(Map<String, long[]> entries) {
        StringBuilder text = new StringBuilder();
        entries.forEach((name, fields) -> text.append(name).append(" nid ").append(fields[0])
                .append(" type ").append(fields[1]).append('\n'));
        return text.toString();
    }

    private static DumpedDirectory dump(Path bootstrap, List<Path> devices, Node directory)
            throws IOException {
        List<String> lines = runDump(bootstrap, devices,
                List.of("--ls", "--path=" + utf8Path(directory)));
        long[] fields = new long[6];
        Map<String, long[]> entries = new TreeMap<>();
        boolean listing = false;
        for (String line : lines) {
            if (listing) {
                Matcher m = DIRENT.matcher(line);
                if (!m.matches()) {
                    throw new IOException("unexpected dump.erofs listing line '" + line + "'");
                }
                entries.put(m.group(3), new long[] {Long.parseLong(m.group(1)),
                        Long.parseLong(m.group(2))});
            } else if (line.strip().startsWith("NID TYPE")) {
                listing = true;
            } else {
                readInodeLine(line, fields);
            }
        }
        return new DumpedDirectory(fields[0], fields[1], fields[2], fields[3], fields[4],
                (int) fields[5], entries);
    }

    /** Reads nid, size, links, uid, gid and permissions from dump.erofs's inode lines. */
    private static void readInodeLine(String line, long[] fields) {
        Matcher size = DIR_SIZE.matcher(line);
        Matcher links = DIR_LINKS.matcher(line);
        Matcher owner = DIR_OWNER.matcher(line);
        if (size.find()) {
            fields[1] = Long.parseLong(size.group(1));
        } else if (links.find()) {
            fields[0] = Long.parseLong(links.group(1));
            fields[2] = Long.parseLong(links.group(2));
        } else if (owner.find()) {
            fields[3] = Long.parseLong(owner.group(1));
            fields[4] = Long.parseLong(owner.group(2));
            fields[5] = Long.parseLong(owner.group(3), 8);
        }
    }

    private static List<String> runDump(Path bootstrap, List<Path> devices, List<String> options)
            throws IOException {
        List<String> argv = new ArrayList<>();
        argv.add("dump.erofs");
        for (Path device : devices) {
            argv.add("--device=" + device);
        }
        argv.addAll(options);
        argv.add(bootstrap.toString());
        return Commands.run(argv, DUMP_TIMEOUT).stdoutText().lines().toList();
    }

    private static void compareWithKernel(DecodedBootstrap decoded, ImageInspector.Entry entry,
            Path mountPoint, List<String> problems) throws IOException {
        Node node = entry.node();
        Inode inode = node.inode();
        Path path = node.isRoot() ? mountPoint : mountPoint.resolve(utf8Path(node).substring(1));
        Map<String, Object> stat = Files.readAttributes(path,
                "unix:mode,ino,nlink,uid,gid,size,lastModifiedTime,rdev",
                LinkOption.NOFOLLOW_LINKS);
        long size = node.isDirectory() ? decoded.inode(node).size() : inode.size();
        FileTime mtime = FileTime.from(java.time.Instant.ofEpochSecond(inode.mtimeSeconds(),
                inode.mtimeNanos()));
        check(problems, node, "mode", inode.mode(), ((Number) stat.get("mode")).intValue());
        check(problems, node, "ino (nid)", entry.nid(), stat.get("ino"));
        check(problems, node, "nlink", entry.nlink(), ((Number) stat.get("nlink")).longValue());
        check(problems, node, "uid", inode.uid(), ((Number) stat.get("uid")).longValue());
        check(problems, node, "gid", inode.gid(), ((Number) stat.get("gid")).longValue());
        check(problems, node, "size", size, stat.get("size"));
        check(problems, node, "mtime", mtime, stat.get("lastModifiedTime"));
        if (inode.type().isDevice()) {
            check(problems, node, "rdev", rdev(inode.rdevMajor(), inode.rdevMinor()),
                    stat.get("rdev"));
        }
        if (inode.type() == FileType.SYMLINK) {
            check(problems, node, "symlink target",
                    new String(inode.symlinkTarget(), StandardCharsets.UTF_8),
                    Files.readSymbolicLink(path).toString());
        }
        if (node.isDirectory()) {
            List<String> expected = node.children().stream().map(FixtureListingTest::utf8)
                    .sorted().toList();
            List<String> listed;
            try (Stream<Path> children = Files.list(path)) {
                listed = children.map(p -> p.getFileName().toString()).sorted().toList();
            }
            check(problems, node, "names", expected, listed);
        }
    }

    private static void check(List<String> problems, Node node, String field, Object expected,
            Object actual) {
        if (!expected.equals(actual)) {
            problems.add(node.path() + ": " + field + " decoded " + expected + ", kernel "
                    + actual);
        }
    }

    /** Encodes a device number as glibc's makedev does for {@code st_rdev}. */
    private static long rdev(long major, long minor) {
        return ((major & 0xFFFF_F000L) << 32) | ((major & 0xFFFL) << 8)
                | ((minor & 0xFFFF_FF00L) << 12) | (minor & 0xFFL);
    }

    private static String utf8Path(Node node) {
        return decodeUtf8(node.pathBytes(), node);
    }

    private static String utf8(Node node) {
        return decodeUtf8(node.name(), node);
    }

    /** Decodes names strictly, because the comparison uses Java paths and command arguments. */
    private static String decodeUtf8(byte[] bytes, Node node) {
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IllegalStateException(node.path() + " is not valid UTF-8, which this"
                    + " comparison cannot pass to dump.erofs", e);
        }
    }
}
