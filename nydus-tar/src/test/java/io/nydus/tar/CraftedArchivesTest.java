package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.tar.TarBuilder.Header;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/** Archives written byte by byte: field encodings, extensions, hostile and broken input. */
class CraftedArchivesTest {

    @Test
    void globalPaxAppliesUntilCleared() throws IOException {
        byte[] archive = new TarBuilder()
                .pax('g', TarBuilder.record("uid", "7"), TarBuilder.record("mtime", "100.25"),
                        TarBuilder.record("SCHILY.xattr.user.global", "g"))
                .file("a", "")
                .pax('x', TarBuilder.record("uid", "8"),
                        TarBuilder.record("SCHILY.xattr.user.global", "local"))
                .file("b", "")
                .pax('g', TarBuilder.record("uid", ""))
                .add(new Header("c").uid(9), new byte[0])
                .end().toBytes();

        List<TarEntry> entries = entries(archive);

        assertEquals(7, entries.get(0).uid());
        assertEquals(100, entries.get(0).mtimeSeconds());
        assertEquals(250_000_000, entries.get(0).mtimeNanos());
        assertEquals(Map.of(utf8("user.global"), utf8("g")), entries.get(0).xattrs());
        assertEquals(8, entries.get(1).uid());
        assertEquals(Map.of(utf8("user.global"), utf8("local")), entries.get(1).xattrs());
        assertEquals(9, entries.get(2).uid());
        assertEquals(100, entries.get(2).mtimeSeconds());
    }

