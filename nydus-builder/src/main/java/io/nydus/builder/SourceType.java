package io.nydus.builder;

import java.util.Locale;

/** The kind of source `nydus-image create` reads: a directory or a layer tarball. */
public enum SourceType {
    DIR_RAFS("dir-rafs"),
    TAR_RAFS("tar-rafs"),
    TARGZ_RAFS("targz-rafs"),
    /** A gzip tarball that stays the data blob, with a ref blob of ZRAN contexts. */
    TARGZ_REF("targz-ref");

    private final String label;

    SourceType(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public static SourceType fromLabel(String text) {
        String requested = text.toLowerCase(Locale.ROOT);
        for (SourceType t : values()) {
            if (t.label.equals(requested)) {
                return t;
            }
        }
        if (requested.equals("directory")) {
            return DIR_RAFS;
        }
        throw new IllegalArgumentException("unknown source type '" + text
                + "', expected dir-rafs, tar-rafs, targz-rafs or targz-ref");
    }
}
