package io.nydus.rafs.v6;

import io.nydus.rafs.UpstreamFixtures;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Compares a decoded bootstrap with what the Linux kernel's EROFS driver shows when it mounts
 * the same file read-only. No blob devices are attached, so only metadata is compared. Needs
 * root and the erofs module.
 */
final class KernelTree {
    private static final String FIND_FORMAT = "%i\\t%y\\t%m\\t%s\\t%U\\t%G\\t%T@\\t%n\\t%l\\t%P\\0";

    private KernelTree() {
    }

    /** One file as the kernel reports it. */
    record Entry(long ino, char type, int permissions, long size, long uid, long gid,
            String mtime, long nlink, String target, String rdev, Map<String, String> xattrs) {
    }

    /**
     * Mounts {@code image} below {@code tempDir} and returns the mismatches between the kernel's
     * view and {@code decoded}, one line each. An empty list means they agree.
     */
    static List<String> mismatches(DecodedBootstrap decoded, Path image, Path tempDir)
            throws IOException {
        Map<String, Entry> kernel = mountAndList(image, tempDir);
        Map<String, Node> ours = new TreeMap<>();
        collect(decoded.bootstrap().root(), "", ours);
        List<String> problems = new ArrayList<>();
        if (!kernel.keySet().equals(ours.keySet())) {
            problems.add("paths differ: kernel " + kernel.size() + ", reader " + ours.size());
        }
        for (Map.Entry<String, Node> e : ours.entrySet()) {
            Entry k = kernel.get(e.getKey());
            if (k != null) {
                Entry mine = expected(decoded, e.getValue());
                if (!mine.equals(k)) {
                    problems.add("/" + e.getKey() + ": kernel " + k + ", reader " + mine);
                }
            }
        }
        return problems;
    }

    private static Entry expected(DecodedBootstrap decoded, Node node) {
        OnDiskInode raw = decoded.inode(node);
        var inode = node.inode();
        String target = inode.type() == FileType.SYMLINK
                ? new String(inode.symlinkTarget(), StandardCharsets.UTF_8) : "";
        String rdev = inode.type().isDevice()
                ? Long.toHexString(inode.rdevMajor()) + ":" + Long.toHexString(inode.rdevMinor())
                : "";
        Map<String, String> xattrs = new TreeMap<>();
        inode.xattrs().forEach((name, value) -> xattrs.put(
                new String(name, StandardCharsets.UTF_8), HexFormat.of().formatHex(value)));
        return new Entry(raw.nid(), typeLetter(inode.type()), inode.permissions(), raw.size(),
                inode.uid(), inode.gid(),
                inode.mtimeSeconds() + "." + String.format("%09d", inode.mtimeNanos()),
                raw.nlink(), target, rdev, xattrs);
    }

    private static char typeLetter(FileType type) {
        return switch (type) {
            case REGULAR -> 'f';
            case DIRECTORY -> 'd';
            case SYMLINK -> 'l';
            case CHAR_DEVICE -> 'c';
            case BLOCK_DEVICE -> 'b';
            case FIFO -> 'p';
            case SOCKET -> 's';
        };
    }

    private static void collect(Node node, String path, Map<String, Node> out) {
        out.put(path, node);
        for (Node child : node.children()) {
            String name = new String(child.nameBytes(), StandardCharsets.UTF_8);
            collect(child, path.isEmpty() ? name : path + "/" + name, out);
        }
    }

    private static Map<String, Entry> mountAndList(Path image, Path tempDir) throws IOException {
        Path mountPoint = Files.createTempDirectory(tempDir, "mnt");
        UpstreamFixtures.run("mount", "-t", "erofs", "-o", "ro", image.toString(),
                mountPoint.toString());
        try {
            return list(mountPoint);
        } finally {
            UpstreamFixtures.run("umount", mountPoint.toString());
        }
    }

    private static Map<String, Entry> list(Path mountPoint) {
        Map<String, String> rdevs = new HashMap<>();
        for (String line : UpstreamFixtures.lines("find", mountPoint.toString(), "(", "-type",
                "b", "-o", "-type", "c", ")", "-printf", "%P\\n")) {
            rdevs.put(line, UpstreamFixtures.run("stat", "-c", "%t:%T",
                    mountPoint.resolve(line).toString()).strip());
        }
        Map<String, Map<String, String>> xattrs = xattrs(mountPoint);
        Map<String, Entry> entries = new TreeMap<>();
        String output = UpstreamFixtures.run("find", mountPoint.toString(), "-printf",
                FIND_FORMAT);
        for (String record : output.split("\0")) {
            String[] f = record.split("\t", -1);
            String path = f[9];
            entries.put(path, new Entry(Long.parseLong(f[0]), f[1].charAt(0),
                    Integer.parseInt(f[2], 8), Long.parseLong(f[3]), Long.parseLong(f[4]),
                    Long.parseLong(f[5]), f[6].substring(0, f[6].indexOf('.') + 10),
                    Long.parseLong(f[7]), f[8], rdevs.getOrDefault(path, ""),
                    xattrs.getOrDefault(path, Map.of())));
        }
        return entries;
    }

    /** Reads every xattr with getfattr, which prints "# file: PATH" and then NAME=0xHEX lines. */
    private static Map<String, Map<String, String>> xattrs(Path mountPoint) {
        Map<String, Map<String, String>> all = new HashMap<>();
        String prefix = mountPoint.toString().substring(1) + "/";
        String current = null;
        for (String line : UpstreamFixtures.lines("getfattr", "-R", "-h", "-d", "-m", "-",
                "-e", "hex", mountPoint.toString())) {
            if (line.startsWith("# file: ")) {
                String path = line.substring("# file: ".length());
                current = path.equals(prefix.substring(0, prefix.length() - 1)) ? ""
                        : path.substring(prefix.length());
            } else if (!line.isEmpty() && current != null) {
                int eq = line.indexOf('=');
                String value = eq < 0 ? "" : line.substring(eq + 1);
                all.computeIfAbsent(current, k -> new TreeMap<>()).put(
                        eq < 0 ? line : line.substring(0, eq),
                        value.startsWith("0x") ? value.substring(2) : value);
            }
        }
        return all;
    }
}
