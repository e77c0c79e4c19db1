package io.nydus.daemon;

import io.nydus.daemon.SlotTable.Slot;
import io.nydus.fuse.Attr;
import io.nydus.fuse.DirEntry;
import io.nydus.fuse.DirSink;
import io.nydus.fuse.Entry;
import io.nydus.fuse.FuseConnection;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.fuse.FuseNotifier;
import io.nydus.fuse.StatFs;
import io.nydus.posix.Errno;
import io.nydus.rafs.tree.Node;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The file system a daemon serves over its one FUSE mount. Either one image sits at the root, or
 * (in shared mode) the root is an empty directory whose entries are images mounted through the
 * API. Node ids carry the mount's slot in their top 16 bits, so the images' inode numbers stay
 * apart.
 *
 * <p>Each reply that hands the kernel a node id (a lookup, or an entry of a readdirplus other
 * than "." and "..") counts one lookup in the node's slot, and FORGET subtracts what the
 * kernel drops. An unmounted image's slot goes back to the free slots once its count is 0,
 * so that no request of the kernel reaches another image through a reused slot.
 *
 * <p>The shared root changes at run time. The kernel gets its listing anew at each open, and
 * each mount, remount and unmount invalidates the root's attributes and the entry of its name
 * through the session's {@link FuseNotifier}, from a thread of its own that holds no lock.
 */
public final class Vfs implements FuseFileSystem {
    private static final Logger LOG = LoggerFactory.getLogger(Vfs.class);
    static final int SLOT_SHIFT = 48;
    private static final long LOCAL_MASK = (1L << SLOT_SHIFT) - 1;
    private static final byte[] DOT = ".".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DOT_DOT = "..".getBytes(StandardCharsets.US_ASCII);

    private final boolean shared;
    private final SlotTable slots = new SlotTable();
    private final Map<String, Slot> names = new ConcurrentHashMap<>();
    /** The root's modification time: the last change of its entries, or the start. */
    private volatile Instant rootModified = Instant.now();
    private volatile FuseNotifier notifier;
    /**
     * Sends the invalidations, one after the other, off the caller's thread. The kernel may
     * hold one until a worker replies to a request in the root, and the callers hold the
     * daemon's mount locks, which must never wait on FUSE requests.
     */
    private final ExecutorService invalidations = new ThreadPoolExecutor(0, 1, 30,
            TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            Thread.ofPlatform().daemon().name("fuse-invalidate").factory());

    private Vfs(boolean shared) {
        this.shared = shared;
    }

    /** Returns a file system with {@code image} at its root. */
    public static Vfs single(RafsFileSystem image) {
        Vfs vfs = new Vfs(false);
        vfs.names.put("", vfs.slots.single(image));
        return vfs;
    }

    /** Returns an empty root directory that images are mounted into by name. */
    public static Vfs shared() {
        return new Vfs(true);
    }

    public boolean isShared() {
        return shared;
    }

    /**
     * Puts {@code image} at {@code name} under the root, replacing the image there, if any. A
     * new image takes the lowest free slot, else a slot never used before.
     *
     * @throws IllegalArgumentException if the name is not a single path component
     * @throws IllegalStateException if no slot is free
     */
    public void attach(String name, RafsFileSystem image) {
        checkName(name);
        // NOTE: a replaced image keeps the slot, so its inodes get the node ids of the old
        // image's inodes. The kernel may serve what it cached for those: attributes until their
        // timeout, file pages until they are evicted.
        names.compute(name, (key, slot) -> {
            if (slot == null) {
                return slots.allocate(name, image);
            }
            slot.replace(image);
            return slot;
        });
        rootChanged(name);
    }

    /**
     * Puts {@code image} at {@code name} in {@code slot}, the slot it had in the process that
     * served the mount before, so that the node ids the kernel caches keep their meaning.
     *
     * @throws IllegalStateException if the slot or the name is taken
     */
    void restore(String name, int slot, RafsFileSystem image) {
        checkName(name);
        names.compute(name, (key, present) -> {
            if (present != null) {
                throw new IllegalStateException("/" + name + " is in use already");
            }
            return slots.restore(name, slot, image);
        });
    }

    /**
     * Returns the lowest slot never handed out in this process. A new image gets a freed slot
     * below it first.
     */
    int nextSlot() {
        return slots.next();
    }

