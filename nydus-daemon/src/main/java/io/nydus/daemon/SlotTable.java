package io.nydus.daemon;

import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The slots of a {@link Vfs}: the top bits of node ids that tell the images apart. Each slot
 * counts the lookups that the kernel holds on its node ids, so that the slot of an unmounted
 * image goes back to the free slots only once the kernel has forgotten all of them.
 *
 * <p>Until then the slot is retired: it serves no image, and requests on its node ids fail.
 * Slots restored from a previous process are never freed, because the lookups that the
 * kernel holds on them are not known here.
 */
final class SlotTable {
    private static final Logger LOG = LoggerFactory.getLogger(SlotTable.class);
    /** Slots 1 to 32767 fit the top 16 bits of a node id with the sign bit clear. */
    static final int MAX_SLOTS = 1 << 15;
    /** How many mismatched FORGET requests are logged before only every 1000th one is. */
    private static final long MISMATCHES_LOGGED = 20;

    private final AtomicReferenceArray<Slot> slots = new AtomicReferenceArray<>(MAX_SLOTS);
    /** The freed slots below {@link #next}, guarded by this table. */
    private final TreeSet<Integer> free = new TreeSet<>();
    /** The lowest slot never handed out in this process, guarded by this table. */
    private int next = 1;
    /**
     * The slots below this one were used by a previous process. It is written under this
     * table's lock and read without it, so that FORGET requests take no lock.
     */
    private volatile int inheritedBelow = 1;
    private final AtomicLong mismatches = new AtomicLong();

    /**
     * One slot: its index, the image it serves until it is retired, and the lookups of its
     * node ids that the kernel holds. Lookups count up on the FUSE workers without a lock.
     */
    static final class Slot {
        /** The count of a freed slot, which no lookup may count up any more. */
        private static final long FREED = Long.MIN_VALUE;

        private final int index;
        private final AtomicLong lookups = new AtomicLong();
        private volatile RafsFileSystem image;
        /**
         * The image that a reusable slot served before it was retired, kept until the slot is
         * freed so that the names of its cached entries can be sent to the kernel for dropping.
         */
        private volatile RafsFileSystem retiredImage;
        /** False for restored slots, and for slots whose count the kernel contradicted. */
        private volatile boolean reusable;

        private Slot(int index, RafsFileSystem image, boolean reusable) {
            this.index = index;
            this.image = image;
            this.reusable = reusable;
        }

        int index() {
            return index;
        }

        /** Returns the image of the slot, or null once it is retired. */
        RafsFileSystem image() {
            return image;
        }

        /** Returns the image the slot served until it was retired, or null. */
        RafsFileSystem retiredImage() {
            return retiredImage;
        }

        /** Makes the slot serve {@code replacement}. Its node ids keep their counts. */
        void replace(RafsFileSystem replacement) {
            image = replacement;
        }

        /**
         * Counts {@code count} lookups that a reply hands to the kernel. Returns false when
         * the slot was freed, and then the node id must not be sent.
         */
        boolean acquire(long count) {
            long current;
            do {
                current = lookups.get();
                if (current < 0) {
                    return false;
                }
            } while (!lookups.compareAndSet(current, current + count));
            return true;
        }

        /**
         * Subtracts {@code count} forgotten lookups. Returns the lookups left, or -1 when the
         * kernel forgot more than were counted.
         */
        private long release(long count) {
            long current;
            long left;
            do {
                current = lookups.get();
                if (current < 0) {
                    return -1;
                }
                left = Math.max(0, current - count);
            } while (!lookups.compareAndSet(current, left));
            return current < count ? -1 : left;
        }

        /** Frees a retired slot that no node id refers to; returns whether it did. */
        private boolean markFreed() {
            return reusable && image == null && lookups.compareAndSet(0, FREED);
        }

        long lookups() {
            return Math.max(0, lookups.get());
        }
    }

    /** Returns the slot with {@code index}, or null when it was never used or is free. */
    Slot get(int index) {
        return slots.get(index);
    }

    /** Puts {@code image} in slot 0, the slot of a daemon that serves one image. */
    Slot single(RafsFileSystem image) {
        Slot slot = new Slot(0, image, false);
        slots.set(0, slot);
        return slot;
    }

