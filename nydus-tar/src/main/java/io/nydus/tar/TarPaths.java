package io.nydus.tar;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Lexical normalization of entry names and hard link targets, so that every entry lands inside
 * the image root whatever its name contains.
 */
public final class TarPaths {

    private TarPaths() {}

    /**
     * Splits {@code path} at '/' into the components of a path relative to the image root.
     *
     * <p>Empty and "." components are dropped, so leading "/" and "./" and doubled slashes go.
     * A ".." removes the component before it, and a ".." at the root is dropped, so the result
     * never leaves the root. No file system is consulted: a ".." after a symlink component is
     * resolved as if the symlink were a directory. An empty list is the root itself.
     *
     * @return the components, none empty, "." or ".."
     */
    public static List<Bytes> normalize(Bytes path) {
        byte[] bytes = path.array();
        List<Bytes> components = new ArrayList<>();
        int start = 0;
        while (start <= bytes.length) {
            int end = path.indexOf((byte) '/', start);
            if (end < 0) {
                end = bytes.length;
            }
            addComponent(components, bytes, start, end - start);
            start = end + 1;
        }
        return List.copyOf(components);
    }

    /** Returns the components joined with '/', without a leading slash; the root is empty. */
    public static Bytes join(List<Bytes> components) {
        ByteArrayOutputStream path = new ByteArrayOutputStream();
        for (Bytes component : components) {
            if (path.size() > 0) {
                path.write('/');
            }
            path.writeBytes(component.array());
        }
        return Bytes.wrap(path.toByteArray());
    }

    private static void addComponent(List<Bytes> components, byte[] bytes, int start, int length) {
        if (length == 0 || (length == 1 && bytes[start] == '.')) {
            return;
        }
        if (length == 2 && bytes[start] == '.' && bytes[start + 1] == '.') {
            if (!components.isEmpty()) {
                components.removeLast();
            }
            return;
        }
        components.add(Bytes.of(bytes, start, length));
    }
}
