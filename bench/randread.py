#!/usr/bin/python3
"""Random 4 KiB reads over a list of files: prints reads per second.

Usage: randread.py FILE_LIST SECONDS SEED
Each read picks a file (weighted by size) and a 4 KiB-aligned offset at random, so most reads
miss the page cache when the files are large and the cache was dropped before.
"""
import bisect
import os
import random
import sys
import time

BLOCK = 4096


def main():
    list_file, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    with open(list_file) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    fds, sizes = [], []
    for path in paths:
        size = os.path.getsize(path)
        if size >= BLOCK:
            fds.append(os.open(path, os.O_RDONLY))
            sizes.append(size)
    cumulative, total = [], 0
    for size in sizes:
        total += size
        cumulative.append(total)
    rng = random.Random(seed)
    reads = 0
    end = time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < end:
        for _ in range(64):
            i = bisect.bisect_right(cumulative, rng.randrange(total))
            block = rng.randrange(sizes[i] // BLOCK)
            os.pread(fds[i], BLOCK, block * BLOCK)
            reads += 1
    elapsed = time.monotonic() - started
    print(f"{reads / elapsed:.0f}")


if __name__ == "__main__":
    main()
