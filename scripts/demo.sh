#!/usr/bin/env bash
# The main job, end to end: start a Node and a JDK container from cold caches over a shaped
# link. Each starts from the OCI image, as containerd pulls and unpacks it today, and from
# the Nydus image through the project's snapshotter, which fetches file data on demand.
# Prints a table of image sizes, conversion times, start times and the bytes the registry
# served. Then checks that every format prints the same output, and that a second Nydus start
# with a warm cache fetches no blob data.
#
# usage: sudo scripts/demo.sh [--rate RATE] [--rtt MS] [--estargz]
#   --rate RATE  link rate in tc's units: 24mbit (3 MB/s), 100mbit (default), 1gbit
#   --rtt MS     round-trip time in milliseconds (default 10)
#   --estargz    also convert to eStargz and start from that image (the first run converts,
#                which takes about a minute per image)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rate="100mbit"
rtt_ms="10"
export STARTUP_WITH_ESTARGZ=0
while (($# > 0)); do
    case "$1" in
        --rate) rate="${2:?--rate needs a value such as 100mbit}"; shift 2 ;;
        --rtt) rtt_ms="${2:?--rtt needs milliseconds}"; shift 2 ;;
        --estargz) STARTUP_WITH_ESTARGZ=1; shift ;;
        -h | --help)
            awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
            exit 0 ;;
        *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "${rtt_ms}" =~ ^[0-9]+(\.[0-9]+)?$ ]] \
    || { echo "error: invalid --rtt '${rtt_ms}': expected milliseconds" >&2; exit 2; }
# shellcheck source=lib/startup.sh
source "${root}/scripts/lib/startup.sh"
startup_rate_bits "${rate}" >/dev/null
run_start=${EPOCHREALTIME}

step() { printf '\n== %s\n' "$*" >&2; }
mib() { printf '%.1f' "$(echo "$1 / 1048576" | bc -l)"; }

step "installing packages and building the tools"
bash "${root}/scripts/install-deps.sh"
jar="${root}/nydus-cli/target/nydus.jar"
if [[ ! -f "${jar}" ]] || [[ -n "$(find "${root}/pom.xml" "${root}"/*/pom.xml \
        "${root}"/*/src/main -newer "${jar}" -print -quit)" ]]; then
    (cd "${root}" && JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 \
        MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow" mvn -q -B -ntp -DskipTests install)
else
    echo "the build is up to date (${jar} is newer than every source)" >&2
fi

step "building or reusing the images (scripts/images.sh)"
# NYDUS_STARTUP_IMAGES may name another script with the same interface.
images_script="${NYDUS_STARTUP_IMAGES:-${root}/scripts/images.sh}"
images=(node jdk)
declare -A layout program
program[node]="${NYDUS_STARTUP_PROGRAM_NODE:-node -v}"
program[jdk]="${NYDUS_STARTUP_PROGRAM_JDK:-java -version}"
for image in "${images[@]}"; do
    layout[${image}]=$(bash "${images_script}" "${image}" | tail -1)
    [[ -f "${layout[${image}]}/index.json" ]] \
        || startup_fail "${images_script} ${image} printed '${layout[${image}]}', not an OCI layout"
done

step "starting the link, the registry and a containerd node"
startup_init
startup_link_up
startup_link_shape none 0
startup_registry_start
startup_node_start off

step "pushing and converting the images"
formats=(oci nydus)
((STARTUP_WITH_ESTARGZ)) && formats+=(estargz)
declare -A size conversion
for image in "${images[@]}"; do
    startup_push "${layout[${image}]}" "${image}" "${image}"
    size[${image}.oci]=$(startup_image_bytes "${image}" oci)
    conversion[${image}.oci]="-"
    for format in "${formats[@]:1}"; do
        startup_convert "${image}" "${format}"
        size[${image}.${format}]=$(startup_image_bytes "${image}" "${format}")
        conversion[${image}.${format}]="${ST_CONVERT_SECONDS} s"
        if ((ST_CONVERT_REUSED)); then
            conversion[${image}.${format}]+=" (reused, measured ${ST_CONVERT_DATE})"
        fi
    done
done

step "one start of each lazy format, so that the daemons run as on a busy node"
# shellcheck disable=SC2086
startup_warm_up "${images[0]}" ${program[${images[0]}]}

link="$(startup_rate_label "${rate}"), ${rtt_ms} ms round trip"
step "cold starts over the link (${link}), and a second Nydus start with the cache warm"
startup_link_shape "${rate}" "${rtt_ms}"
declare -A seconds bytes output warm_seconds warm_blob_bytes
for image in "${images[@]}"; do
    for format in "${formats[@]}"; do
        startup_reset
        # shellcheck disable=SC2086
        startup_start "${format}" "${image}" ${program[${image}]}
        seconds[${image}.${format}]="${ST_SECONDS}"
        bytes[${image}.${format}]="${ST_BYTES}"
        output[${image}.${format}]="${ST_OUTPUT}"
        startup_log "${image} ${format}: ${ST_SECONDS} s, $(mib "${ST_BYTES}") MiB served"
        if [[ "${format}" == nydus ]]; then
            # shellcheck disable=SC2086
            startup_start nydus "${image}" ${program[${image}]}
            warm_seconds[${image}]="${ST_SECONDS}"
            warm_blob_bytes[${image}]=$((ST_BYTES_BOOTSTRAP + ST_BYTES_BLOB))
        fi
    done
done
startup_node_stop

printf '\nCold starts over a %s link (%d cores, %s)\n\n' "${link}" "$(nproc)" "$(uname -r)"
printf '| image | format | size (MiB) | conversion | start (s) | sooner than OCI |'
printf ' served (MiB) | of OCI served |\n'
printf '|---|---|---:|---|---:|---:|---:|---:|\n'
for image in "${images[@]}"; do
    for format in "${formats[@]}"; do
        key="${image}.${format}"
        printf '| %s | %s | %s | %s | %s | %sx | %s | %s %% |\n' "${image}" "${format}" \
            "$(mib "${size[${key}]}")" "${conversion[${key}]}" "${seconds[${key}]}" \
            "$(printf '%.1f' "$(echo "${seconds[${image}.oci]} / ${seconds[${key}]}" | bc -l)")" \
            "$(mib "${bytes[${key}]}")" \
            "$(printf '%.1f' "$(echo "100 * ${bytes[${key}]} / ${bytes[${image}.oci]}" | bc -l)")"
    done
done

failed=0
printf '\nChecks\n'
for image in "${images[@]}"; do
    for format in "${formats[@]:1}"; do
        if [[ "${output[${image}.${format}]}" == "${output[${image}.oci]}" ]]; then
            printf -- '- %s: %s prints the same as OCI: %s\n' "${image}" "${format}" \
                "$(head -1 <<<"${output[${image}.oci]}")"
        else
            printf -- '- %s: %s output DIFFERS from OCI:\n%s\n---\n%s\n' "${image}" "${format}" \
                "${output[${image}.${format}]}" "${output[${image}.oci]}"
            failed=1
        fi
    done
    printf -- '- %s: second Nydus start with a warm cache took %s s, blob bytes served: %s\n' \
        "${image}" "${warm_seconds[${image}]}" "${warm_blob_bytes[${image}]}"
    ((warm_blob_bytes[${image}] == 0)) || failed=1
done
printf '\nThe whole run took %.0f s.\n' "$(echo "${EPOCHREALTIME} - ${run_start}" | bc)"
exit "${failed}"
