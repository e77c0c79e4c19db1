package io.nydus.testkit;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileType;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Timespec;
import io.nydus.testkit.XattrValues.AclEntry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static io.nydus.testkit.XattrValues.ACL_GROUP;
import static io.nydus.testkit.XattrValues.ACL_GROUP_OBJ;
import static io.nydus.testkit.XattrValues.ACL_MASK;
import static io.nydus.testkit.XattrValues.ACL_OTHER;
import static io.nydus.testkit.XattrValues.ACL_USER;
import static io.nydus.testkit.XattrValues.ACL_USER_OBJ;

/**
 * Makes directory trees that contain every case an image builder must keep.
 *
 * <p>The cases are file sizes around block boundaries and multi-chunk, repeated, sparse and
 * zero-filled content. Further cases are a 3000-entry directory, symlinks up to 4095 bytes,
 * hard links, devices, fifos and sockets. Files carry extended attributes of every namespace,
 * ACLs, a capability, extreme owners, special modes, nanosecond and pre-1970 times, and
 * 255-byte and non-UTF-8 names.
 *
 * <p>The content is pseudo-random from fixed seeds, so every run makes the same tree.
 * Devices, owners, {@code trusted.*} and {@code security.*} attributes need root. Callers that
 * cannot keep some cases pass a smaller set of {@link Feature}s.
 */
public final class TreeGenerator {

    /** Groups of cases that a caller can leave out. */
    public enum Feature {
        /** Character and block devices. */
        DEVICES,
        FIFOS,
        /** Sockets, which tar archives cannot hold. */
        SOCKETS,
        /** Extended attributes of every namespace, POSIX ACLs and a file capability. */
        XATTRS,
        /** Owners other than root, up to uid and gid 4294967294. */
        OWNERS,
        /** Names and symlink targets that are not UTF-8 or hold control characters. */
        UNUSUAL_NAMES,
        /** File names of 255 bytes, the Linux maximum; otherwise names stop at 254 bytes. */
        LONGEST_NAMES,
        /** Files of several MiB: multi-chunk, repeated blocks, sparse and all zeros. */
        LARGE_FILES;

        /** Returns every feature. */
        public static Set<Feature> all() {
            return EnumSet.allOf(Feature.class);
        }

        /** Returns every feature except {@code excluded}. */
        public static Set<Feature> allExcept(Feature... excluded) {
            Set<Feature> features = all();
            features.removeAll(Arrays.asList(excluded));
            return features;
        }
    }

    /** The number of entries in the large directory "many". */
    public static final int LARGE_DIRECTORY_ENTRIES = 3000;

    private static final int MIB = 1 << 20;
    private static final byte[] BINARY_VALUE = {0, 'a', (byte) 0xff, '\n', 0, (byte) 0x80};

    private final TreeMaker maker;
    private final Set<Feature> features;

    private TreeGenerator(BytePath root, Set<Feature> features) {
        this.maker = new TreeMaker(root);
        this.features = Set.copyOf(features);
    }

    /** Fills {@code root} with every case; see {@link #createEveryCase(BytePath, Set)}. */
    public static TreeDescription createEveryCase(BytePath root) throws IOException {
        return createEveryCase(root, Feature.all());
    }

    /**
     * Fills {@code root}, which must be missing or an empty directory, with every case of the
     * chosen features, and sets modification times last so that directory times stick.
     *
     * @throws IOException if {@code root} is not empty or a call fails; the message names the
     *     path
     */
    public static TreeDescription createEveryCase(BytePath root, Set<Feature> features)
            throws IOException {
        TreeGenerator generator = new TreeGenerator(root, features);
        generator.prepareRoot(root);
        generator.regularFiles();
        generator.directories();
        generator.symlinks();
        generator.hardlinks();
        generator.specialFiles();
        generator.extendedAttributes();
        generator.owners();
        generator.modes();
        generator.times();
        generator.names();
        generator.maker.applyTimes();
        return generator.maker.describe();
    }

    /** Fills {@code root} with a handful of files of every type, for fast tests. */
    public static TreeDescription createSmall(BytePath root) throws IOException {
        return createSmall(root, Feature.all());
    }

