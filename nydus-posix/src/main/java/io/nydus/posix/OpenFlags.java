package io.nydus.posix;

/**
 * Flags for {@link Posix#open} and {@link Posix#openat}, with the values of Linux on x86_64
 * and aarch64.
 *
 * <p>The two architectures differ in {@code O_DIRECTORY}, {@code O_NOFOLLOW} and
 * {@code O_DIRECT}, so those are chosen from {@code os.arch} when the class loads.
 */
public final class OpenFlags {

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 01;
    public static final int O_RDWR = 02;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_NOCTTY = 0400;
    public static final int O_TRUNC = 01000;
    public static final int O_APPEND = 02000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_PATH = 010000000;
    public static final int O_DIRECTORY;
    public static final int O_NOFOLLOW;
    public static final int O_DIRECT;

    static {
        String arch = System.getProperty("os.arch");
        switch (arch) {
            case "amd64", "x86_64" -> {
                O_DIRECTORY = 0200000;
                O_NOFOLLOW = 0400000;
                O_DIRECT = 040000;
            }
            case "aarch64", "arm64" -> {
                O_DIRECTORY = 040000;
                O_NOFOLLOW = 0100000;
                O_DIRECT = 0200000;
            }
            default -> throw new ExceptionInInitializerError(
                    "open(2) flag values are not known for architecture " + arch);
        }
    }

    private OpenFlags() {
    }
}
