#!/usr/bin/env bash
# Benchmarks container starts from cold caches over a shaped link. The Node and JDK images
# from scripts/images.sh are started from OCI (containerd's overlayfs), eStargz (the stargz
# snapshotter) and Nydus (the project's snapshotter). Each start is repeated REPEATS times at
# every link rate, in rounds that visit every rate, with background fetch off and then on.
# OCI has no background fetch, so it is measured in the first setting only and shown in both
# tables. Writes the raw figures to
# docs/startup/results.tsv, the plot to docs/startup/start-time.png and the tables into
# docs/benchmarks.md (between the bench/startup.sh markers). The link and the measurement are
# those of scripts/lib/startup.sh.
#
# usage: sudo bench/startup.sh [--repeats N] [--rates "24mbit 100mbit 1gbit"] [--rtt MS]
#            [--images "node jdk"] [--prefetch "off on"] [--formats "oci estargz nydus"]
#            [--nydusd-amplify-io BYTES] [--out DIR]
#   --repeats N   starts of each kind at each rate (default 3); medians and min-max are shown
#   --rates LIST  link rates in tc's units (default: 24mbit, which is 3 MB/s, 100mbit, 1gbit)
#   --rtt MS      round-trip time in milliseconds (default 10)
#   --images      images to start (default: node jdk)
#   --prefetch    background fetch settings to measure (default: off on)
#   --formats     image formats to start (default: oci estargz nydus)
#   --nydusd-amplify-io BYTES
#                 nydusd's amplify_io instead of the snapshotter's installed config (1 MiB)
#   --out DIR     directory of the figures and the plot (default docs/startup). The tables go
#                 between the markers named after it, "bench/startup.sh NAME", in
#                 docs/benchmarks.md; the default directory's markers have no NAME.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repeats=3
rates="24mbit 100mbit 1gbit"
rtt_ms=10
images="node jdk"
prefetch_settings="off on"
formats_measured="oci estargz nydus"
out="${root}/docs/startup"
command_line="sudo bench/startup.sh${*:+ $*}"
while (($# > 0)); do
    case "$1" in
        --repeats) repeats="${2:?--repeats needs a number}"; shift 2 ;;
        --rates) rates="${2:?--rates needs a list such as \"24mbit 1gbit\"}"; shift 2 ;;
        --rtt) rtt_ms="${2:?--rtt needs milliseconds}"; shift 2 ;;
        --images) images="${2:?--images needs a list such as \"node jdk\"}"; shift 2 ;;
        --prefetch) prefetch_settings="${2:?--prefetch needs off, on or both}"; shift 2 ;;
        --formats) formats_measured="${2:?--formats needs a list such as \"estargz nydus\"}"
            shift 2 ;;
        --nydusd-amplify-io)
            export STARTUP_NYDUSD_AMPLIFY_IO="${2:?--nydusd-amplify-io needs bytes}"
            [[ "${STARTUP_NYDUSD_AMPLIFY_IO}" =~ ^[0-9]+$ ]] || { echo "error: invalid" \
                "--nydusd-amplify-io '${STARTUP_NYDUSD_AMPLIFY_IO}': expected bytes" >&2; exit 2; }
            shift 2 ;;
        --out) out="$(realpath -m "${2:?--out needs a directory}")"; shift 2 ;;
        -h | --help)
            awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
            exit 0 ;;
        *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "${repeats}" =~ ^[1-9][0-9]*$ ]] \
    || { echo "error: invalid --repeats '${repeats}': expected a positive number" >&2; exit 2; }
[[ "${rtt_ms}" =~ ^[0-9]+(\.[0-9]+)?$ ]] \
    || { echo "error: invalid --rtt '${rtt_ms}': expected milliseconds" >&2; exit 2; }
for setting in ${prefetch_settings}; do
    [[ "${setting}" == off || "${setting}" == on ]] \
        || { echo "error: invalid --prefetch '${setting}': expected off or on" >&2; exit 2; }
done
for format in ${formats_measured}; do
    [[ "${format}" =~ ^(oci|estargz|nydus)$ ]] \
        || { echo "error: invalid --formats '${format}': expected oci, estargz or nydus" >&2
            exit 2; }
done
export STARTUP_WITH_ESTARGZ=1
# shellcheck source=../scripts/lib/startup.sh
source "${root}/scripts/lib/startup.sh"
for rate in ${rates}; do startup_rate_bits "${rate}" >/dev/null; done