    /**
     * Fills {@code root} with a handful of files: a file, an empty file, a nested file, a
     * symlink, a hard link, and per feature a device, fifo, socket, xattrs and an owner.
     */
    public static TreeDescription createSmall(BytePath root, Set<Feature> features)
            throws IOException {
        TreeGenerator generator = new TreeGenerator(root, features);
        generator.prepareRoot(root);
        generator.smallTree();
        generator.maker.applyTimes();
        return generator.maker.describe();
    }

    private void prepareRoot(BytePath root) throws IOException {
        Optional<Stat> stat = Posix.lstatIfExists(root);
        if (stat.isEmpty()) {
            Posix.mkdir(root, 0755);
        } else if (!stat.get().isDirectory() || !Posix.readdir(root).isEmpty()) {
            throw new IOException("tree root " + root + " must be missing or an empty directory");
        }
        Posix.chmod(root, 0755);
        maker.time(TreeSnapshot.ROOT, new Timespec(1_690_000_000L, 111_111_111));
    }

    private boolean has(Feature feature) {
        return features.contains(feature);
    }

    private static BytePath path(String relative) {
        return BytePath.of(relative);
    }

    private static byte[] random(long seed, int length) {
        byte[] data = new byte[length];
        new SplittableRandom(seed).nextBytes(data);
        return data;
    }

    // --- sections of the every-case tree ---

    private void regularFiles() throws IOException {
        maker.directory(path("files"), 0755);
        maker.file(path("files/empty"), new byte[0], 0644);
        maker.file(path("files/one-byte"), new byte[] {'x'}, 0644);
        maker.file(path("files/4095-bytes"), random(4095, 4095), 0644);
        maker.file(path("files/4096-bytes"), random(4096, 4096), 0644);
        maker.file(path("files/4097-bytes"), random(4097, 4097), 0644);
        byte[] twin = random(2, 64 * 1024);
        maker.file(path("files/identical-a"), twin, 0644);
        maker.file(path("files/identical-b"), twin, 0644);
        maker.file(path("files/text"), compressibleText(128 * 1024), 0644);
        if (has(Feature.LARGE_FILES)) {
            largeFiles();
        }
    }

    private void largeFiles() throws IOException {
        maker.file(path("files/multi-chunk-3.5MiB"), random(35, 7 * MIB / 2), 0644);
        maker.repeatedFile(path("files/same-1MiB-block-x4"), random(1, MIB), 4, 0644);
        maker.repeatedFile(path("files/zeros-12MiB"), new byte[MIB], 12, 0644);
        long sparseSize = 64L * MIB;
        maker.sparseFile(path("files/sparse-64MiB-data-at-end"), sparseSize,
                Map.of(sparseSize - 4096, random(64, 4096)), 0644);
        Map<Long, byte[]> extents = new TreeMap<>();
        extents.put(0L, random(16, 4096));
        extents.put(8L * MIB, random(8, 8192));
        maker.sparseFile(path("files/sparse-16MiB-holes-between"), 16L * MIB, extents, 0644);
    }

    private static byte[] compressibleText(int length) {
        String line = "The quick brown fox jumps over the lazy dog, line ";
        StringBuilder text = new StringBuilder(length + 64);
        for (int i = 0; text.length() < length; i++) {
            text.append(line).append(i).append('\n');
        }
        return Arrays.copyOf(text.toString().getBytes(StandardCharsets.US_ASCII), length);
    }

    private void directories() throws IOException {
        maker.directory(path("dirs"), 0755);
        maker.directory(path("dirs/empty"), 0755);
        String nested = "dirs";
        for (String level : List.of("a", "b", "c", "d", "e")) {
            nested = nested + "/" + level;
            maker.directory(path(nested), 0755);
        }
        maker.file(path(nested + "/deep-file"), "deep\n".getBytes(StandardCharsets.US_ASCII),
                0644);
        largeDirectory();
    }

    /** Makes "many": small files whose names run from 5 to 255 (or 254) bytes. */
    private void largeDirectory() throws IOException {
        maker.directory(path("many"), 0755);
        String filler = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(8);
        int fillerLengths = has(Feature.LONGEST_NAMES) ? 251 : 250;
        for (int i = 0; i < LARGE_DIRECTORY_ENTRIES; i++) {
            String name = String.format("%04d-", i) + filler.substring(0, i % fillerLengths);
            byte[] content = Integer.toString(i).getBytes(StandardCharsets.US_ASCII);
            maker.file(path("many/" + name), content, 0644);
        }
    }

