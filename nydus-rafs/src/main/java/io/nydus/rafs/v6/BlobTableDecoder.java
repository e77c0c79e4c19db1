package io.nydus.rafs.v6;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Decodes the device table and the blob table, with upstream's per-entry checks. */
final class BlobTableDecoder {
    private static final String DEVICE = "device table slot";
    private static final String BLOB = "blob table entry";
    private static final int ID_SIZE = 64;
    private static final long MAX_CHUNKS = 1 << 24;
    private static final long MAX_COMPRESSED_SIZE = 1L << 40;
    private static final long MAX_UNCOMPRESSED_SIZE = 1L << 44;
    private static final int INCOMPAT_MASK = 0xFFFF;
    private static final int INCOMPAT_KNOWN = 0x0FFF;
    private static final int INTERNAL_V5_FEATURE = 0x8000_0000;
    private static final int CI_V1_SIZE = 16;
    private static final int CI_V2_SIZE = 24;
    private static final int CIPHER_NONE = 0;

    private final MetaBuffer b;
    private final SuperBlockInfo sb;

    private BlobTableDecoder(MetaBuffer b, SuperBlockInfo sb) {
        this.b = b;
        this.sb = sb;
    }

    static List<DeviceSlot> decodeDevices(MetaBuffer b, SuperBlockInfo sb)
            throws RafsFormatException {
        return new BlobTableDecoder(b, sb).devices();
    }

    static List<BlobInfo> decodeBlobs(MetaBuffer b, SuperBlockInfo sb, List<DeviceSlot> devices)
            throws RafsFormatException {
        BlobTableDecoder decoder = new BlobTableDecoder(b, sb);
        List<BlobInfo> blobs = new ArrayList<>(devices.size());
        for (int i = 0; i < devices.size(); i++) {
            blobs.add(decoder.blob(i, devices.get(i)));
        }
        return blobs;
    }

