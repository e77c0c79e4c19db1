package io.nydus.rafs.tree;

import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;

/**
 * Extended attributes of one inode: raw name bytes to raw value bytes, kept in unsigned byte
 * order of the names so that output is the same on every run.
 */
public final class Xattrs {
    /** The maximum name length the kernel accepts, in bytes. */
    public static final int MAX_NAME = 255;
    /** The largest value the kernel accepts, in bytes. */
    public static final int MAX_VALUE = 65536;

    /**
     * The attributes, or null while there are none: most inodes have none, and a daemon keeps
     * every inode of its images on the heap.
     */
    private TreeMap<byte[], byte[]> entries;

    private Map<byte[], byte[]> entries() {
        return entries == null ? Map.of() : entries;
    }

    public boolean isEmpty() {
        return entries().isEmpty();
    }

    public int size() {
        return entries().size();
    }

    /** Sets one attribute, copying both arrays. */
    public void put(byte[] name, byte[] value) {
        if (name.length == 0 || name.length > MAX_NAME) {
            throw new IllegalArgumentException("xattr name has " + name.length
                    + " bytes, expected 1.." + MAX_NAME);
        }
        if (value.length > MAX_VALUE) {
            throw new IllegalArgumentException("xattr value has " + value.length
                    + " bytes, more than " + MAX_VALUE);
        }
        if (entries == null) {
            entries = new TreeMap<>(Arrays::compareUnsigned);
        }
        entries.put(name.clone(), value.clone());
    }

    /** Returns a copy of the value, or null when the attribute is absent. */
    public byte[] get(byte[] name) {
        byte[] value = entries().get(name);
        return value == null ? null : value.clone();
    }

    public boolean remove(byte[] name) {
        return entries != null && entries.remove(name) != null;
    }

    /** Calls {@code action} for each attribute in name order; the arrays must not be changed. */
    public void forEach(BiConsumer<byte[], byte[]> action) {
        for (Map.Entry<byte[], byte[]> e : entries().entrySet()) {
            action.accept(e.getKey(), e.getValue());
        }
    }

    public Xattrs copy() {
        Xattrs copy = new Xattrs();
        if (entries != null) {
            copy.entries = new TreeMap<>(entries);
        }
        return copy;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Xattrs other) || other.size() != size()) {
            return false;
        }
        var it = other.entries().entrySet().iterator();
        for (Map.Entry<byte[], byte[]> e : entries().entrySet()) {
            Map.Entry<byte[], byte[]> o2 = it.next();
            if (!Arrays.equals(e.getKey(), o2.getKey())
                    || !Arrays.equals(e.getValue(), o2.getValue())) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = 1;
        for (Map.Entry<byte[], byte[]> e : entries().entrySet()) {
            h = 31 * h + Arrays.hashCode(e.getKey()) * 17 + Arrays.hashCode(e.getValue());
        }
        return h;
    }
}