    private void symlinks() throws IOException {
        maker.directory(path("links"), 0755);
        maker.symlink(path("links/short"), "../files/one-byte");
        maker.symlink(path("links/to-directory"), "../dirs");
        maker.symlink(path("links/dangling"), "does-not-exist");
        maker.symlink(path("links/absolute"), "/etc/hostname");
        maker.symlink(path("links/dot"), ".");
        byte[] longTarget = new byte[4095];
        for (int i = 0; i < longTarget.length; i++) {
            longTarget[i] = i % 2 == 0 ? (byte) ('a' + i / 2 % 26) : (byte) '/';
        }
        maker.symlink(path("links/target-4095-bytes"), longTarget);
        if (has(Feature.UNUSUAL_NAMES)) {
            maker.symlink(path("links/non-utf8-target"),
                    new byte[] {'t', (byte) 0xff, (byte) 0xfe, '/', (byte) 0x80, '\n'});
        }
    }

    /** Makes a hard link group of three names across directories, and a linked symlink. */
    private void hardlinks() throws IOException {
        maker.directory(path("hardlinks"), 0755);
        maker.directory(path("hardlinks/sub"), 0755);
        BytePath original = path("hardlinks/original");
        maker.file(original, random(3, 10_000), 0640);
        maker.hardlink(original, path("hardlinks/sub/second"));
        maker.hardlink(original, path("dirs/third-hardlink"));
        maker.hardlink(path("links/short"), path("hardlinks/symlink-hardlink"));
        Timespec shared = new Timespec(1_650_000_000L, 424_242_424);
        for (String name : List.of("hardlinks/original", "hardlinks/sub/second",
                "dirs/third-hardlink")) {
            maker.time(path(name), shared);
        }
    }

    private void specialFiles() throws IOException {
        maker.directory(path("special"), 0755);
        if (has(Feature.DEVICES)) {
            maker.device(path("special/char-1-3"), FileType.CHAR_DEVICE, 1, 3, 0666);
            maker.device(path("special/char-10-256"), FileType.CHAR_DEVICE, 10, 256, 0600);
            maker.device(path("special/char-4095-1048575"), FileType.CHAR_DEVICE, 4095, 1048575,
                    0620);
            maker.device(path("special/block-7-0"), FileType.BLOCK_DEVICE, 7, 0, 0660);
            maker.device(path("special/block-300-70000"), FileType.BLOCK_DEVICE, 300, 70000,
                    0640);
            maker.device(path("special/block-4095-1048575"), FileType.BLOCK_DEVICE, 4095,
                    1048575, 0600);
        }
        if (has(Feature.FIFOS)) {
            maker.fifo(path("special/fifo"), 0644);
        }
        if (has(Feature.SOCKETS)) {
            maker.socket(path("special/socket"), 0755);
        }
    }

    private void extendedAttributes() throws IOException {
        if (!has(Feature.XATTRS)) {
            return;
        }
        maker.directory(path("xattrs"), 0755);
        maker.xattr(path("xattrs"), "user.on-directory", utf8("dir"));
        BytePath binary = path("xattrs/user-binary");
        maker.file(binary, utf8("user\n"), 0644);
        maker.xattr(binary, "user.binary", BINARY_VALUE);
        BytePath trusted = path("xattrs/trusted");
        maker.file(trusted, utf8("trusted\n"), 0644);
        maker.xattr(trusted, "trusted.nydus-test", utf8("t"));
        maker.xattr(path("links/short"), "trusted.on-symlink", utf8("link"));
        capabilityAndSecurity();
        acls();
        severalOnOneFile();
        if (has(Feature.FIFOS)) {
            maker.xattr(path("special/fifo"), "trusted.on-fifo", utf8("fifo"));
        }
        maker.xattr(path("hardlinks/original"), "user.on-hardlink", utf8("shared"));
    }

