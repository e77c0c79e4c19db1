package io.nydus.builder;

import java.util.Locale;

/** What `nydus-image create` reads: a directory or a layer tarball. */
public enum SourceType {
    DIR_RAFS("dir-rafs"),
    TAR_RAFS("tar-rafs"),
    TARGZ_RAFS("targz-rafs");

    private final String label;

    SourceType(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public static SourceType fromLabel(String text) {
        String wanted = text.toLowerCase(Locale.ROOT);
        for (SourceType t : values()) {
            if (t.label.equals(wanted)) {
                return t;
            }
        }
        if (wanted.equals("directory")) {
            return DIR_RAFS;
        }
        throw new IllegalArgumentException("unknown source type '" + text
                + "', expected dir-rafs, tar-rafs or targz-rafs");
    }
}