bash "${root}/scripts/install-deps.sh"
[[ -f "${root}/nydus-cli/target/nydus.jar" ]] || (cd "${root}" \
    && JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 \
    MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow" mvn -q -B -ntp -DskipTests install)

images_script="${NYDUS_STARTUP_IMAGES:-${root}/scripts/images.sh}"
declare -A layout program
program[node]="${NYDUS_STARTUP_PROGRAM_NODE:-node -v}"
program[jdk]="${NYDUS_STARTUP_PROGRAM_JDK:-java -version}"
for image in ${images}; do
    [[ -n "${program[${image}]:-}" ]] \
        || startup_fail "unknown image '${image}': expected node or jdk"
    layout[${image}]=$(bash "${images_script}" "${image}" | tail -1)
    [[ -f "${layout[${image}]}/index.json" ]] \
        || startup_fail "${images_script} ${image} printed '${layout[${image}]}', not an OCI layout"
done

mkdir -p "${out}"
results="${out}/results.tsv"
sizes="${out}/images.tsv"
run_info="${out}/run.txt"

startup_init
startup_link_up
startup_link_shape none 0
startup_registry_start
startup_node_start off

# Image sizes and conversions, one row per image and format.
printf 'image\tformat\tbytes\tconversion_seconds\tconversion_date\n' >"${sizes}"
for image in ${images}; do
    startup_push "${layout[${image}]}" "${image}" "${image}"
    printf '%s\toci\t%s\t\t\n' "${image}" "$(startup_image_bytes "${image}" oci)" >>"${sizes}"
    for format in nydus estargz; do
        startup_convert "${image}" "${format}"
        printf '%s\t%s\t%s\t%s\t%s\n' "${image}" "${format}" \
            "$(startup_image_bytes "${image}" "${format}")" "${ST_CONVERT_SECONDS}" \
            "${ST_CONVERT_DATE}" >>"${sizes}"
    done
done

{
    echo "command: ${command_line}"
    echo "started: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' \
        /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' \
        /proc/meminfo), kernel $(uname -r)"
    echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "link: round trip ${rtt_ms} ms, rates ${rates}"
    echo "nydusd amplify_io: ${STARTUP_NYDUSD_AMPLIFY_IO:-as installed, $(jq .amplify_io \
        "${root}/misc/snapshotter/nydusd-config.fusedev.json")}"
    echo "commit: $(git -C "${root}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    for image in ${images}; do
        echo "image ${image}: $(startup_registry_digest "${image}" oci)," \
            "program: ${program[${image}]}"
    done
} >"${run_info}"

printf 'prefetch\trate\timage\tformat\trepeat\tseconds\tpull_seconds\tbytes\tmanifest_bytes' \
    >"${results}"
printf '\tconfig_bytes\tbootstrap_bytes\tblob_bytes\trequests\n' >>"${results}"
first_setting=1
for setting in ${prefetch_settings}; do
    if ((first_setting == 0)) || [[ "${setting}" != off ]]; then
        startup_node_stop
        startup_node_start "${setting}"
    fi
    first_setting=0
    warm_image="${images%% *}"
    # shellcheck disable=SC2086
    startup_warm_up "${warm_image}" ${program[${warm_image}]}
    formats=()
    for format in ${formats_measured}; do
        # OCI starts do not depend on the setting; they are measured in the first one only.
        if [[ "${format}" != oci || "${setting}" == "${prefetch_settings%% *}" ]]; then
            formats+=("${format}")
        fi
    done
    # Each round starts every kind once at every rate. The repeats of one kind are then spread
    # over the whole setting's run, so their spread includes the machine's slow drift.
    for ((repeat = 1; repeat <= repeats; repeat++)); do
        for rate in ${rates}; do
            startup_link_shape "${rate}" "${rtt_ms}"
            for image in ${images}; do
                for format in "${formats[@]}"; do
                    startup_reset
                    # shellcheck disable=SC2086
                    startup_start "${format}" "${image}" ${program[${image}]}
                    printf '%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                        "${setting}" "${rate}" "${image}" "${format}" "${repeat}" \
                        "${ST_SECONDS}" "${ST_PULL_SECONDS}" "${ST_BYTES}" \
                        "${ST_BYTES_MANIFEST}" "${ST_BYTES_CONFIG}" "${ST_BYTES_BOOTSTRAP}" \
                        "${ST_BYTES_BLOB}" "${ST_REQUESTS}" >>"${results}"
                    startup_log "prefetch ${setting}, ${rate}, ${image}, ${format} #${repeat}:" \
                        "${ST_SECONDS} s, ${ST_BYTES} bytes"
                done
            done
        done
    done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"${run_info}"
echo "finished: $(date -u '+%Y-%m-%d %H:%M UTC')" >>"${run_info}"

python3 "${root}/bench/startup_report.py" "${out}" "${root}/docs/benchmarks.md"