    private void capabilityAndSecurity() throws IOException {
        BytePath capability = path("xattrs/capability");
        maker.file(capability, utf8("#!/bin/true\n"), 0755);
        long netBindService = 1L << XattrValues.CAP_NET_BIND_SERVICE;
        maker.xattr(capability, "security.capability",
                XattrValues.capabilityV2(netBindService, 0, true));
        BytePath security = path("xattrs/security");
        maker.file(security, utf8("security\n"), 0644);
        maker.xattr(security, "security.nydus-test", BINARY_VALUE);
    }

    /** Sets ACLs whose mask and other entries match the mode, so the mode stays as set. */
    private void acls() throws IOException {
        BytePath file = path("xattrs/acl-file");
        maker.file(file, utf8("acl\n"), 0660);
        maker.xattr(file, "system.posix_acl_access", XattrValues.posixAcl(List.of(
                AclEntry.of(ACL_USER_OBJ, 6), new AclEntry(ACL_USER, 1000, 4),
                AclEntry.of(ACL_GROUP_OBJ, 4), new AclEntry(ACL_GROUP, 2000, 6),
                AclEntry.of(ACL_MASK, 6), AclEntry.of(ACL_OTHER, 0))));
        BytePath dir = path("xattrs/acl-directory");
        maker.directory(dir, 0750);
        maker.xattr(dir, "system.posix_acl_access", XattrValues.posixAcl(List.of(
                AclEntry.of(ACL_USER_OBJ, 7), new AclEntry(ACL_USER, 1000, 5),
                AclEntry.of(ACL_GROUP_OBJ, 5), AclEntry.of(ACL_MASK, 5),
                AclEntry.of(ACL_OTHER, 0))));
        maker.xattr(dir, "system.posix_acl_default", XattrValues.posixAcl(List.of(
                AclEntry.of(ACL_USER_OBJ, 7), AclEntry.of(ACL_GROUP_OBJ, 5),
                new AclEntry(ACL_GROUP, 2000, 7), AclEntry.of(ACL_MASK, 7),
                AclEntry.of(ACL_OTHER, 5))));
    }

    private void severalOnOneFile() throws IOException {
        BytePath file = path("xattrs/several");
        maker.file(file, utf8("several\n"), 0644);
        maker.xattr(file, "user.a", utf8("1"));
        maker.xattr(file, "user.empty-value", new byte[0]);
        maker.xattr(file, "user." + "n".repeat(250), random(250, 1000));
        maker.xattr(file, "trusted.b", utf8("2"));
        maker.xattr(file, "security.c", utf8("3"));
        if (has(Feature.UNUSUAL_NAMES)) {
            maker.xattr(file, new byte[] {'u', 's', 'e', 'r', '.', (byte) 0xff, (byte) 0x80, '-',
                    'n', 'a', 'm', 'e'}, BINARY_VALUE);
        }
    }

    private void owners() throws IOException {
        maker.directory(path("owners"), 0755);
        maker.file(path("owners/root"), utf8("root\n"), 0644);
        if (!has(Feature.OWNERS)) {
            return;
        }
        ownedFile("owners/user-1000", 1000, 1000, 0644);
        ownedFile("owners/user-1001-group-65534", 1001, 65534, 0640);
        ownedFile("owners/largest-ids", 4294967294L, 4294967294L, 0644);
        ownedFile("owners/setuid-user-1000", 1000, 100, 04755);
        maker.directory(path("owners/largest-ids-directory"), 0755);
        maker.owner(path("owners/largest-ids-directory"), 4294967294L, 0);
        maker.symlink(path("owners/symlink-1234-5678"), "user-1000");
        maker.owner(path("owners/symlink-1234-5678"), 1234, 5678);
    }

    private void ownedFile(String relative, long uid, long gid, int mode) throws IOException {
        maker.file(path(relative), utf8(relative + "\n"), 0600);
        maker.owner(path(relative), uid, gid);
        maker.mode(path(relative), mode);
    }

