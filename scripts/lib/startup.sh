# shellcheck shell=bash
# Measures container starts over a shaped link, for scripts/demo.sh and bench/startup.sh.
#
# Everything runs in a private network namespace whose loopback is the link: the registry
# listens on 127.0.0.1:5000 inside it, and containerd, the snapshotters and nydusd fetch from
# there. Every daemon and command enters only the network namespace (nsenter --net), so that
# all mounts stay in the host's mount namespace, where containerd and runc find the FUSE
# mounts of nydusd and of the eStargz snapshotter.
#
# The link: tc's tbf qdisc limits the rate of loopback. Kernels built without the netem qdisc
# (the project's machines among them) cannot delay packets with tc. So scripts/lib/netdelay.c
# delays every packet that loopback delivers by half the round trip, through an iptables
# NFQUEUE rule.
#
# Use: source this file as root, call startup_init (which sets the EXIT, INT and TERM traps
# that stop and remove everything this file starts), then the other startup_* functions.
# Progress goes to standard error, logs to a work directory that is removed at the end (the
# last run's logs are kept in $STARTUP_CACHE/last-run-logs).

STARTUP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STARTUP_CACHE="${NYDUS_STARTUP_CACHE:-/var/tmp/nydus-startup}"
STARTUP_REGISTRY="127.0.0.1:5000"
# containerd namespaces: starts are measured in one, eStargz conversions use the other.
STARTUP_NAMESPACE="startup"
STARTUP_CONVERT_NAMESPACE="convert"
# The eStargz snapshotter keeps each resolved layer, with its cache, for this many seconds
# after resolving it (the default of its library, v0.12, is 120). A cold start waits for that
# cache to empty, so a short time keeps the waits short. A start resolves its layers while
# it pulls, and a mounted layer stays in use however long it runs.
STARTUP_ESTARGZ_LAYER_TTL=20

st_work=""
st_ns=""
st_lock_fd=""
st_registry_pid=""
st_delay_pid=""
st_snapshotter_pid=""
st_stargz_pid=""
st_containerd_pid=""
st_node_dir=""
st_starts=0
# Set to 0 to leave out the eStargz snapshotter, for example where its peer is not built.
STARTUP_WITH_ESTARGZ="${STARTUP_WITH_ESTARGZ:-1}"

# ---------------------------------------------------------------------------------------------
# Setup and teardown

startup_log() { printf '%s\n' "$*" >&2; }

startup_fail() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command in the link's network namespace, and nowhere else.
startup_in_ns() {
    nsenter --net="/var/run/netns/${st_ns}" "$@"
}

# The same as a command prefix. Daemons start as "${st_nsenter[@]}" DAEMON ... &, a simple
# command, so that $! is the daemon's own pid, because nsenter execs the daemon. A function
# started with & would run in a subshell, whose pid is not the daemon's.
st_nsenter=()

# Takes the cache lock, makes the work directory and sets the traps.
startup_init() {
    [[ ${EUID} -eq 0 ]] || startup_fail "run as root: the link, containerd and FUSE need it"
    mkdir -p "${STARTUP_CACHE}"
    exec {st_lock_fd}>"${STARTUP_CACHE}/lock"
    flock -n "${st_lock_fd}" \
        || startup_fail "another start measurement is running (it locks" \
            "${STARTUP_CACHE}/lock); wait for it to end"
    st_work="$(mktemp -d /var/tmp/nydus-startup-run.XXXXXX)"
    trap startup_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Stops every process this file started, by pid. Then unmounts what they left below the work
# directory, and deletes the network namespace and the work directory.
startup_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    startup_node_stop
    startup_stop_pid "${st_registry_pid}" registry
    st_registry_pid=""
    startup_stop_pid "${st_delay_pid}" netdelay
    st_delay_pid=""
    if [[ -n "${st_ns}" ]]; then
        ip netns delete "${st_ns}" 2>/dev/null
        st_ns=""
    fi
    if [[ -n "${st_work}" && -d "${st_work}" ]]; then
        startup_keep_logs
        startup_unmount_below "${st_work}"
        if startup_mounts_below "${st_work}" | grep -q .; then
            startup_log "warning: mounts remain below ${st_work}; it is left in place"
        else
            rm -rf --one-file-system "${st_work}"
        fi
    fi
    exit "${status}"
}

