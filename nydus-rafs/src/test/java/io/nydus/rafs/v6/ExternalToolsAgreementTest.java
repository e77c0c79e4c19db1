package io.nydus.rafs.v6;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.rafs.UpstreamFixtures;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Compares decoded bootstraps with erofs-utils' {@code dump.erofs} and with the kernel's EROFS
 * driver, which both read the same files independently of this code.
 */
class ExternalToolsAgreementTest {
    private static final Pattern LISTING = Pattern.compile("^\\s*(\\d+)\\s+(\\d+)  (.*)$");
    private static final Pattern HEADER = Pattern.compile("(?s).*Size: (\\d+) .*NID: (\\d+)"
            + "\\s+Links: (\\d+) .*Uid: (\\d+)\\s+Gid: (\\d+)\\s+Access: (\\d+)/.*"
            + "Timestamp: (\\S+ \\S+).*");
    private static final DateTimeFormatter TIMESTAMP =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);

    @TempDir
    Path dir;
    private Path image;
    private Path device;
    private DecodedBootstrap decoded;

    @BeforeEach
    void extract() throws IOException {
        image = UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V6, dir);
        decoded = BootstrapReader.decode(image);
        // dump.erofs insists on one device per blob; metadata never reads from it.
        device = dir.resolve("blob.device");
        UpstreamFixtures.run("truncate", "-s",
                Long.toString(decoded.bootstrap().blobs().get(0).uncompressedSize()),
                device.toString());
    }

    private Node node(String path) {
        Node node = decoded.bootstrap().root();
        for (String name : path.split("/")) {
            if (!name.isEmpty()) {
                node = node.child(name.getBytes(StandardCharsets.UTF_8));
            }
        }
        return node;
    }

    @ParameterizedTest
    @ValueSource(strings = {"/", "/usr/bin", "/var/lib/dpkg/info", "/etc",
            "/usr/lib/x86_64-linux-gnu/gconv", "/usr/share/doc", "/dev"})
    void directoryListingMatchesDumpErofs(String path) {
        List<String> expected = new ArrayList<>();
        for (String line : dump("--ls", "--path=" + path)) {
            Matcher m = LISTING.matcher(line);
            if (m.matches()) {
                expected.add(m.group(1) + " " + m.group(2) + " " + m.group(3));
            }
        }
        Node dirNode = node(path);
        Node parent = dirNode.parent() == null ? dirNode : dirNode.parent();
        List<String> actual = new ArrayList<>();
        actual.add(decoded.nid(dirNode) + " 2 .");
        actual.add(decoded.nid(parent) + " 2 ..");
        for (Node child : dirNode.children()) {
            actual.add(decoded.nid(child) + " " + child.inode().type().direntType() + " "
                    + Node.display(child.nameBytes()));
        }
        assertEquals(new TreeSet<>(expected), new TreeSet<>(actual));
    }

    @ParameterizedTest
    @ValueSource(strings = {"/usr/bin/perl", "/usr/bin/perl5.34.0", "/bin", "/etc/passwd",
            "/usr/share/doc", "/var/lib/dpkg/info/libc6:amd64.list", "/tmp"})
    void inodeMatchesDumpErofs(String path) {
        String header = String.join("\n", dump("--path=" + path));
        Matcher m = HEADER.matcher(header);
        if (!m.matches()) {
            throw new AssertionError("unexpected dump.erofs output: " + header);
        }
        Node node = node(path);
        OnDiskInode raw = decoded.inode(node);
        String expected = String.join(" ", m.group(1), m.group(2), m.group(3), m.group(4),
                m.group(5), m.group(6), m.group(7));
        String actual = String.join(" ", Long.toString(raw.size()), Long.toString(raw.nid()),
                Long.toString(raw.nlink()), Long.toString(node.inode().uid()),
                Long.toString(node.inode().gid()),
                // dump.erofs prints only the 0777 bits, without setuid, setgid and sticky.
                String.format("%04o", node.inode().permissions() & 0777),
                TIMESTAMP.format(Instant.ofEpochSecond(node.inode().mtimeSeconds()))
                        + String.format(".%09d", node.inode().mtimeNanos()));
        assertEquals(expected, actual);
    }

    private List<String> dump(String... options) {
        List<String> command = new ArrayList<>(List.of("dump.erofs", "--device=" + device));
        command.addAll(List.of(options));
        command.add(image.toString());
        return UpstreamFixtures.lines(command.toArray(String[]::new));
    }

    @Test
    void snapshotterTreeMatchesKernel() throws IOException {
        assertEquals(List.of(), KernelTree.mismatches(decoded, image, dir));
    }

    @Test
    void rafsV6TreeMatchesKernel() throws IOException {
        Path file = UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BOOT, dir);
        assertEquals(List.of(), KernelTree.mismatches(BootstrapReader.decode(file), file, dir));
    }
}