    /** Makes new images start at {@code slot} or later, as in the process served before. */
    void reserveSlotsBelow(int slot) {
        slots.reserveBelow(slot);
    }

    /** Returns the slot of the image at {@code name}, or -1 if none is there. */
    int slotOf(String name) {
        Slot slot = names.get(name);
        return slot == null ? -1 : slot.index();
    }

    /** Returns the slots of unmounted images that the next mounts take, lowest first. */
    SortedSet<Integer> freeSlots() {
        return slots.freeSlots();
    }

    /** Returns the lookups that the kernel holds on node ids of slot {@code index}. */
    long lookupsInSlot(int index) {
        Slot slot = slots.get(index);
        return slot == null ? 0 : slot.lookups();
    }

    /**
     * Returns how many FORGET requests forgot more lookups than were counted, which shows a
     * count that missed a reply.
     */
    long forgetMismatches() {
        return slots.mismatches();
    }

    /**
     * Removes the image at {@code name} and returns whether there was one. Its slot is retired
     * until the kernel has sent FORGET for all of its node ids.
     */
    public boolean detach(String name) {
        Slot slot = names.remove(name);
        if (slot == null) {
            return false;
        }
        slots.retire(slot);
        // Dropping the entry of the name makes the kernel forget the image's unused nodes at
        // once. The entries of files and directories open now are dropped at their release.
        rootChanged(name);
        return true;
    }

    /**
     * Records a change of the root's entry {@code name} and has the kernel drop that entry and
     * the root's attributes, which it would otherwise keep until their timeouts.
     */
    private void rootChanged(String name) {
        rootModified = Instant.now();
        FuseNotifier current = notifier;
        if (current == null) {
            return;
        }
        invalidations.execute(() -> {
            try {
                current.invalidateEntry(ROOT, name.getBytes(StandardCharsets.UTF_8));
                current.invalidateInode(ROOT);
            } catch (RuntimeException e) {
                // The kernel keeps its cached root until the entry's timeout then.
                LOG.warn("cannot invalidate the kernel's cache of /{}: {}", name, e.toString());
            }
        });
    }