# Sends SIGTERM to a pid, waits up to 20 s, then SIGKILL.
startup_stop_pid() {
    local pid="$1" name="$2"
    [[ -n "${pid}" ]] || return 0
    kill -0 "${pid}" 2>/dev/null || return 0
    kill -TERM "${pid}" 2>/dev/null
    local i
    for ((i = 0; i < 200; i++)); do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
        startup_log "warning: ${name} (pid ${pid}) ignored SIGTERM for 20 s, killing it"
        kill -KILL "${pid}" 2>/dev/null
    fi
    wait "${pid}" 2>/dev/null || true
    return 0
}

# Prints the mount points at or below a directory, deepest first.
startup_mounts_below() {
    local dir="$1"
    awk -v dir="${dir}" '{ if ($5 == dir || index($5, dir "/") == 1) print $5 }' \
        /proc/self/mountinfo | sort -r
}

startup_unmount_below() {
    local mountpoint
    for mountpoint in $(startup_mounts_below "$1"); do
        umount "${mountpoint}" 2>/dev/null || umount -l "${mountpoint}" 2>/dev/null \
            || startup_log "warning: cannot unmount ${mountpoint}"
    done
}

startup_keep_logs() {
    local keep="${STARTUP_CACHE}/last-run-logs" log
    rm -rf "${keep}"
    mkdir -p "${keep}"
    while IFS= read -r log; do
        tail -c 2000000 "${log}" >"${keep}/$(echo "${log#"${st_work}"/}" | tr / _)"
    done < <(find "${st_work}" -xdev -name '*.log' -type f 2>/dev/null)
}

# ---------------------------------------------------------------------------------------------
# The link

# Builds netdelay into the cache when it is missing or older than its source.
startup_build_netdelay() {
    local source="${STARTUP_ROOT}/scripts/lib/netdelay.c" binary="${STARTUP_CACHE}/netdelay"
    if [[ ! -x "${binary}" || "${source}" -nt "${binary}" ]]; then
        gcc -O2 -Wall -o "${binary}.tmp" "${source}" -lnetfilter_queue -lnfnetlink \
            || startup_fail "cannot build ${source} (needs gcc and libnetfilter-queue-dev)"
        mv "${binary}.tmp" "${binary}"
    fi
}

# Creates the network namespace with loopback up and the delay rule, unshaped.
startup_link_up() {
    startup_build_netdelay
    st_ns="nydus-startup-$$-${RANDOM}"
    ip netns add "${st_ns}" || startup_fail "cannot create network namespace ${st_ns}"
    st_nsenter=(nsenter --net="/var/run/netns/${st_ns}")
    startup_in_ns ip link set lo up
    # Packets are delayed where loopback delivers them. Delayed on output, they would still
    # count against the sending socket's small-queue limit and cap TCP at about 50 MB/s.
    # With no netdelay listening, --queue-bypass lets packets through undelayed.
    startup_in_ns iptables -A INPUT -i lo -j NFQUEUE --queue-num 0 --queue-bypass \
        || startup_fail "cannot add the NFQUEUE rule in ${st_ns}"
}

# Shapes the link: RATE in tc's units (24mbit, 100mbit, 1gbit) or "none", and the round-trip
# time in milliseconds (0 for none).
startup_link_shape() {
    local rate="$1" rtt_ms="$2"
    startup_in_ns tc qdisc del dev lo root 2>/dev/null || true
    if [[ "${rate}" != "none" ]]; then
        local bits burst
        bits=$(startup_rate_bits "${rate}")
        # The bucket fits one 64 KiB loopback segment or 2 ms at the rate, whichever is more.
        burst=$((bits / 8 / 500))
        ((burst < 131072)) && burst=131072
        startup_in_ns tc qdisc add dev lo root tbf rate "${rate}" burst "${burst}" \
            latency 200ms || startup_fail "tc rejected rate ${rate}"
    fi
    startup_stop_pid "${st_delay_pid}" netdelay
    st_delay_pid=""
    if [[ "${rtt_ms}" != "0" ]]; then
        local delay_us
        delay_us=$(echo "${rtt_ms} * 500 / 1" | bc)
        "${st_nsenter[@]}" "${STARTUP_CACHE}/netdelay" 0 "${delay_us}" \
            >>"${st_work}/netdelay.log" 2>&1 &
        st_delay_pid=$!
        sleep 0.2
        kill -0 "${st_delay_pid}" 2>/dev/null \
            || startup_fail "netdelay did not start: $(tail -3 "${st_work}/netdelay.log")"
    fi
    startup_log "link: rate ${rate}, round trip ${rtt_ms} ms"
}

# Prints a tc rate (24mbit, 100mbit, 1gbit, 500kbit) in bits per second.
startup_rate_bits() {
    local rate="$1" number unit
    [[ "${rate}" =~ ^([0-9]+)(kbit|mbit|gbit)$ ]] \
        || startup_fail "invalid rate '${rate}': expected a number and kbit, mbit or gbit"
    number="${BASH_REMATCH[1]}"
    unit="${BASH_REMATCH[2]}"
    case "${unit}" in
        kbit) echo $((number * 1000)) ;;
        mbit) echo $((number * 1000000)) ;;
        gbit) echo $((number * 1000000000)) ;;
    esac
}

