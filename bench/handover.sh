#!/usr/bin/env bash
# Measures how long a FUSE mount waits while one nydusd hands it to a successor. The steps follow
# the snapshotter's upgrade. The old daemon sends its states to a supervisor, and a daemon
# started with --upgrade takes them over and opens the images. Then the old daemon exits without
# unmounting, and the new one starts serving. Requests wait from the exit to the start. A small
# Python program plays the supervisor. The tree is the benchmark rootfs plus JDK (cached in
# /var/tmp/nydus-bench), or DIR when given. Prints each phase's seconds for RUNS runs.
# Usage: sudo bench/handover.sh [RUNS] [DIR]   (default 3 runs; KEEP_WORK=1 keeps the logs)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
tree="${2:-}"
if [[ -z "${tree}" ]]; then
    source "${root}/bench/tree.sh"
    bench_prepare
    tree="$(bench_tree)"
fi

work="$(mktemp -d /var/tmp/nydus-bench-handover.XXXXXX)"
mnt="${work}/mnt"
mkdir -p "${mnt}"
pids=()
cleanup() {
    if mountpoint -q "${mnt}"; then umount "${mnt}" || umount -l "${mnt}"; fi
    for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
    if [[ -z "${KEEP_WORK:-}" ]]; then rm -rf "${work}"; else echo "kept ${work}" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Receives the states and descriptor once, then hands them to the next daemon that connects.
cat > "${work}/supervisor.py" <<'EOF'
import os, socket, sys
path = sys.argv[1]
def listen():
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    return server
server = listen()
print("ready", flush=True)
peer, _ = server.accept()
data, fds = b"", []
while True:
    chunk, received, _, _ = socket.recv_fds(peer, 1 << 16, 4)
    fds += received
    if not chunk:
        break
    data += chunk
peer.close()
server.close()
server = listen()
print("received", flush=True)
peer, _ = server.accept()
socket.send_fds(peer, [data], fds)
peer.close()
EOF

echo "building the image of ${tree}" >&2
"${root}/bin/nydus-image" create "${tree}" --bootstrap "${work}/image.boot" \
    --blob-dir "${work}/blobs" >/dev/null 2>&1
api() {
    curl -sf --unix-socket "$1" -X "$2" "http://localhost$3" -o /dev/null
}
now() {
    date +%s.%N
}
daemon() {
    "${root}/bin/nydusd" --bootstrap "${work}/image.boot" --localfs-dir "${work}/blobs" \
        --mountpoint "${mnt}" --apisock "$1" --supervisor "${work}/supervisor.sock" \
        "${@:2}" >>"${work}/nydusd.log" 2>&1 &
    pids+=($!)
    echo $!
}

echo "| run | new daemon's API up (s) | takeover (s) | old daemon exits (s) | start (s) | first read (s) | mount waits (s) |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for run in $(seq "${runs}"); do
    python3 "${work}/supervisor.py" "${work}/supervisor.sock" >"${work}/supervisor.log" &
    pids+=($!)
    until grep -q ready "${work}/supervisor.log" 2>/dev/null; do sleep 0.02; done
    old="$(daemon "${work}/old.sock")"
    until api "${work}/old.sock" GET /api/v1/daemon; do sleep 0.05; done
    api "${work}/old.sock" PUT /api/v1/daemon/fuse/sendfd
    until grep -q received "${work}/supervisor.log"; do sleep 0.02; done

    t0="$(now)"
    daemon "${work}/new.sock" --upgrade >/dev/null
    until api "${work}/new.sock" GET /api/v1/daemon; do sleep 0.01; done
    t1="$(now)"
    api "${work}/new.sock" PUT /api/v1/daemon/fuse/takeover
    t2="$(now)"
    api "${work}/old.sock" PUT /api/v1/daemon/exit
    # The daemon's parent is a subshell that ended, so it counts as gone once it is a zombie.
    while [[ -e "/proc/${old}" && "$(cut -d' ' -f3 "/proc/${old}/stat" 2>/dev/null)" != Z ]]; do
        sleep 0.01
    done
    t3="$(now)"
    api "${work}/new.sock" PUT /api/v1/daemon/start
    t4="$(now)"
    ls "${mnt}" >/dev/null
    t5="$(now)"
    python3 -c "print('| ${run} | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |' % (${t1} - ${t0},
        ${t2} - ${t1}, ${t3} - ${t2}, ${t4} - ${t3}, ${t5} - ${t4}, ${t5} - ${t2}))"
    umount "${mnt}"
    for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
    pids=()
    rm -f "${work}"/*.sock
done