    /**
     * Waits up to {@code timeout} for the invalidations sent so far, so that a listing right
     * after a mount request shows the change. An invalidation that the kernel holds longer
     * goes on in the background.
     */
    void awaitInvalidations(Duration timeout) {
        try {
            invalidations.submit(() -> { }).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            LOG.debug("the kernel has not taken the root's invalidations within {} ms",
                    timeout.toMillis());
        } catch (ExecutionException | RejectedExecutionException e) {
            LOG.debug("cannot wait for the root's invalidations: {}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void checkName(String name) {
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.contains("/")
                || name.indexOf('\0') >= 0 || name.getBytes(StandardCharsets.UTF_8).length > 255) {
            throw new IllegalArgumentException("mountpoint '/" + name + "' must be one path"
                    + " component below the daemon's root, such as /image1");
        }
    }

    private record Target(RafsFileSystem fs, Slot slot, long local) {
    }

    private Target target(long node) throws FuseException {
        Slot slot = slots.get((int) (node >>> SLOT_SHIFT));
        RafsFileSystem fs = slot == null ? null : slot.image();
        if (fs == null) {
            throw new FuseException(Errno.ENOENT, "inode " + node + " belongs to no mounted image");
        }
        return new Target(fs, slot, node & LOCAL_MASK);
    }

    /** Counts the lookup that {@code entry} hands to the kernel in {@code slot}. */
    private static Entry handOut(Slot slot, Entry entry) throws FuseException {
        // Slot 0 is never freed, so its lookups need no count.
        if (slot.index() != 0 && !slot.acquire(1)) {
            throw new FuseException(Errno.ENOENT, "the image of slot " + slot.index()
                    + " was unmounted");
        }
        return entry;
    }

    /** Returns whether the kernel counts a readdirplus entry of this name as a lookup. */
    private static boolean countsAsLookup(byte[] name) {
        return !Arrays.equals(name, DOT) && !Arrays.equals(name, DOT_DOT);
    }

    private boolean isPseudoRoot(long node) {
        return shared && node == ROOT;
    }

    private static long global(int slot, long local) {
        return ((long) slot << SLOT_SHIFT) | local;
    }

    private static Attr globalAttr(int slot, Attr attr) {
        return new Attr(global(slot, attr.inode()), attr.size(), attr.blocks(),
                attr.mtimeSeconds(), attr.mtimeNanos(), attr.mode(), attr.nlink(), attr.uid(),
                attr.gid(), attr.rdev());
    }

    private static Entry globalEntry(int slot, Entry entry) {
        return new Entry(globalAttr(slot, entry.attr()), entry.timeoutSeconds());
    }

    private Attr rootAttr() {
        Instant modified = rootModified;
        return new Attr(ROOT, 4096, 8, modified.getEpochSecond(), modified.getNano(), 0040755,
                2 + names.size(), 0, 0, 0);
    }

    @Override
    public void init(FuseConnection connection) {
    }

    @Override
    public void setNotifier(FuseNotifier sessionNotifier) {
        notifier = sessionNotifier;
    }

    @Override
    public boolean isListingCacheable(long inode) {
        return !isPseudoRoot(inode);
    }

    @Override
    public Entry lookup(long parent, byte[] name) throws FuseException {
        if (isPseudoRoot(parent)) {
            Slot slot = names.get(new String(name, StandardCharsets.UTF_8));
            RafsFileSystem fs = slot == null ? null : slot.image();
            if (fs == null) {
                throw new FuseException(Errno.ENOENT, "no mount");
            }
            // Mounts come and go, so the kernel must ask again each time.
            return handOut(slot, new Entry(globalAttr(slot.index(), fs.getattr(ROOT)), 0));
        }
        Target target = target(parent);
        if (target.slot.index() != 0 && target.local == ROOT && Arrays.equals(name, DOT_DOT)) {
            // The shared root has node id 1 in slot 0, which is never freed.
            return new Entry(rootAttr(), 0);
        }
        Entry entry = target.fs.lookup(target.local, name);
        return handOut(target.slot, globalEntry(target.slot.index(), entry));
    }

    /**
     * Subtracts forgotten lookups from the node's slot. A reply whose delivery failed after it
     * was counted leaves its lookup counted, which keeps the slot from reuse but is safe.
     */
    @Override
    public void forget(long inode, long count) {
        RafsFileSystem image = forgetInSlot(inode, count);
        if (image != null) {
            image.forget(inode & LOCAL_MASK, count);
        }
    }

    /**
     * Subtracts the forgotten lookups of each inode from its slot, and passes each image the
     * part of the request that names its inodes, as one request of its own.
     */
    @Override
    public void batchForget(long[] inodes, long[] counts) {
        Map<RafsFileSystem, List<Integer>> byImage = new IdentityHashMap<>();
        for (int i = 0; i < inodes.length; i++) {
            RafsFileSystem image = forgetInSlot(inodes[i], counts[i]);
            if (image != null) {
                byImage.computeIfAbsent(image, key -> new ArrayList<>()).add(i);
            }
        }
        byImage.forEach((image, positions) -> {
            long[] locals = new long[positions.size()];
            long[] localCounts = new long[positions.size()];
            for (int i = 0; i < locals.length; i++) {
                locals[i] = inodes[positions.get(i)] & LOCAL_MASK;
                localCounts[i] = counts[positions.get(i)];
            }
            image.batchForget(locals, localCounts);
        });
    }

    /**
     * Subtracts forgotten lookups from the node's slot and returns the image the node belongs
     * to, or null when there is none: the shared root, or an unmounted image.
     */
    private RafsFileSystem forgetInSlot(long inode, long count) {
        if (isPseudoRoot(inode)) {
            return null;
        }
        int index = (int) (inode >>> SLOT_SHIFT);
        Slot slot = slots.get(index);
        RafsFileSystem image = slot == null ? null : slot.image();
        // Slot 0 is the shared root or the only image, and it is never freed.
        if (index != 0) {
            slots.forget(index, inode, count);
        }
        return image;
    }

    @Override
    public Attr getattr(long inode) throws FuseException {
        if (isPseudoRoot(inode)) {
            return rootAttr();
        }
        Target target = target(inode);
        return globalAttr(target.slot.index(), target.fs.getattr(target.local));
    }

    @Override
    public byte[] readlink(long inode) throws FuseException {
        Target target = target(inode);
        return target.fs.readlink(target.local);
    }

    @Override
    public long open(long inode, int flags) throws FuseException {
        if (isPseudoRoot(inode)) {
            throw new FuseException(Errno.EISDIR, "the root is a directory");
        }
        Target target = target(inode);
        return target.fs.open(target.local, flags);
    }

    /**
     * Passes the release on to the image. A release in an unmounted image has the kernel drop
     * the cached entries of the file instead.
     */
    @Override
    public void release(long inode, long handle) {
        if (isPseudoRoot(inode)) {
            return;
        }
        Slot slot = slots.get((int) (inode >>> SLOT_SHIFT));
        RafsFileSystem image = slot == null ? null : slot.image();
        if (image != null) {
            image.release(inode & LOCAL_MASK, handle);
        } else if (slot != null) {
            dropRetiredEntries(slot, inode & LOCAL_MASK);
        }
    }

    /** Has the kernel drop the cached entries of a directory closed in an unmounted image. */
    @Override
    public void releasedir(long inode, long handle) {
        if (isPseudoRoot(inode)) {
            return;
        }
        Slot slot = slots.get((int) (inode >>> SLOT_SHIFT));
        if (slot != null && slot.image() == null) {
            dropRetiredEntries(slot, inode & LOCAL_MASK);
        }
    }

    /**
     * Has the kernel drop the entries from node {@code local} of a retired slot up to its
     * image's root, from the invalidation thread. The kernel keeps the entry of a closed file
     * cached until memory pressure evicts it, and with it the lookups that keep the slot
     * retired. A dropped entry that is still open goes when its last user closes it, and each
     * dropped directory goes with its last cached child.
     */
    private void dropRetiredEntries(Slot slot, long local) {
        FuseNotifier current = notifier;
        RafsFileSystem former = slot.retiredImage();
        if (current == null || former == null) {
            return;
        }
        invalidations.execute(() -> {
            try {
                dropEntriesToRoot(current, slot, former, former.node(local));
            } catch (FuseException | RuntimeException e) {
                LOG.debug("cannot drop the kernel's entries of node {} in retired slot {}: {}",
                        local, slot.index(), e.toString());
            }
        });
    }

    private void dropEntriesToRoot(FuseNotifier current, Slot slot, RafsFileSystem former,
            Node node) {
        // NOTE: a hard-linked file is named by its first path, so a cached entry under
        // another of its names stays until memory pressure evicts it.
        Node child = node;
        // A freed slot may serve another image already, whose entries must stay.
        while (!child.isRoot() && slots.get(slot.index()) == slot) {
            Node parent = child.parent();
            current.invalidateEntry(global(slot.index(), former.nodeId(parent)),
                    child.nameBytes());
            child = parent;
        }
    }

    @Override
    public long opendir(long inode) throws FuseException {
        if (isPseudoRoot(inode)) {
            return 0;
        }
        Target target = target(inode);
        return target.fs.opendir(target.local);
    }

    @Override
    public void access(long inode, int mask) throws FuseException {
        if (isPseudoRoot(inode)) {
            return;
        }
        Target target = target(inode);
        target.fs.access(target.local, mask);
    }

    @Override
    public int read(long inode, long handle, long offset, MemorySegment buffer)
            throws FuseException {
        Target target = target(inode);
        return target.fs.read(target.local, handle, offset, buffer);
    }

    @Override
    public void readdir(long inode, long handle, long offset, DirSink sink)
            throws FuseException {
        if (isPseudoRoot(inode)) {
            listRoot(offset, sink);
            return;
        }
        Target target = target(inode);
        target.fs.readdir(target.local, handle, offset, new DirSink() {
            @Override
            public boolean wantsAttributes() {
                return sink.wantsAttributes();
            }

            @Override
            public boolean add(DirEntry dirEntry, Entry entry) {
                long ino = global(target.slot.index(), dirEntry.inode());
                DirEntry global = new DirEntry(dirEntry.name(), ino, dirEntry.type(),
                        dirEntry.nextOffset());
                if (entry == null) {
                    return sink.add(global, null);
                }
                return addCounted(sink, target.slot, global,
                        globalEntry(target.slot.index(), entry));
            }
        });
    }

    /**
     * Adds a readdirplus entry and counts its lookup in {@code slot}, unless the kernel does
     * not count it. Returns false when the reply is full. An entry of a slot that was freed
     * meanwhile, by an unmount, is left out and the listing goes on.
     */
    private boolean addCounted(DirSink sink, Slot slot, DirEntry dirEntry, Entry entry) {
        if (slot.index() == 0 || !countsAsLookup(dirEntry.name())) {
            return sink.add(dirEntry, entry);
        }
        if (!slot.acquire(1)) {
            // Ending the listing here would hide the root's later images, and an empty
            // reply reads as the end of the directory.
            return true;
        }
        if (sink.add(dirEntry, entry)) {
            return true;
        }
        slots.release(slot, dirEntry.inode(), 1);
        return false;
    }

    /**
     * Lists the shared root: "." and ".." at offsets 1 and 2, then the images in slot order,
     * each at offset slot + 3. An image keeps its offset while it is mounted, so a mount or
     * unmount between two reads of one listing neither repeats nor skips the other images.
     */
    private void listRoot(long offset, DirSink sink) throws FuseException {
        long position = offset;
        for (; position < 2; position++) {
            byte[] name = position == 0 ? DOT : DOT_DOT;
            Entry entry = sink.wantsAttributes() ? new Entry(rootAttr(), 0) : null;
            if (!sink.add(new DirEntry(name, ROOT, 0040000, position + 1), entry)) {
                return;
            }
        }
        List<Map.Entry<String, Slot>> mounted = names.entrySet().stream()
                .sorted(Comparator.comparingInt(mount -> mount.getValue().index())).toList();
        for (Map.Entry<String, Slot> mount : mounted) {
            Slot slot = mount.getValue();
            long next = slot.index() + 3L;
            RafsFileSystem fs = slot.image();
            if (next <= position || fs == null) {
                continue;
            }
            Attr attr = globalAttr(slot.index(), fs.getattr(ROOT));
            byte[] name = mount.getKey().getBytes(StandardCharsets.UTF_8);
            DirEntry dirEntry = new DirEntry(name, attr.inode(), 0040000, next);
            boolean added = sink.wantsAttributes()
                    ? addCounted(sink, slot, dirEntry, new Entry(attr, 0))
                    : sink.add(dirEntry, null);
            if (!added) {
                return;
            }
        }
    }

    @Override
    public StatFs statfs(long inode) throws FuseException {
        if (isPseudoRoot(inode)) {
            return new StatFs(0, names.size() + 1, 4096, 255);
        }
        Target target = target(inode);
        return target.fs.statfs(target.local);
    }

    @Override
    public byte[] getxattr(long inode, byte[] name) throws FuseException {
        if (isPseudoRoot(inode)) {
            throw new FuseException(Errno.ENODATA, "no xattr");
        }
        Target target = target(inode);
        return target.fs.getxattr(target.local, name);
    }

    @Override
    public byte[] getxattr(long inode, byte[] name, long size) throws FuseException {
        if (isPseudoRoot(inode)) {
            throw new FuseException(Errno.ENODATA, "no xattr");
        }
        Target target = target(inode);
        return target.fs.getxattr(target.local, name, size);
    }

    @Override
    public void lookupRejected(long parent) {
        Target target = mountedTarget(parent);
        if (target != null) {
            target.fs.lookupRejected(target.local);
        }
    }

    @Override
    public void openRejected(long inode) {
        Target target = mountedTarget(inode);
        if (target != null) {
            target.fs.openRejected(target.local);
        }
    }

    /** Returns the image of {@code node}, or null for the shared root or an unmounted image. */
    private Target mountedTarget(long node) {
        if (isPseudoRoot(node)) {
            return null;
        }
        Slot slot = slots.get((int) (node >>> SLOT_SHIFT));
        RafsFileSystem fs = slot == null ? null : slot.image();
        return fs == null ? null : new Target(fs, slot, node & LOCAL_MASK);
    }

    @Override
    public List<byte[]> listxattr(long inode) throws FuseException {
        if (isPseudoRoot(inode)) {
            return List.of();
        }
        Target target = target(inode);
        return target.fs.listxattr(target.local);
    }
}