# Prints a rate for people: 24mbit is "3 MB/s", 100mbit "100 Mbit/s".
startup_rate_label() {
    local bits
    bits=$(startup_rate_bits "$1")
    if ((bits % 1000000000 == 0)); then
        echo "$((bits / 1000000000)) Gbit/s"
    elif ((bits % 8000000 == 0 && bits < 80000000)); then
        echo "$((bits / 8000000)) MB/s"
    elif ((bits % 1000000 == 0)); then
        echo "$((bits / 1000000)) Mbit/s"
    else
        echo "$((bits / 1000)) kbit/s"
    fi
}

# ---------------------------------------------------------------------------------------------
# The registry

# Starts Debian's docker-registry on 127.0.0.1:5000 in the namespace. Its storage stays in the
# cache, so the next run reuses the pushed and converted images. Bytes served are counted from
# its access log, which has one line per finished request in the combined log format.
startup_registry_start() {
    mkdir -p "${STARTUP_CACHE}/registry"
    cat >"${st_work}/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${STARTUP_CACHE}/registry
  delete:
    enabled: true
http:
  addr: ${STARTUP_REGISTRY}
YAML
    "${st_nsenter[@]}" docker-registry serve "${st_work}/registry.yml" \
        >"${st_work}/registry.log" 2>&1 &
    st_registry_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        startup_in_ns curl -sf "http://${STARTUP_REGISTRY}/v2/" >/dev/null && return 0
        kill -0 "${st_registry_pid}" 2>/dev/null || break
        sleep 0.1
    done
    startup_fail "docker-registry did not start: $(tail -5 "${st_work}/registry.log")"
}

startup_accept_header=(-H "Accept: application/vnd.oci.image.manifest.v1+json"
    -H "Accept: application/vnd.docker.distribution.manifest.v2+json")

# Prints the digest of a tag's manifest in the registry, or nothing if it is not there.
startup_registry_digest() {
    startup_in_ns curl -sfI "${startup_accept_header[@]}" \
        "http://${STARTUP_REGISTRY}/v2/$1/manifests/$2" 2>/dev/null \
        | awk 'tolower($1) == "docker-content-digest:" { print $2 }' | tr -d '\r' || true
}

# Prints a tag's manifest.
startup_registry_manifest() {
    startup_in_ns curl -sf "${startup_accept_header[@]}" \
        "http://${STARTUP_REGISTRY}/v2/$1/manifests/$2" \
        || startup_fail "manifest $1:$2 not found in the registry"
}

# Prints the compressed size of an image: its config and every layer, in bytes.
startup_image_bytes() {
    startup_registry_manifest "$1" "$2" | jq '.config.size + ([.layers[].size] | add)'
}

# Prints the number of lines of the access log, a mark for startup_served_bytes.
startup_registry_mark() {
    wc -l <"${st_work}/registry.log"
}

# Waits until the registry has logged no request for a second (at most 60 s), so that the
# requests of one start are not counted for the next.
startup_registry_quiet() {
    local lines previous i
    previous=$(startup_registry_mark)
    for ((i = 0; i < 60; i++)); do
        sleep 1
        lines=$(startup_registry_mark)
        [[ "${lines}" == "${previous}" ]] && return 0
        previous="${lines}"
    done
    startup_log "warning: the registry was still serving requests after 60 s"
}

