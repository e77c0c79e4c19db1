package io.nydus.posix;

/**
 * Device number encoding of glibc's 64-bit {@code dev_t}.
 *
 * <p>glibc stores the major number's low 12 bits in bits 8-19 and its high 20 bits in bits
 * 44-63, and the minor number's low 8 bits in bits 0-7 and its high 24 bits in bits 20-43. The
 * kernel's {@code mknod} keeps only 32 bits of this: majors up to 4095 and minors up to
 * 1048575.
 */
public final class Devices {

    /** The largest major number that {@code mknod} and the EROFS 32-bit encoding keep. */
    public static final long MAX_KERNEL_MAJOR = 4095;
    /** The largest minor number that {@code mknod} and the EROFS 32-bit encoding keep. */
    public static final long MAX_KERNEL_MINOR = 1048575;

    private static final long MAX_NUMBER = 0xffff_ffffL;

    private Devices() {
    }

    /** Returns the major number of {@code dev}. */
    public static long major(long dev) {
        return ((dev >>> 32) & 0xffff_f000L) | ((dev >>> 8) & 0xfffL);
    }

    /** Returns the minor number of {@code dev}. */
    public static long minor(long dev) {
        return ((dev >>> 12) & 0xffff_ff00L) | (dev & 0xffL);
    }

    /**
     * Returns the {@code dev_t} of {@code major} and {@code minor}.
     *
     * @throws IllegalArgumentException if a number is negative or above 2^32 - 1
     */
    public static long makedev(long major, long minor) {
        checkNumber("major", major);
        checkNumber("minor", minor);
        return ((major & 0xffff_f000L) << 32) | ((major & 0xfffL) << 8)
                | ((minor & 0xffff_ff00L) << 12) | (minor & 0xffL);
    }

    private static void checkNumber(String name, long value) {
        if (value < 0 || value > MAX_NUMBER) {
            throw new IllegalArgumentException(
                    name + " device number must be 0 to " + MAX_NUMBER + ", got " + value);
        }
    }
}
