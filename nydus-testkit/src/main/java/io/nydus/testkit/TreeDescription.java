package io.nydus.testkit;

/**
 * Counts of the files that {@link TreeGenerator} made, by kind, without the root directory.
 *
 * @param directories directories below the root
 * @param regularFiles regular files, counting each inode once
 * @param symlinks symbolic links, counting each inode once
 * @param hardlinks extra names made by {@code link}, beyond each inode's first name
 * @param charDevices character devices
 * @param blockDevices block devices
 * @param fifos named pipes
 * @param sockets sockets
 * @param xattrs extended attributes set, counting ACLs and capabilities
 * @param contentBytes the sum of the regular files' sizes, counting holes and each inode once
 */
public record TreeDescription(int directories, int regularFiles, int symlinks, int hardlinks,
        int charDevices, int blockDevices, int fifos, int sockets, int xattrs,
        long contentBytes) {

    /** Returns the number of paths below the root, hard links included. */
    public int paths() {
        return directories + regularFiles + symlinks + hardlinks + charDevices + blockDevices
                + fifos + sockets;
    }
}