    /**
     * Puts {@code image} in the lowest free slot, else in a slot never used before.
     *
     * @throws IllegalStateException naming {@code name} when every slot is taken
     */
    synchronized Slot allocate(String name, RafsFileSystem image) {
        Integer lowest = free.pollFirst();
        int index;
        if (lowest != null) {
            index = lowest;
        } else if (next < MAX_SLOTS) {
            index = next++;
        } else {
            throw new IllegalStateException("cannot mount /" + name + ": all "
                    + (MAX_SLOTS - 1) + " node id slots of the shared daemon are in use by"
                    + " mounted images, by unmounted images whose node ids the kernel still"
                    + " holds, or by the daemon that this one took over from. Unmount images"
                    + " and close their files so that the kernel forgets them, or start a new"
                    + " daemon");
        }
        Slot slot = new Slot(index, image, true);
        slots.set(index, slot);
        return slot;
    }

    /**
     * Puts {@code image} in slot {@code index}, which a previous process used, and keeps the
     * slot from reuse in this process.
     *
     * @throws IllegalArgumentException if the index is outside the slots of images
     * @throws IllegalStateException if the slot is in use
     */
    synchronized Slot restore(String name, int index, RafsFileSystem image) {
        if (index < 1 || index >= MAX_SLOTS) {
            throw new IllegalArgumentException("slot " + index + " of /" + name
                    + " is outside 1.." + (MAX_SLOTS - 1));
        }
        Slot slot = new Slot(index, image, false);
        if (!slots.compareAndSet(index, null, slot)) {
            throw new IllegalStateException("slot " + index + " of /" + name
                    + " is in use already");
        }
        free.remove(index);
        next = Math.max(next, index + 1);
        return slot;
    }

    /** Keeps the slots below {@code index} from new images, as a previous process used them. */
    synchronized void reserveBelow(int index) {
        free.headSet(index).clear();
        next = Math.max(next, Math.min(index, MAX_SLOTS));
        inheritedBelow = Math.max(inheritedBelow, index);
    }

    /** Returns the lowest slot never handed out in this process. */
    synchronized int next() {
        return next;
    }

    /** Returns the freed slots that new images take before slots never used. */
    synchronized SortedSet<Integer> freeSlots() {
        return new TreeSet<>(free);
    }

    /** Returns how many FORGET requests forgot more lookups than their slot had counted. */
    long mismatches() {
        return mismatches.get();
    }

    /**
     * Takes the image out of {@code slot}. Requests on its node ids fail from now on, and the
     * slot is freed once the kernel refers to none of them.
     */
    void retire(Slot slot) {
        // A slot that is never freed would keep the image's tree for the life of the process.
        slot.retiredImage = slot.reusable ? slot.image : null;
        slot.image = null;
        if (!freeIfUnused(slot)) {
            LOG.debug("slot {} is retired until the kernel forgets {} lookups of its node ids",
                    slot.index, slot.lookups());
        }
    }

    /** Subtracts the lookups of a FORGET request on a node id in slot {@code index}. */
    void forget(int index, long nodeId, long count) {
        Slot slot = slots.get(index);
        if (slot == null) {
            // Slots that a previous process used have no counts, so their FORGET requests end here.
            if (index >= inheritedBelow) {
                logMismatch(nodeId, count, "which serves no image");
            }
            return;
        }
        release(slot, nodeId, count);
    }

    /** Subtracts {@code count} lookups of node {@code nodeId} from {@code slot}. */
    void release(Slot slot, long nodeId, long count) {
        // The kernel's nlookup is unsigned, so a count above 2^63 - 1 arrives negative.
        long left = count < 0 ? -1 : slot.release(count);
        if (left == 0) {
            freeIfUnused(slot);
        } else if (left < 0 && slot.reusable) {
            // The count no longer shows whether the kernel still refers to node ids of the slot.
            slot.reusable = false;
            slot.retiredImage = null;
            logMismatch(nodeId, count, "so the slot will not be reused");
        }
    }

    private void logMismatch(long nodeId, long count, String consequence) {
        long seen = mismatches.incrementAndGet();
        if (seen <= MISMATCHES_LOGGED || seen % 1000 == 0) {
            LOG.warn("FORGET of {} lookups of node id {} exceeds the lookups counted in slot {},"
                    + " {} ({} such requests so far)", count, nodeId, nodeId >>> Vfs.SLOT_SHIFT,
                    consequence, seen);
        }
    }

    /** Frees {@code slot} if it is retired and the kernel refers to none of its node ids. */
    private boolean freeIfUnused(Slot slot) {
        if (!slot.markFreed()) {
            return false;
        }
        slot.retiredImage = null;
        synchronized (this) {
            slots.compareAndSet(slot.index, slot, null);
            free.add(slot.index);
        }
        LOG.debug("slot {} is free: the kernel has forgotten the node ids of its image",
                slot.index);
        return true;
    }
}