# Sums the bytes of the GET requests logged after MARK for repository REPO, by kind: the
# manifest, the config blob, the bootstrap blob and other blobs. Sets ST_BYTES_MANIFEST,
# ST_BYTES_CONFIG, ST_BYTES_BOOTSTRAP, ST_BYTES_BLOB, ST_BYTES (their sum) and ST_REQUESTS.
startup_served_bytes() {
    local mark="$1" repo="$2" config="$3" bootstrap="$4" sums
    sums=$(tail -n +"$((mark + 1))" "${st_work}/registry.log" | awk \
        -v repo="/v2/${repo}/" -v config="${config}" -v bootstrap="${bootstrap}" '
        # Combined log format: ... "GET /v2/REPO/blobs/sha256:X HTTP/1.1" STATUS BYTES ...
        match($0, /"GET [^ "]+ HTTP\/[0-9.]+" [0-9]+ [0-9]+/) {
            split(substr($0, RSTART + 1, RLENGTH - 1), f, /[ "]+/)
            path = f[2]; status = f[4]; bytes = f[5]
            if (index(path, repo) != 1 || (status != 200 && status != 206)) next
            requests++
            if (path ~ /\/manifests\//) manifest += bytes
            else if (config != "" && path ~ ("/blobs/" config "$")) cfg += bytes
            else if (bootstrap != "" && path ~ ("/blobs/" bootstrap "$")) boot += bytes
            else if (path ~ /\/blobs\//) blob += bytes
        }
        END { printf "%d %d %d %d %d\n", manifest, cfg, boot, blob, requests }')
    read -r ST_BYTES_MANIFEST ST_BYTES_CONFIG ST_BYTES_BOOTSTRAP ST_BYTES_BLOB ST_REQUESTS \
        <<<"${sums}"
    ST_BYTES=$((ST_BYTES_MANIFEST + ST_BYTES_CONFIG + ST_BYTES_BOOTSTRAP + ST_BYTES_BLOB))
}

# ---------------------------------------------------------------------------------------------
# containerd with the Nydus and eStargz snapshotters

# Builds the eStargz peer snapshotter into the cache once.
startup_build_stargz() {
    local binary="${STARTUP_CACHE}/stargz-grpc"
    [[ -x "${binary}" ]] && return 0
    local build="${STARTUP_PEER_ESTARGZ:-${STARTUP_ROOT}/../shared/peers/estargz}/build.sh"
    [[ -x "${build}" || -f "${build}" ]] \
        || startup_fail "the eStargz peer build script ${build} is missing; set" \
            "STARTUP_PEER_ESTARGZ to its directory"
    startup_log "building the eStargz snapshotter with ${build}"
    bash "${build}" "${binary}" >"${st_work}/stargz-build.log" 2>&1 \
        || startup_fail "eStargz build failed: $(tail -5 "${st_work}/stargz-build.log")"
}

# Starts the Nydus snapshotter (shared nydusd), the eStargz snapshotter and containerd, with
# background fetch on or off: PREFETCH is "on" or "off".
startup_node_start() {
    local prefetch="$1"
    [[ "${prefetch}" == on || "${prefetch}" == off ]] \
        || startup_fail "invalid prefetch setting '${prefetch}': expected on or off"
    st_node_dir="${st_work}/node-${prefetch}"
    mkdir -p "${st_node_dir}"
    startup_nydus_start "${prefetch}"
    if ((STARTUP_WITH_ESTARGZ)); then
        startup_build_stargz
        startup_stargz_start "${prefetch}"
    fi
    startup_containerd_start
    startup_log "node: containerd and the snapshotters running (prefetch ${prefetch})"
}

startup_nydus_start() {
    local prefetch="$1" dir="${st_node_dir}/nydus"
    mkdir -p "${dir}"
    # The nydusd config that the snapshotter installs, with fs_prefetch disabled, or enabled
    # with prefetch_all. STARTUP_NYDUSD_AMPLIFY_IO, when set, replaces its amplify_io.
    local template="${STARTUP_ROOT}/misc/snapshotter/nydusd-config.fusedev.json"
    jq --arg prefetch "${prefetch}" --arg amplify "${STARTUP_NYDUSD_AMPLIFY_IO:-}" '
        (if $prefetch == "off" then .fs_prefetch = {"enable": false}
         else .fs_prefetch.enable = true | .fs_prefetch.prefetch_all = true end)
        | (if $amplify != "" then .amplify_io = ($amplify | tonumber) else . end)' \
        "${template}" >"${dir}/nydusd-config.json" \
        || startup_fail "cannot read the nydusd config template ${template}"
    cat >"${dir}/config.toml" <<TOML
version = 1
root = "${dir}/root"
address = "${dir}/nydus.sock"
daemon_mode = "shared"
cleanup_on_close = true
[daemon]
nydusd_config = "${dir}/nydusd-config.json"
nydusd_path = "${STARTUP_ROOT}/bin/nydusd"
mount_timeout = "120s"
[log]
level = "${STARTUP_LOG_LEVEL:-info}"
[metrics]
address = ""
TOML
    "${st_nsenter[@]}" "${STARTUP_ROOT}/bin/containerd-nydus-grpc" --config "${dir}/config.toml" \
        >"${dir}/snapshotter.log" 2>&1 &
    st_snapshotter_pid=$!
    startup_await_socket "${dir}/nydus.sock" "${st_snapshotter_pid}" "${dir}/snapshotter.log"
}

startup_stargz_start() {
    local prefetch="$1" dir="${st_node_dir}/stargz" background
    mkdir -p "${dir}"
    [[ "${prefetch}" == on ]] && background=false || background=true
    # noprefetch skips the prefetch of the files listed before a layer's prefetch landmark.
    # Images converted without an optimize record list none, so background fetch is the
    # setting that matters.
    cat >"${dir}/config.toml" <<TOML
noprefetch = ${background}
no_background_fetch = ${background}
no_prometheus = true
resolve_result_entry_ttl_sec = ${STARTUP_ESTARGZ_LAYER_TTL}
TOML
    "${st_nsenter[@]}" "${STARTUP_CACHE}/stargz-grpc" -address "${dir}/stargz.sock" \
        -root "${dir}/root" -config "${dir}/config.toml" -log-level info \
        >"${dir}/stargz.log" 2>&1 &
    st_stargz_pid=$!
    startup_await_socket "${dir}/stargz.sock" "${st_stargz_pid}" "${dir}/stargz.log"
}

startup_containerd_start() {
    local dir="${st_node_dir}/containerd"
    mkdir -p "${dir}/fifo" "${dir}/runc"
    cat >"${dir}/config.toml" <<TOML
version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[proxy_plugins]
  [proxy_plugins.nydus]
    type = "snapshot"
    address = "${st_node_dir}/nydus/nydus.sock"
TOML
    if ((STARTUP_WITH_ESTARGZ)); then
        cat >>"${dir}/config.toml" <<TOML
  [proxy_plugins.stargz]
    type = "snapshot"
    address = "${st_node_dir}/stargz/stargz.sock"
TOML
    fi
    "${st_nsenter[@]}" containerd --config "${dir}/config.toml" >"${dir}/containerd.log" 2>&1 &
    st_containerd_pid=$!
    local i
    for ((i = 0; i < 300; i++)); do
        if [[ -S "${dir}/containerd.sock" ]] && startup_ctr version >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "${st_containerd_pid}" 2>/dev/null || break
        sleep 0.1
    done
    startup_fail "containerd did not start: $(tail -5 "${dir}/containerd.log")"
}

startup_await_socket() {
    local socket="$1" pid="$2" log="$3" i
    for ((i = 0; i < 600; i++)); do
        [[ -S "${socket}" ]] && return 0
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.1
    done
    startup_fail "no socket ${socket} after 60 s: $(tail -5 "${log}")"
}

startup_ctr() {
    startup_in_ns ctr --address "${st_node_dir}/containerd/containerd.sock" "$@"
}

startup_ctr_remote() {
    startup_in_ns ctr-remote --address "${st_node_dir}/containerd/containerd.sock" "$@"
}

# Stops containerd (after removing what it still runs), both snapshotters and nydusd.
startup_node_stop() {
    [[ -n "${st_node_dir}" ]] || return 0
    if [[ -n "${st_containerd_pid}" ]] && kill -0 "${st_containerd_pid}" 2>/dev/null; then
        startup_remove_tasks
        startup_remove_images "${STARTUP_NAMESPACE}"
        startup_remove_images "${STARTUP_CONVERT_NAMESPACE}"
    fi
    startup_stop_pid "${st_containerd_pid}" containerd
    st_containerd_pid=""
    startup_stop_shims
    startup_stop_pid "${st_snapshotter_pid}" "Nydus snapshotter"
    st_snapshotter_pid=""
    local pid_file
    for pid_file in "${st_node_dir}"/nydus/root/socket/*/nydusd.pid; do
        [[ -f "${pid_file}" ]] && startup_stop_pid "$(cat "${pid_file}")" nydusd
    done
    startup_stop_pid "${st_stargz_pid}" "eStargz snapshotter"
    st_stargz_pid=""
    # The directory itself goes with the work directory, after its logs are kept.
    startup_unmount_below "${st_node_dir}"
    st_node_dir=""
}

# Kills and deletes the tasks and containers left by an interrupted start.
startup_remove_tasks() {
    local namespace id
    for namespace in "${STARTUP_NAMESPACE}" "${STARTUP_CONVERT_NAMESPACE}"; do
        for id in $(startup_ctr -n "${namespace}" tasks ls -q 2>/dev/null); do
            timeout 20 ctr --address "${st_node_dir}/containerd/containerd.sock" \
                -n "${namespace}" tasks kill -s SIGKILL "${id}" >/dev/null 2>&1
            timeout 20 ctr --address "${st_node_dir}/containerd/containerd.sock" \
                -n "${namespace}" tasks rm -f "${id}" >/dev/null 2>&1
        done
        for id in $(startup_ctr -n "${namespace}" containers ls -q 2>/dev/null); do
            startup_ctr -n "${namespace}" containers rm "${id}" >/dev/null 2>&1
        done
    done
}

# Stops the runc shims that this containerd started: their command line names its socket.
startup_stop_shims() {
    local socket="${st_node_dir}/containerd/containerd.sock" pid
    for pid in $(pgrep -f "containerd-shim.*-address ${socket}" || true); do
        startup_stop_pid "${pid}" containerd-shim
    done
}

# Removes every image of a containerd namespace and waits for the garbage collection.
startup_remove_images() {
    local namespace="$1" images
    images=$(startup_ctr -n "${namespace}" images ls -q 2>/dev/null)
    [[ -z "${images}" ]] && return 0
    # shellcheck disable=SC2086
    startup_ctr -n "${namespace}" images rm --sync ${images} >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Images

# Pushes tag TAG of the OCI layout LAYOUT to REPO:oci, unless the registry has it already.
startup_push() {
    local layout="$1" tag="$2" repo="$3" digest
    digest=$(jq -r --arg tag "${tag}" '.manifests[]
        | select(.annotations["org.opencontainers.image.ref.name"] == $tag) | .digest' \
        "${layout}/index.json" | head -1)
    [[ -n "${digest}" ]] || startup_fail "OCI layout ${layout} has no image tagged '${tag}'"
    if [[ "$(startup_registry_digest "${repo}" oci)" == "${digest}" ]]; then
        startup_log "registry has ${repo}:oci (${digest}) already"
        return 0
    fi
    startup_log "pushing ${layout}:${tag} to ${STARTUP_REGISTRY}/${repo}:oci"
    startup_in_ns skopeo copy --quiet --dest-tls-verify=false "oci:${layout}:${tag}" \
        "docker://${STARTUP_REGISTRY}/${repo}:oci" \
        || startup_fail "skopeo could not push ${layout}:${tag}"
}

# Converts REPO:oci to REPO:FORMAT (nydus or estargz) unless a conversion of the same source
# digest is recorded and the target is in the registry. Sets ST_CONVERT_SECONDS to the time
# it took, and ST_CONVERT_DATE to when that was measured (ST_CONVERT_REUSED=1 if not now).
startup_convert() {
    local repo="$1" format="$2" source record start
    source=$(startup_registry_digest "${repo}" oci)
    [[ -n "${source}" ]] || startup_fail "${repo}:oci is not in the registry; push it first"
    record="${STARTUP_CACHE}/conversions/${repo}.${format}"
    if [[ -f "${record}" && -n "$(startup_registry_digest "${repo}" "${format}")" ]]; then
        local recorded_source seconds date
        read -r recorded_source seconds date <"${record}"
        if [[ "${recorded_source}" == "${source}" ]]; then
            ST_CONVERT_SECONDS="${seconds}"
            ST_CONVERT_DATE="${date}"
            ST_CONVERT_REUSED=1
            startup_log "reusing ${repo}:${format}, converted on ${date} in ${seconds} s"
            return 0
        fi
    fi
    startup_log "converting ${repo}:oci to ${format}"
    start=${EPOCHREALTIME}
    "startup_convert_${format}" "${repo}"
    ST_CONVERT_SECONDS=$(printf '%.1f' "$(echo "${EPOCHREALTIME} - ${start}" | bc)")
    ST_CONVERT_DATE=$(date -u +%Y-%m-%d)
    ST_CONVERT_REUSED=0
    mkdir -p "${STARTUP_CACHE}/conversions"
    echo "${source} ${ST_CONVERT_SECONDS} ${ST_CONVERT_DATE}" >"${record}"
    startup_log "converted ${repo}:${format} in ${ST_CONVERT_SECONDS} s"
}

# With no prefetch patterns on standard input, the bootstrap's prefetch table stays empty.
startup_convert_nydus() {
    local repo="$1"
    startup_in_ns "${STARTUP_ROOT}/bin/nydusify" convert --plain-http --log-level warn \
        --source "${STARTUP_REGISTRY}/${repo}:oci" \
        --target "${STARTUP_REGISTRY}/${repo}:nydus" \
        --work-dir "${st_work}/nydusify" --prefetch-patterns </dev/null \
        >"${st_work}/nydusify-${repo}.log" 2>&1 \
        || startup_fail "nydusify convert failed: $(tail -5 "${st_work}/nydusify-${repo}.log")"
}

# Pulls the OCI image into containerd, converts it with ctr-remote and pushes the result.
startup_convert_estargz() {
    local repo="$1" log="${st_work}/estargz-${repo}.log"
    local source="${STARTUP_REGISTRY}/${repo}:oci" target="${STARTUP_REGISTRY}/${repo}:estargz"
    {
        startup_ctr -n "${STARTUP_CONVERT_NAMESPACE}" images pull --plain-http "${source}" \
            && startup_ctr_remote -n "${STARTUP_CONVERT_NAMESPACE}" images convert --estargz \
                --oci "${source}" "${target}" \
            && startup_ctr -n "${STARTUP_CONVERT_NAMESPACE}" images push --plain-http \
                "${target}"
    } >"${log}" 2>&1 || startup_fail "eStargz conversion failed: $(tail -5 "${log}")"
    startup_remove_images "${STARTUP_CONVERT_NAMESPACE}"
}

# ---------------------------------------------------------------------------------------------
# Starts

# Empties containerd's content store and snapshots, both snapshotters' caches and the page
# cache, with every daemon left running.
startup_reset() {
    startup_remove_images "${STARTUP_NAMESPACE}"
    startup_remove_images "${STARTUP_CONVERT_NAMESPACE}"
    local namespace snapshotter leftover
    for namespace in "${STARTUP_NAMESPACE}" "${STARTUP_CONVERT_NAMESPACE}"; do
        leftover=$(startup_ctr -n "${namespace}" content ls -q)
        [[ -z "${leftover}" ]] \
            || startup_fail "containerd still has content in ${namespace}: ${leftover}"
        for snapshotter in $(startup_snapshotters); do
            leftover=$(startup_ctr -n "${namespace}" snapshots --snapshotter "${snapshotter}" \
                ls | tail -n +2)
            [[ -z "${leftover}" ]] || startup_fail "${snapshotter} snapshots remain in" \
                "${namespace}: ${leftover}"
        done
    done
    startup_await_empty "Nydus blob cache" 30 "${st_node_dir}/nydus/root/cache"
    startup_await_empty "eStargz layer cache" $((STARTUP_ESTARGZ_LAYER_TTL + 30)) \
        "${st_node_dir}/stargz/root/stargz/fscache" \
        "${st_node_dir}/stargz/root/stargz/httpcache"
    startup_registry_quiet
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

startup_snapshotters() {
    echo overlayfs nydus
    ((STARTUP_WITH_ESTARGZ)) && echo stargz
    return 0
}

# Waits up to SECONDS until no directory has an entry (a missing directory counts as empty).
startup_await_empty() {
    local name="$1" seconds="$2" i
    shift 2
    for ((i = 0; i < seconds * 10; i++)); do
        [[ -z "$(find "$@" -mindepth 1 -maxdepth 1 2>/dev/null | head -1)" ]] && return 0
        sleep 0.1
    done
    startup_fail "the ${name} is not empty after ${seconds} s: $(find "$@" -mindepth 1 \
        -maxdepth 1 | head -3)"
}

# Starts PROGRAM from REPO:FORMAT (oci, nydus or estargz). Pulls the image the way that format
# is pulled, runs it with runc, and times from the pull command to the program's first line
# of output. Sets ST_SECONDS, ST_PULL_SECONDS (the pull's share), ST_OUTPUT (all output,
# standard error included) and the ST_BYTES* figures of startup_served_bytes. Call
# startup_reset first for a cold start.
startup_start() {
    local format="$1" repo="$2"
    shift 2
    local ref="${STARTUP_REGISTRY}/${repo}:${format}" snapshotter manifest config bootstrap
    case "${format}" in
        oci) snapshotter=overlayfs ;;
        nydus) snapshotter=nydus ;;
        estargz) snapshotter=stargz ;;
        *) startup_fail "invalid format '${format}': expected oci, nydus or estargz" ;;
    esac
    manifest=$(startup_registry_manifest "${repo}" "${format}")
    config=$(jq -r '.config.digest' <<<"${manifest}")
    bootstrap=$(jq -r '[.layers[] | select(.annotations["containerd.io/snapshot/nydus-bootstrap"]
        == "true") | .digest] | first // ""' <<<"${manifest}")
    st_starts=$((st_starts + 1))
    local dir="${st_work}/starts/${st_starts}-${repo}-${format}"
    local id="start-${st_starts}" mark start
    mkdir -p "${dir}"
    mark=$(startup_registry_mark)

    start=${EPOCHREALTIME}
    startup_pull "${format}" "${snapshotter}" "${ref}" >"${dir}/pull.log" 2>&1 \
        || startup_fail "pull of ${ref} failed: $(tail -5 "${dir}/pull.log")"
    ST_PULL_SECONDS=$(printf '%.2f' "$(echo "${EPOCHREALTIME} - ${start}" | bc)")
    # The exit status goes to a file, because under "set -e" a failing ctr would end the
    # caller's script before its output could be reported.
    {
        local run_status=0
        timeout 900 "${st_nsenter[@]}" ctr \
            --address "${st_node_dir}/containerd/containerd.sock" -n "${STARTUP_NAMESPACE}" \
            run --rm --snapshotter "${snapshotter}" \
            --fifo-dir "${st_node_dir}/containerd/fifo" \
            --runc-root "${st_node_dir}/containerd/runc" "${ref}" "${id}" "$@" 2>&1 \
            || run_status=$?
        echo "${run_status}" >"${dir}/status"
    } | startup_stamp_first_line >"${dir}/output"
    local status
    status=$(cat "${dir}/status")
    ((status == 0)) || startup_fail "container of ${ref} exited with ${status}:" \
        "$(tail -5 "${dir}/output")"

    ST_SECONDS=$(printf '%.2f' "$(echo "$(head -1 "${dir}/output") - ${start}" | bc)")
    ST_OUTPUT=$(tail -n +2 "${dir}/output")
    # The registry logs a request when it has sent the response; give the last ones time.
    sleep 0.5
    startup_served_bytes "${mark}" "${repo}" "${config}" "${bootstrap}"
    kill -0 "${st_delay_pid:-$$}" 2>/dev/null \
        || startup_fail "netdelay stopped during the start: $(tail -3 "${st_work}/netdelay.log")"
}

startup_pull() {
    local format="$1" snapshotter="$2" ref="$3"
    if [[ "${format}" == oci ]]; then
        timeout 1800 "${st_nsenter[@]}" ctr \
            --address "${st_node_dir}/containerd/containerd.sock" -n "${STARTUP_NAMESPACE}" \
            images pull --plain-http "${ref}"
    else
        timeout 1800 "${st_nsenter[@]}" ctr-remote \
            --address "${st_node_dir}/containerd/containerd.sock" -n "${STARTUP_NAMESPACE}" \
            images rpull --plain-http --snapshotter "${snapshotter}" "${ref}"
    fi
}

# Copies standard input to standard output, first printing the time at which the first line
# arrived (or the end of input, if there was none).
startup_stamp_first_line() {
    local first="" status=0
    IFS= read -r first || status=$?
    printf '%s\n' "${EPOCHREALTIME}"
    if ((status == 0)) || [[ -n "${first}" ]]; then
        printf '%s\n' "${first}"
    fi
    cat
}

# Starts PROGRAM once from each lazy format on an unshaped link, then resets. Afterwards the
# daemons run as on a node that has started containers before: the shared nydusd is running,
# and both snapshotters have run their code paths once. OCI pulls need no such start, because
# containerd unpacks them itself.
startup_warm_up() {
    local repo="$1" format
    shift
    local formats=(nydus)
    ((STARTUP_WITH_ESTARGZ)) && formats+=(estargz)
    startup_link_shape none 0
    for format in "${formats[@]}"; do
        startup_reset
        startup_start "${format}" "${repo}" "$@"
    done
    startup_reset
}
