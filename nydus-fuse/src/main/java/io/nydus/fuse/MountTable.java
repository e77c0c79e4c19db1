package io.nydus.fuse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** Reads {@code /proc/self/mountinfo}, whose fields escape space, tab, newline and '\' octal. */
final class MountTable {

    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private MountTable() {
    }

    /**
     * Returns whether the mount with device {@code major:minor} is attached at
     * {@code mountpoint}.
     */
    static boolean isMounted(String device, byte[] mountpoint) throws IOException {
        List<String> lines = Files.readAllLines(MOUNTINFO, StandardCharsets.ISO_8859_1);
        for (String line : lines) {
            String[] fields = line.split(" ");
            if (fields.length > 4 && fields[2].equals(device)
                    && Arrays.equals(unescape(fields[4]), mountpoint)) {
                return true;
            }
        }
        return false;
    }

    /** Returns the bytes of a field; the file was read as ISO-8859-1, one char per byte. */
    private static byte[] unescape(String field) {
        byte[] bytes = new byte[field.length()];
        int length = 0;
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && isOctal(field, i + 1)) {
                bytes[length++] = (byte) Integer.parseInt(field.substring(i + 1, i + 4), 8);
                i += 3;
            } else {
                bytes[length++] = (byte) c;
            }
        }
        return Arrays.copyOf(bytes, length);
    }

    private static boolean isOctal(String field, int start) {
        for (int i = start; i < start + 3; i++) {
            char c = field.charAt(i);
            if (c < '0' || c > '7') {
                return false;
            }
        }
        return true;
    }
}