    private List<DeviceSlot> devices() throws RafsFormatException {
        List<DeviceSlot> slots = new ArrayList<>(sb.extraDevices());
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < sb.extraDevices(); i++) {
            long at = OnDisk.DEVTABLE_OFFSET + (long) OnDisk.DEVICE_SLOT_SIZE * i;
            String id = blobId(DEVICE + " " + i, at);
            long blocks = b.u32(DEVICE, at + 64);
            if (blocks == 0) {
                throw b.error(DEVICE + " " + i, at + 64, "blocks is 0, expected the blob's"
                        + " uncompressed size in blocks");
            }
            if (!ids.add(id)) {
                throw b.error(DEVICE + " " + i, at, "blob id " + id
                        + " appears twice in the device table");
            }
            slots.add(new DeviceSlot(id, blocks, b.u32(DEVICE, at + 68)));
        }
        return slots;
    }

    /** Reads a NUL-padded blob id: 1 to 64 printable ASCII characters without '/'. */
    private String blobId(String structure, long at) throws RafsFormatException {
        byte[] raw = b.bytes(structure, at, ID_SIZE);
        int length = 0;
        while (length < ID_SIZE && raw[length] != 0) {
            length++;
        }
        for (int i = 0; i < ID_SIZE; i++) {
            boolean padding = i >= length;
            boolean valid = padding ? raw[i] == 0 : raw[i] > 0x20 && raw[i] < 0x7F && raw[i] != '/';
            if (!valid) {
                throw b.error(structure, at + i, String.format(Locale.ROOT,
                        "blob id byte 0x%02x at index %d is invalid, expected printable ASCII"
                        + " without '/', NUL padded",
                        raw[i] & 0xFF, i));
            }
        }
        if (length == 0) {
            throw b.error(structure, at, "blob id is empty");
        }
        return new String(raw, 0, length, StandardCharsets.US_ASCII);
    }

    private BlobInfo blob(int index, DeviceSlot device) throws RafsFormatException {
        long at = sb.blobTableOffset() + (long) OnDisk.BLOB_ENTRY_SIZE * index;
        String where = BLOB + " " + index;
        String id = blobId(where, at);
        checkIndexAndChunkSize(where, at, index);
        long chunkCount = b.u32(where, at + 72);
        if (chunkCount >= MAX_CHUNKS) {
            throw entryField(where, at + 72, "chunk_count", chunkCount, "expected less than 2^24");
        }
        Compressor compressor = compressor(where, at + 76, "compression_algo");
        DigestAlgorithm digester = digester(where, at + 80);
        int features = features(where, at + 84);

        long compressedSize = size(where, at + 88, "compressed_size", MAX_COMPRESSED_SIZE);
        long uncompressedSize = uncompressedSize(where, at + 96);
        long tocSize = b.u32(where, at + 104);
        if (tocSize > Integer.MAX_VALUE) {
            throw entryField(where, at + 104, "blob_toc_size", tocSize, "is invalid, expected"
                    + " less than 2^31");
        }

        Compressor ciCompressor = compressor(where, at + 108, "ci_compressor");
        long ciOffset = b.u64(where, at + 112);
        long ciCompressed = b.u64(where, at + 120);
        long ciUncompressed = b.u64(where, at + 128);
        checkCi(where, at, features, chunkCount, ciOffset, ciCompressed, ciUncompressed);
        checkCipher(where, at + 216);

        HexFormat hex = HexFormat.of();
        return new BlobInfo(id, (int) sb.chunkSize(), (int) chunkCount, compressor, digester,
                features, compressedSize, uncompressedSize, (int) tocSize, ciCompressor,
                ciOffset, ciCompressed, ciUncompressed,
                hex.formatHex(b.bytes(where, at + 136, 32)),
                hex.formatHex(b.bytes(where, at + 168, 32)),
                size(where, at + 200, "blob_meta_size", Long.MAX_VALUE),
                device.mappedBlockAddress());
    }

    private long uncompressedSize(String where, long at) throws RafsFormatException {
        long size = size(where, at, "uncompressed_size", MAX_UNCOMPRESSED_SIZE);
        // NOTE: BlobInfo holds only 4 KiB multiples, so a tarfs blob (a tar file, 512-byte
        // multiple) of another size is rejected here.
        if (size % 4096 != 0) {
            throw entryField(where, at, "uncompressed_size", size,
                    "expected a multiple of 4096");
        }
        return size;
    }

    private void checkIndexAndChunkSize(String where, long at, int index)
            throws RafsFormatException {
        long storedIndex = b.u32(where, at + 64);
        if (storedIndex != index) {
            throw entryField(where, at + 64, "blob_index", storedIndex,
                    "expected the entry's position " + index);
        }
        long chunkSize = b.u32(where, at + 68);
        if (chunkSize != sb.chunkSize()) {
            throw entryField(where, at + 68, "chunk_size", chunkSize,
                    "expected the superblock's chunk size " + sb.chunkSize());
        }
    }

    private Compressor compressor(String where, long at, String name)
            throws RafsFormatException {
        long code = b.u32(where, at);
        for (Compressor c : Compressor.values()) {
            if (c.code() == code) {
                return c;
            }
        }
        throw entryField(where, at, name, code, "expected 0 (none), 1 (lz4_block), 2 (gzip)"
                + " or 3 (zstd)");
    }

    private DigestAlgorithm digester(String where, long at) throws RafsFormatException {
        long code = b.u32(where, at);
        for (DigestAlgorithm d : DigestAlgorithm.values()) {
            if (d.code() == code) {
                return d;
            }
        }
        throw entryField(where, at, "digest_algo", code, "expected 0 (blake3) or 1 (sha256)");
    }

    private int features(String where, long at) throws RafsFormatException {
        int features = (int) b.u32(where, at);
        if ((features & INCOMPAT_MASK & ~INCOMPAT_KNOWN) != 0
                || (features & INTERNAL_V5_FEATURE) != 0) {
            throw entryField(where, at, "features", features & 0xFFFF_FFFFL,
                    "has unknown incompatible bits");
        }
        boolean tarfs = (sb.flags() & RafsFlags.TARFS_MODE) != 0;
        boolean aligned = (features & BlobFeatures.ALIGNED) != 0;
        if (aligned == tarfs) {
            throw entryField(where, at, "features", features & 0xFFFF_FFFFL, tarfs
                    ? "ALIGNED must not be set in tarfs mode" : "ALIGNED (0x1) must be set");
        }
        return features;
    }

    private long size(String where, long at, String name, long max) throws RafsFormatException {
        long value = b.u64(where, at);
        if (value < 0 || value > max) {
            throw entryField(where, at, name, value, "expected at most " + max);
        }
        return value;
    }

    private void checkCi(String where, long at, int features, long chunkCount, long ciOffset,
            long ciCompressed, long ciUncompressed) throws RafsFormatException {
        if (ciOffset < 0 || ciCompressed < 0 || ciUncompressed < 0
                || ciCompressed > Long.MAX_VALUE - ciOffset) {
            throw entryField(where, at + 112, "ci_offset", ciOffset, "ci_offset "
                    + Long.toUnsignedString(ciOffset) + " + ci_compressed_size "
                    + Long.toUnsignedString(ciCompressed) + " overflows");
        }
        if (ciCompressed > ciUncompressed) {
            throw entryField(where, at + 120, "ci_compressed_size", ciCompressed,
                    "is larger than ci_uncompressed_size " + ciUncompressed);
        }
        boolean v2 = (features & BlobFeatures.CHUNK_INFO_V2) != 0;
        boolean extended = (features & (BlobFeatures.BATCH | BlobFeatures.ZRAN
                | BlobFeatures.ENCRYPTED)) != 0;
        boolean tarfs = (sb.flags() & RafsFlags.TARFS_MODE) != 0;
        long v1Size = chunkCount * CI_V1_SIZE;
        long v2Size = chunkCount * CI_V2_SIZE;
        String problem = null;
        if (v2 && extended && ciUncompressed < v2Size) {
            problem = "expected at least " + v2Size + " (24 bytes per chunk)";
        } else if (v2 && !extended && ciUncompressed != v2Size) {
            problem = "expected " + v2Size + " (24 bytes per chunk)";
        } else if (!v2 && extended) {
            throw entryField(where, at + 84, "features", features & 0xFFFF_FFFFL,
                    "BATCH, ZRAN or ENCRYPTED need CHUNK_INFO_V2");
        } else if (!v2 && !tarfs && (features & BlobFeatures.IS_CHUNKDICT_GENERATED) == 0
                && ciUncompressed != v1Size) {
            problem = "expected " + v1Size + " (16 bytes per chunk)";
        }
        if (problem != null) {
            throw entryField(where, at + 128, "ci_uncompressed_size", ciUncompressed,
                    problem + " for " + chunkCount + " chunks");
        }
    }

    private void checkCipher(String where, long at) throws RafsFormatException {
        long cipher = b.u32(where, at);
        if (cipher == CIPHER_NONE) {
            return;
        }
        String problem = cipher <= 3 ? "encrypted blobs are not supported"
                : "expected 0 (none), 1 (aes-128-xts), 2 (aes-256-xts) or 3 (aes-256-gcm)";
        throw entryField(where, at, "cipher_algo", cipher, problem);
    }

    private RafsFormatException entryField(String where, long at, String name, long value,
            String problem) {
        return b.error(where + " field " + name, at, "value " + Long.toUnsignedString(value)
                + " (0x" + Long.toHexString(value) + "): " + problem);
    }
}
