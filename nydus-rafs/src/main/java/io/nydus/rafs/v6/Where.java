package io.nydus.rafs.v6;

/**
 * Names a numbered structure in error messages, such as "inode nid 42". The text is built only
 * when an error needs it, because decoding a large bootstrap names every inode and chunk entry
 * it reads, and formatting all those names showed in profiles of the decode.
 *
 * @param prefix the text before the number, with its trailing space
 * @param number the nid, index or other number that identifies the structure
 */
record Where(String prefix, long number) {

    @Override
    public String toString() {
        return prefix + number;
    }
}