    private void modes() throws IOException {
        maker.directory(path("modes"), 0755);
        Map<String, Integer> files = Map.of("setuid", 04755, "setgid", 02755,
                "all-special-bits", 07777, "none", 0, "all", 0777, "private", 0600,
                "read-only", 0444);
        for (Map.Entry<String, Integer> file : new TreeMap<>(files).entrySet()) {
            maker.file(path("modes/" + file.getKey()), utf8(file.getKey()), file.getValue());
        }
        maker.directory(path("modes/sticky-directory"), 01777);
        maker.directory(path("modes/setgid-directory"), 02775);
        maker.directory(path("modes/directory-none"), 0);
        maker.directory(path("modes/directory-all"), 0777);
    }

    private void times() throws IOException {
        maker.directory(path("times"), 0755);
        timedFile("times/nanoseconds", new Timespec(1_700_000_000L, 123_456_789));
        timedFile("times/zero", new Timespec(0, 0));
        timedFile("times/before-1970", new Timespec(-1_000_000_000L, 987_654_321));
        timedFile("times/just-before-1970", new Timespec(-1, 500_000_000));
        timedFile("times/after-2038", new Timespec(2_147_483_648L, 1));
        timedFile("times/after-2106", new Timespec(4_294_967_297L, 999_999_999));
        maker.directory(path("times/directory"), 0755);
        maker.time(path("times/directory"), new Timespec(1_234_567_890L, 5));
        maker.symlink(path("times/symlink"), "nanoseconds");
        maker.time(path("times/symlink"), new Timespec(-86_400L, 1));
    }

    private void timedFile(String relative, Timespec mtime) throws IOException {
        maker.file(path(relative), utf8(relative), 0644);
        maker.time(path(relative), mtime);
    }

    private void names() throws IOException {
        maker.directory(path("names"), 0755);
        int longest = has(Feature.LONGEST_NAMES) ? 255 : 254;
        for (String name : List.of("!x", "#y", "-z", ".hidden", "..two-dots", "with space",
                "back\\slash", "UPPER", "ünïcödé-日本", "n".repeat(longest))) {
            maker.file(path("names").resolve(name), utf8(name), 0644);
        }
        if (has(Feature.UNUSUAL_NAMES)) {
            unusualNames(longest);
        }
    }

    private void unusualNames(int longest) throws IOException {
        BytePath names = path("names");
        maker.file(names.resolve(new byte[] {'b', 'a', 'd', (byte) 0x80, (byte) 0xff}),
                utf8("bad"), 0644);
        byte[] longInvalid = new byte[longest];
        Arrays.fill(longInvalid, (byte) 0xff);
        maker.file(names.resolve(longInvalid), utf8("ff"), 0644);
        maker.file(names.resolve("line\nbreak"), utf8("newline"), 0644);
        maker.file(names.resolve("tab\there"), utf8("tab"), 0644);
        BytePath directory = names.resolve(new byte[] {(byte) 0xfe, (byte) 0xed, '-', 'd'});
        maker.directory(directory, 0755);
        maker.file(directory.resolve(new byte[] {'i', 'n', (byte) 0xc3}), utf8("inner"), 0644);
    }

    // --- the small tree ---

    private void smallTree() throws IOException {
        maker.file(path("file"), utf8("hello\n"), 0644);
        maker.file(path("empty"), new byte[0], 0600);
        maker.directory(path("dir"), 0755);
        maker.file(path("dir/nested"), random(5, 5000), 0640);
        maker.symlink(path("link"), "file");
        maker.hardlink(path("file"), path("dir/hardlink"));
        maker.time(path("file"), new Timespec(1_700_000_000L, 123_456_789));
        maker.time(path("dir/hardlink"), new Timespec(1_700_000_000L, 123_456_789));
        if (has(Feature.OWNERS)) {
            maker.owner(path("dir/nested"), 1000, 1000);
        }
        if (has(Feature.XATTRS)) {
            maker.xattr(path("file"), "user.small", BINARY_VALUE);
            maker.xattr(path("dir"), "trusted.small", utf8("d"));
        }
        if (has(Feature.DEVICES)) {
            maker.device(path("char-device"), FileType.CHAR_DEVICE, 1, 3, 0666);
        }
        if (has(Feature.FIFOS)) {
            maker.fifo(path("fifo"), 0644);
        }
        if (has(Feature.SOCKETS)) {
            maker.socket(path("socket"), 0755);
        }
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
