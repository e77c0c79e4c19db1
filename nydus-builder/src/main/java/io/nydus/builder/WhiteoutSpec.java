package io.nydus.builder;

import java.util.Locale;

/** The convention by which a layer marks deleted entries. */
public enum WhiteoutSpec {
    /** `.wh.NAME` files and the `.wh..wh..opq` opaque marker, as OCI layers have them. */
    OCI,
    /** Overlayfs style: a 0:0 character device deletes, `trusted.overlay.opaque=y` is opaque. */
    OVERLAYFS,
    /** No whiteouts: `.wh.` files are ordinary files. */
    NONE;

    public static WhiteoutSpec fromLabel(String label) {
        return switch (label.toLowerCase(Locale.ROOT)) {
            case "oci" -> OCI;
            case "overlayfs" -> OVERLAYFS;
            case "none" -> NONE;
            default -> throw new IllegalArgumentException("unknown whiteout spec '" + label
                    + "', expected oci, overlayfs or none");
        };
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
