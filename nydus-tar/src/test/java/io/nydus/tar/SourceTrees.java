package io.nydus.tar;

import java.nio.file.Path;

/** Source trees for the archive tests, made with shell commands in a directory of the test. */
final class SourceTrees {

    /** Files every tar format can hold: v7 names of at most 99 bytes, small ids, no specials. */
    private static final String BASIC = """
            cd "$1"
            mkdir -p dir/sub empty_dir
            printf 'hello\\n' > dir/file.txt
            : > empty
            head -c 200000 /dev/urandom > random.bin
            head -c 511 /dev/urandom > size511
            head -c 512 /dev/urandom > size512
            head -c 513 /dev/urandom > size513
            ln dir/file.txt hardlink
            ln -s dir/file.txt symlink
            ln -s ../missing/target dir/dangling
            chown 1000:1001 dir/file.txt
            chmod 640 dir/file.txt
            chmod 700 dir/sub
            touch -h -d '2001-02-03 04:05:06' symlink
            touch -d '2020-01-01 00:00:00' random.bin empty
            """;

    /** Additions for ustar: special files, 8-digit octal ids, names that need the prefix field. */
    private static final String USTAR = """
            cd "$1"
            mkfifo fifo
            mknod chardev c 1 3
            mknod blockdev b 7 200
            long_dir=$(printf 'd%.0s' $(seq 1 60))/$(printf 'e%.0s' $(seq 1 60))
            mkdir -p "$long_dir"
            printf 'in a long directory' > "$long_dir/$(printf 'f%.0s' $(seq 1 90))"
            : > setuid && chmod 4755 setuid
            : > setgid && chmod 2711 setgid
            mkdir sticky && chmod 1777 sticky
            : > noperm && chmod 0 noperm
            : > bigid && chown 2097151:2097150 bigid
            """;

    /**
     * Additions for GNU and PAX: names of 255 bytes, paths and link targets over 100 bytes, names
     * that are not UTF-8, ids up to 2^32-2 and a time before 1970.
     */
    private static final String GNU = """
            cd "$1"
            name255=$(printf 'n%.0s' $(seq 1 255))
            printf 'two hundred fifty-five' > "$name255"
            mkdir -p "$(printf 'a%.0s' $(seq 1 200))/$(printf 'b%.0s' $(seq 1 200))"
            printf 'deep' > "$(printf 'a%.0s' $(seq 1 200))/$(printf 'b%.0s' $(seq 1 200))/file"
            ln -s "$(printf 't%.0s' $(seq 1 300))/$(printf 'u%.0s' $(seq 1 300))" longlink
            ln -s "$(printf '/x%.0s' $(seq 1 2047))y" link4095
            ln "$name255" "hard_$(printf 'h%.0s' $(seq 1 200))"
            printf 'not utf-8' > "$(printf 'bad\\xff\\xfename')"
            mkdir "$(printf 'dir\\xc3\\x28')"
            printf 'inside' > "$(printf 'dir\\xc3\\x28')/$(printf '\\xe2\\x82')"
            : > maxid && chown 4294967294:4294967294 maxid
            : > old && touch -d '1960-01-01 00:00:00' old
            """;

    /** Additions for PAX: nanoseconds, xattrs with NUL and newline bytes, POSIX ACLs. */
    private static final String PAX = """
            cd "$1"
            touch -d '1960-01-01 00:00:00.123456789' old
            : > nanos && touch -d '2030-05-06 07:08:09.987654321' nanos
            printf 'x' > xattrs
            setfattr -n user.binary -v 0x000a0d0aff00 xattrs
            setfattr -n user.text -v 'line one
            line two' xattrs
            setfattr -n user.empty xattrs
            setfattr -n trusted.overlay.opaque -v y xattrs
            setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 xattrs
            setfattr -n "$(printf 'user.\\xff\\xfe')" -v 0x00 xattrs
            setfattr -n 'user.a=b%c' -v eq xattrs
            mkdir xattr_dir && setfattr -n user.on_dir -v 0x0a xattr_dir
            : > acl_file && setfacl -m u:1234:r,g:4321:rw,u:daemon:rwx acl_file
            mkdir acl_dir && setfacl -d -m u:1234:rx acl_dir && setfacl -m g:daemon:rx acl_dir
            """;

    private SourceTrees() {}

    /** Makes the files every format holds, v7 included. */
    static void basic(Path root) {
        Shell.run(BASIC, root.toString());
    }

    /** Makes the files a ustar archive holds. */
    static void ustar(Path root) {
        basic(root);
        Shell.run(USTAR, root.toString());
    }

    /** Makes the files an old GNU archive holds. */
    static void gnu(Path root) {
        ustar(root);
        Shell.run(GNU, root.toString());
    }

    /** Makes the files a PAX archive holds: all of them. */
    static void pax(Path root) {
        gnu(root);
        Shell.run(PAX, root.toString());
    }

    /** Sets the directories' times last, since adding files changed them. */
    static void settle(Path root) {
        Shell.run("find \"$1\" -type d -exec touch -d '2010-10-10 10:10:10.5' {} +",
                root.toString());
    }
}
