package io.nydus.rafs.v6;

/** Little-endian stores into byte arrays, as every RAFS field is little-endian. */
final class Le {
    private Le() {
    }

    static void putShort(byte[] b, int offset, int v) {
        b[offset] = (byte) v;
        b[offset + 1] = (byte) (v >>> 8);
    }

    static void putInt(byte[] b, int offset, int v) {
        for (int i = 0; i < 4; i++) {
            b[offset + i] = (byte) (v >>> (8 * i));
        }
    }

    static void putLong(byte[] b, int offset, long v) {
        for (int i = 0; i < 8; i++) {
            b[offset + i] = (byte) (v >>> (8 * i));
        }
    }
}