    @Test
    void ignoredGlobalPaxLeavesEntriesAlone() throws IOException {
        byte[] archive = new TarBuilder()
                .pax('g', TarBuilder.record("uid", "4242"), TarBuilder.record("mtime", "5"))
                .add(new Header("a").uid(3).mtime(1700000000), new byte[0])
                .end().toBytes();

        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(archive))
                .ignoreGlobalHeaders()) {
            TarEntry entry = reader.next();

            assertEquals(3, entry.uid());
            assertEquals(1700000000, entry.mtimeSeconds());
            assertNull(reader.next());
            assertEquals(1, reader.ignoredGlobalHeaders());
        }
    }

    @Test
    void uncompressedDigestCoversWholeStream() throws Exception {
        byte[] archive = new TarBuilder().file("a", "hello").end().toBytes();
        byte[] tail = new byte[4096];
        byte[] tar = Arrays.copyOf(archive, archive.length + tail.length);
        ByteArrayOutputStream gzipped = new ByteArrayOutputStream();
        try (var gzip = new GZIPOutputStream(gzipped)) {
            gzip.write(tar);
        }
        String expected = HexFormat.of().formatHex(
                MessageDigest.getInstance("SHA-256").digest(tar));

        try (TarReader reader = TarArchive.openHashing(
                new ByteArrayInputStream(gzipped.toByteArray()))) {
            reader.next();
            assertEquals(Optional.empty(), reader.uncompressedSha256());
            assertNull(reader.next());

            assertEquals(Optional.of(expected), reader.uncompressedSha256());
        }
    }

    @Test
    void plainOpenHashesNothing() throws IOException {
        byte[] archive = new TarBuilder().file("a", "hello").end().toBytes();

        try (TarReader reader = TarArchive.open(new ByteArrayInputStream(archive))) {
            reader.next();
            assertNull(reader.next());

            assertEquals(Optional.empty(), reader.uncompressedSha256());
        }
    }

    @Test
    void paxTimesAreExactDecimals() throws IOException {
        String[] times = {"-123.5", "1.000000000999", "-1.0000000001", "-0.000000001", "42",
            "1665584430.393557573", "-315619199.876543211", "+5.5", "7."};
        long[][] expected = {{-124, 500_000_000}, {1, 0}, {-2, 999_999_999}, {-1, 999_999_999},
            {42, 0}, {1665584430, 393_557_573}, {-315619200, 123_456_789}, {5, 500_000_000},
            {7, 0}};
        TarBuilder builder = new TarBuilder();
        for (String time : times) {
            builder.pax('x', TarBuilder.record("mtime", time)).file(time, "");
        }

        List<TarEntry> entries = entries(builder.end().toBytes());

        for (int i = 0; i < times.length; i++) {
            assertEquals(expected[i][0], entries.get(i).mtimeSeconds(), times[i] + " seconds");
            assertEquals(expected[i][1], entries.get(i).mtimeNanos(), times[i] + " nanoseconds");
        }
    }

    @Test
    void paxRecordsAreSplitByLength() throws IOException {
        byte[] value = {'a', '\n', '=', 0, '\n', (byte) 0xff, '9', ' ', '\n'};
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("SCHILY.xattr.user.x", value),
                        TarBuilder.record("SCHILY.xattr.user.\u00ff\u00fe", "raw name"),
                        TarBuilder.record("path", "name\nwith newline"))
                .file("ignored", "")
                .end().toBytes();

        TarEntry entry = entries(archive).getFirst();

        assertEquals(Bytes.of(value), entry.xattrs().get(utf8("user.x")));
        Bytes rawName = Bytes.of(new byte[] {'u', 's', 'e', 'r', '.', (byte) 0xff, (byte) 0xfe});
        assertEquals(utf8("raw name"), entry.xattrs().get(rawName));
        assertEquals(utf8("name\nwith newline"), entry.name());
    }

    @Test
    void libarchiveXattrsArePercentAndBase64Encoded() throws IOException {
        byte[] binary = {0, 1, 2, (byte) 0xff, '\n'};
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("LIBARCHIVE.xattr.user.%E2%82%AC%20x%zz",
                        Base64.getEncoder().withoutPadding().encodeToString(binary)),
                        TarBuilder.record("LIBARCHIVE.xattr.user.padded",
                                Base64.getEncoder().encodeToString(binary)),
                        TarBuilder.record("SCHILY.xattr.user.a%3Db%25c", "gnu"))
                .file("f", "")
                .end().toBytes();

        TarEntry entry = entries(archive).getFirst();

        assertEquals(Bytes.of(binary), entry.xattrs().get(utf8("user.\u20ac x%zz")));
        assertEquals(Bytes.of(binary), entry.xattrs().get(utf8("user.padded")));
        assertEquals(utf8("gnu"), entry.xattrs().get(utf8("user.a=b%c")));
    }

    @Test
    void invalidBase64NamesRecord() {
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("LIBARCHIVE.xattr.user.x", "not*base64"))
                .file("f", "")
                .end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertTrue(error.getMessage().contains("'LIBARCHIVE.xattr.user.x': value is not base64"),
                error.getMessage());
    }

    @Test
    void base256NumbersIncludingNegative() throws IOException {
        Header header = new Header("big").gnuMagic()
                .base256(108, 8, 4294967294L)
                .base256(116, 8, 1L << 40)
                .base256(124, 12, 5)
                .base256(136, 12, -315619200L);
        byte[] archive = new TarBuilder().add(header, "12345".getBytes(StandardCharsets.US_ASCII))
                .end().toBytes();

        TarEntry entry = entries(archive).getFirst();

        assertEquals(4294967294L, entry.uid());
        assertEquals(1L << 40, entry.gid());
        assertEquals(5, entry.size());
        assertEquals(-315619200L, entry.mtimeSeconds());
    }

    @Test
    void octalFieldsWithSpacesAndNuls() throws IOException {
        Header header = new Header("spaces")
                .text(100, "  4755 \0", 8)
                .text(108, "\0\0\0\0\0\0\0\0", 8)
                .text(116, "12\0\0\0\0\0\0", 8)
                .text(124, "     3     ", 12)
                .text(136, "17777777777 ", 12);
        byte[] archive = new TarBuilder().add(header, new byte[] {1, 2, 3}).end().toBytes();

        TarEntry entry = entries(archive).getFirst();

        assertEquals(04755, entry.mode());
        assertEquals(0, entry.uid());
        assertEquals(10, entry.gid());
        assertEquals(3, entry.size());
        assertEquals(017777777777L, entry.mtimeSeconds());
    }

    @Test
    void modeKeepsOnlyPermissionBits() throws IOException {
        byte[] archive = new TarBuilder().add(new Header("typed").mode(0107755), new byte[0])
                .end().toBytes();

        assertEquals(07755, entries(archive).getFirst().mode());
    }

    @Test
    void signedChecksumAccepted() throws IOException {
        Header header = new Header(new byte[] {'h', (byte) 0xe9, 'l', 'l', 'o'});
        byte[] block = header.toBytes();
        long signed = 0;
        for (int i = 0; i < 512; i++) {
            signed += i >= 148 && i < 156 ? ' ' : block[i];
        }
        header.checksum(String.format("%06o", signed) + "\0 ");

        TarEntry entry = entries(new TarBuilder().add(header, new byte[0]).end().toBytes())
                .getFirst();

        assertEquals(Bytes.of(new byte[] {'h', (byte) 0xe9, 'l', 'l', 'o'}), entry.name());
    }

    @Test
    void badChecksumNamesOffset() {
        byte[] archive = new TarBuilder()
                .file("first", "x")
                .add(new Header("second").checksum("0001234\0"), new byte[0])
                .end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertEquals(1024, error.offset());
        assertTrue(error.getMessage().startsWith("tar entry 1 at offset 0x400: invalid header "
                + "checksum: stored 668, computed "), error.getMessage());
    }

    @Test
    void invalidOctalNamesEntryFieldAndValue() {
        byte[] archive = new TarBuilder()
                .add(new Header("usr/bin/x").text(124, "12a4", 12), new byte[0])
                .end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertEquals("tar entry 0 'usr/bin/x' at offset 0x0: invalid octal in field size: '12a4'",
                error.getMessage());
    }

    @Test
    void regularTypeVariants() throws IOException {
        byte[] archive = new TarBuilder()
                .add(new Header("contiguous").type('7').size(3), new byte[] {1, 2, 3})
                .add(new Header("old/").type('\0').v7(), new byte[0])
                .add(new Header("v7file").type('\0').v7().size(1), new byte[] {9})
                .add(new Header("slash_file/").size(2), new byte[] {7, 7})
                .file("after", "ok")
                .end().toBytes();

        List<TarEntry> entries = entries(archive);

        assertEquals(List.of("FILE contiguous", "DIRECTORY old", "FILE v7file",
                "FILE slash_file/", "FILE after"),
                entries.stream().map(e -> e.type() + " " + e.name()).toList());
        assertEquals(2, entries.get(3).size(), "typeflag '0' is a file whatever its name");
    }

    @Test
    void unsupportedTypesAreNamed() {
        for (char type : new char[] {'D', 'V', 'M', 'N', 'A', 'Z', 'e'}) {
            byte[] archive = new TarBuilder().add(new Header("odd").type(type), new byte[0])
                    .end().toBytes();

            TarFormatException error = assertThrows(TarFormatException.class,
                    () -> entries(archive));

            assertEquals("tar entry 0 'odd' at offset 0x0: unsupported entry type '" + type
                    + "' (0x" + Integer.toHexString(type) + ")", error.getMessage());
        }
    }

    @Test
    void longLinkTargetsViaPaxAndGnu() throws IOException {
        String target = "t/".repeat(2500) + "end";
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("linkpath", target))
                .add(new Header("pax_link").type('2').linkName("short"), new byte[0])
                .longName('K', target.getBytes(StandardCharsets.UTF_8))
                .longName('L', ("n/".repeat(300) + "gnu_link").getBytes(StandardCharsets.UTF_8))
                .add(new Header("gnu_link").type('2').gnuMagic(), new byte[0])
                .end().toBytes();

        List<TarEntry> entries = entries(archive);

        assertEquals(utf8(target), entries.get(0).linkName());
        assertEquals(utf8(target), entries.get(1).linkName());
        assertEquals(utf8("n/".repeat(300) + "gnu_link"), entries.get(1).name());
        assertEquals(5003, entries.get(0).linkName().length());
    }

    @Test
    void ustarAndStarPrefixes() throws IOException {
        Header star = new Header("name").prefix("star/prefix");
        star.text(476, "", 24).text(508, "tar\0", 4);
        byte[] archive = new TarBuilder()
                .add(new Header("name").prefix("ustar/prefix"), new byte[0])
                .add(star, new byte[0])
                .add(new Header("name").gnuMagic().text(345, "atime", 12), new byte[0])
                .end().toBytes();

        List<TarEntry> entries = entries(archive);

        assertEquals(utf8("ustar/prefix/name"), entries.get(0).name());
        assertEquals(utf8("star/prefix/name"), entries.get(1).name());
        assertEquals(utf8("name"), entries.get(2).name());
    }

    @Test
    void headerOnlyTypesIgnoreSizeField() throws IOException {
        byte[] archive = new TarBuilder()
                .add(new Header("link").type('2').linkName("target").size(1000), new byte[0])
                .add(new Header("dev").type('3').devices(1, 3).size(77), new byte[0])
                .add(new Header("hard").type('1').linkName("link").size(5), new byte[0])
                .file("next", "data")
                .end().toBytes();

        List<TarEntry> entries = entries(archive);

        assertEquals(List.of("link", "dev", "hard", "next"),
                entries.stream().map(e -> e.name().toString()).toList());
        assertEquals(0, entries.get(0).size());
        assertEquals(1, entries.get(1).devMajor());
        assertEquals(3, entries.get(1).devMinor());
    }

    @Test
    void paxOverridesHeaderFields() throws IOException {
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("size", "10"), TarBuilder.record("uid", "8589934592"),
                        TarBuilder.record("gid", "4294967295"),
                        TarBuilder.record("SCHILY.devmajor", "4095"),
                        TarBuilder.record("SCHILY.devminor", "1048575"))
                .add(new Header("big").size(0).text(108, "garbage!", 8), new byte[10])
                .pax('x', TarBuilder.record("SCHILY.devmajor", "4095"),
                        TarBuilder.record("SCHILY.devminor", "1048575"))
                .add(new Header("dev").type('4'), new byte[0])
                .end().toBytes();

        List<TarEntry> entries = entries(archive);

        assertEquals(10, entries.get(0).size());
        assertEquals(8589934592L, entries.get(0).uid());
        assertEquals(4294967295L, entries.get(0).gid());
        assertEquals(0, entries.get(0).devMajor());
        assertEquals(4095, entries.get(1).devMajor());
        assertEquals(1048575, entries.get(1).devMinor());
    }

    @Test
    void laterPaxHeaderReplacesEarlierOne() throws IOException {
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("path", "from-first-header"),
                        TarBuilder.record("uid", "7"))
                .pax('x', TarBuilder.record("uid", "9"))
                .file("f", "data")
                .end().toBytes();

        TarEntry entry = entries(archive).getFirst();

        assertEquals("f", entry.name().toString());
        assertEquals(9, entry.uid());
    }

    @Test
    void duplicateEntriesComeInOrder() throws IOException {
        byte[] archive = new TarBuilder().file("same", "first").file("same", "second").end()
                .toBytes();

        try (TarReader reader = open(archive)) {
            assertEquals(utf8("same"), reader.next().name());
            assertArrayEquals("first".getBytes(StandardCharsets.UTF_8),
                    reader.content().readAllBytes());
            assertEquals(utf8("same"), reader.next().name());
            assertArrayEquals("second".getBytes(StandardCharsets.UTF_8),
                    reader.content().readAllBytes());
            assertNull(reader.next());
        }
    }

    @Test
    void hostileNamesNormalizeInsideRoot() throws IOException {
        String[] names = {"../../etc/passwd", "/abs/x", "./a/../../b", "a/./b//c/", "..", "/",
            "./"};
        TarBuilder builder = new TarBuilder();
        for (String name : names) {
            builder.add(new Header(name).type(name.endsWith("/") || name.equals("..") ? '5' : '0'),
                    new byte[0]);
        }

        List<TarEntry> entries = entries(builder.end().toBytes());

        List<String> normalized = new ArrayList<>();
        for (TarEntry entry : entries) {
            normalized.add(TarPaths.join(TarPaths.normalize(entry.name())).toString());
        }
        assertEquals(List.of("etc/passwd", "abs/x", "b", "a/b/c", "", "", ""), normalized);
        assertEquals(utf8("a/./b//c"), entries.get(3).name());
        assertEquals(utf8("/"), entries.get(5).name());
        assertEquals(utf8("."), entries.get(6).name());
    }

    @Test
    void endOfArchiveForms() throws IOException {
        byte[] oneZeroBlock = new TarBuilder().file("a", "x").raw(new byte[512]).toBytes();
        byte[] noZeroBlock = new TarBuilder().file("a", "x").toBytes();
        byte[] loneZeroBlock = new TarBuilder().file("a", "x").raw(new byte[512]).file("b", "y")
                .end().toBytes();
        byte[] recordPadding = new TarBuilder().file("a", "x").end().raw(new byte[8192])
                .toBytes();

        assertEquals(1, entries(oneZeroBlock).size());
        assertEquals(1, entries(recordPadding).size());
        TarFormatException missing = assertThrows(TarFormatException.class,
                () -> entries(noZeroBlock));
        assertEquals("truncated tar stream at offset 0x400 while reading tar entry 1 (header at "
                + "offset 0x400): end-of-archive blocks missing", missing.getMessage());
        TarFormatException lone = assertThrows(TarFormatException.class,
                () -> entries(loneZeroBlock));
        assertTrue(lone.getMessage().contains("a single zero block is followed by data"),
                lone.getMessage());
    }

    @Test
    void extendedHeaderWithoutEntry() {
        byte[] archive = new TarBuilder().pax('x', TarBuilder.record("path", "x")).end()
                .toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertTrue(error.getMessage().contains("end of archive right after PAX or long name"),
                error.getMessage());
    }

    @Test
    void oversizedPaxHeaderRejectedBeforeReading() {
        Header huge = new Header("PaxHeaders/huge").type('x').base256(124, 12, 1L << 40);
        byte[] archive = new TarBuilder().add(huge, new byte[0]).end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertTrue(error.getMessage().contains("has 1099511627776 bytes of data, outside the "
                + "limit of 0 to 16777216"), error.getMessage());
    }

    @Test
    void paxHeadersOfOneEntryAreCappedTogether() {
        TarBuilder builder = new TarBuilder();
        byte[] value = new byte[6 << 20];
        for (int i = 0; i < 3; i++) {
            builder.pax('x', TarBuilder.record("comment", value));
        }
        byte[] archive = builder.file("f", "").end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertTrue(error.getMessage().contains("headers of one entry exceed 16777216 bytes"),
                error.getMessage());
    }

    @Test
    void malformedPaxRecordNamesPosition() {
        byte[] records = "12 path=abc\n99 path=too long\n".getBytes(StandardCharsets.US_ASCII);
        byte[] archive = new TarBuilder()
                .add(new Header("PaxHeaders/x").type('x').size(records.length), records)
                .file("f", "").end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertEquals("tar entry 0 'PaxHeaders/x' at offset 0x0: invalid PAX record at byte 12 "
                + "of the PAX header: record length 99 does not fit the 17 bytes left",
                error.getMessage());
    }

    @Test
    void invalidPaxNumberNamesKey() {
        byte[] archive = new TarBuilder().pax('x', TarBuilder.record("uid", "12x"))
                .file("f", "").end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertEquals("tar entry 0 'f' at offset 0x400: invalid PAX record uid: '12x' is not a "
                + "decimal number", error.getMessage());
    }

    @Test
    void overlappingSparseMapRejected() {
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("GNU.sparse.size", "100"),
                        TarBuilder.record("GNU.sparse.map", "0,10,5,10"))
                .add(new Header("sparse").size(20), new byte[20])
                .end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertTrue(error.getMessage().contains("sparse segment 1 (offset 5, length 10) overlaps"),
                error.getMessage());
    }

    @Test
    void sparseMapMustAddUpToStoredData() {
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("GNU.sparse.size", "100"),
                        TarBuilder.record("GNU.sparse.map", "0,10,50,10"))
                .add(new Header("sparse").size(30), new byte[30])
                .end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertTrue(error.getMessage().contains("segments hold 20 bytes but the entry stores 30"),
                error.getMessage());
    }

    @Test
    void aclTextBecomesXattrAndMode() throws IOException {
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("SCHILY.acl.access",
                        "user::rw-,group::r--,other::---,user:lisa:rwx:1000,mask::rwx"),
                        TarBuilder.record("SCHILY.acl.default",
                                "user::rwx\ngroup::r-x\nother::r-x\n"))
                .add(new Header("acl").mode(0640), new byte[0])
                .pax('x', TarBuilder.record("SCHILY.acl.access", "user::rw-,user:bob:r--,"
                        + "group::r--,mask::r--,other::r--"))
                .add(new Header("named").mode(0644), new byte[0])
                .end().toBytes();

        List<TarEntry> entries = entries(archive);

        TarEntry acl = entries.get(0);
        assertEquals(0670, acl.mode());
        assertEquals(Bytes.of(hex("02000000" + "01000600ffffffff" + "02000700e8030000"
                + "04000400ffffffff" + "10000700ffffffff" + "20000000ffffffff")),
                acl.xattrs().get(utf8("system.posix_acl_access")));
        assertEquals(Bytes.of(hex("02000000" + "01000700ffffffff" + "04000500ffffffff"
                + "20000500ffffffff")), acl.xattrs().get(utf8("system.posix_acl_default")));
        assertEquals(Map.of(), entries.get(1).xattrs(), "ACL naming bob without an id is left out");
    }

    @Test
    void invalidAclTextIsError() {
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("SCHILY.acl.access", "user::rw-,user:5:r--,other::r--"))
                .file("f", "").end().toBytes();

        TarFormatException error = assertThrows(TarFormatException.class, () -> entries(archive));

        assertTrue(error.getMessage().contains("invalid PAX record SCHILY.acl.access"),
                error.getMessage());
    }

    @Test
    void invalidAclXattrIsError() {
        Map<String, String> invalid = new LinkedHashMap<>();
        invalid.put("not whole entries", "02000000" + "676172626167");
        invalid.put("version 1", "01000000" + "01000600ffffffff" + "04000400ffffffff"
                + "20000400ffffffff");
        invalid.put("unknown tag 0x40", "02000000" + "01000600ffffffff" + "04000400ffffffff"
                + "40000400ffffffff");
        invalid.put("permissions beyond rwx", "02000000" + "01000e00ffffffff"
                + "04000400ffffffff" + "20000400ffffffff");
        invalid.put("group:: before user::", "02000000" + "04000400ffffffff"
                + "01000600ffffffff" + "20000400ffffffff");
        invalid.put("no other::", "02000000" + "01000600ffffffff" + "04000400ffffffff");
        invalid.put("named user without mask::", "02000000" + "01000600ffffffff"
                + "02000700e8030000" + "04000400ffffffff" + "20000400ffffffff");
        for (String xattr : List.of("system.posix_acl_access", "system.posix_acl_default")) {
            invalid.forEach((problem, value) -> {
                byte[] archive = new TarBuilder()
                        .pax('x', TarBuilder.record("SCHILY.xattr." + xattr, hex(value)))
                        .file("f", "").end().toBytes();

                TarFormatException error = assertThrows(TarFormatException.class,
                        () -> entries(archive), xattr + " with " + problem);

                assertTrue(error.getMessage().contains("invalid xattr " + xattr),
                        error.getMessage());
            });
        }
    }

    @Test
    void validAclXattrIsKept() throws IOException {
        String access = "02000000" + "01000600ffffffff" + "02000700e8030000" + "04000400ffffffff"
                + "10000700ffffffff" + "20000000ffffffff";
        byte[] archive = new TarBuilder()
                .pax('x', TarBuilder.record("SCHILY.xattr.system.posix_acl_access", hex(access)),
                        TarBuilder.record("SCHILY.xattr.system.posix_acl_default",
                                hex("02000000")))
                .file("f", "").end().toBytes();

        TarEntry entry = entries(archive).getFirst();

        assertEquals(Bytes.of(hex(access)), entry.xattrs().get(utf8("system.posix_acl_access")));
        assertEquals(Bytes.of(hex("02000000")),
                entry.xattrs().get(utf8("system.posix_acl_default")),
                "a value without entries means no ACL");
    }

    @Test
    void contentAfterNextIsRejected() throws IOException {
        byte[] archive = new TarBuilder().file("a", "x").file("b", "y").end().toBytes();

        try (TarReader reader = open(archive)) {
            reader.next();
            InputStream first = reader.content();
            reader.next();
            assertThrows(IllegalStateException.class, first::read);
        }
    }

    @Test
    void readerStopsAfterError() throws IOException {
        byte[] archive = new TarBuilder()
                .add(new Header("bad").text(124, "9", 12), new byte[0])
                .file("good", "x")
                .end().toBytes();

        try (TarReader reader = open(archive)) {
            assertThrows(TarFormatException.class, reader::next);
            IllegalStateException error = assertThrows(IllegalStateException.class,
                    reader::next);
            assertTrue(error.getMessage().contains("invalid octal in field size: '9'"),
                    error.getMessage());
        }
    }

    @Test
    void contentBeforeNextIsRejected() throws IOException {
        try (TarReader reader = open(new TarBuilder().file("a", "x").end().toBytes())) {
            assertThrows(IllegalStateException.class, reader::content);
        }
    }

    @Test
    void nonFileContentIsEmpty() throws IOException {
        byte[] archive = new TarBuilder().add(new Header("dir/").type('5'), new byte[0]).end()
                .toBytes();

        try (TarReader reader = open(archive)) {
            reader.next();
            assertEquals(-1, reader.content().read());
        }
    }

    private static List<TarEntry> entries(byte[] archive) throws IOException {
        List<TarEntry> entries = new ArrayList<>();
        try (TarReader reader = open(archive)) {
            for (TarEntry entry = reader.next(); entry != null; entry = reader.next()) {
                entries.add(entry);
            }
        }
        return entries;
    }

    private static TarReader open(byte[] archive) throws IOException {
        return TarArchive.open(new ByteArrayInputStream(archive));
    }

    private static Bytes utf8(String text) {
        return Bytes.ofUtf8(text);
    }

    private static byte[] hex(String hex) {
        return HexFormat.of().parseHex(hex);
    }
}
