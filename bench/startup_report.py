#!/usr/bin/env python3
"""Turns the raw figures of bench/startup.sh into Markdown tables and a gnuplot PNG.

usage: startup_report.py OUT_DIR BENCHMARKS_MD

OUT_DIR contains results.tsv (one row per start), images.tsv (sizes and conversion times) and
run.txt (command and machine). Writes OUT_DIR/tables.md and OUT_DIR/start-time.png, and puts
the tables between the markers of BENCHMARKS_MD that are named after OUT_DIR, when it has
them: "<!-- bench/startup.sh: begin -->" for docs/startup, "<!-- bench/startup.sh NAME:
begin -->" for any other directory NAME beside it.
"""
import csv
import statistics
import subprocess
import sys
from pathlib import Path

DEFAULT_OUT = "startup"
FORMATS = ("oci", "estargz", "nydus")
NAMES = {"oci": "OCI", "estargz": "eStargz", "nydus": "Nydus"}
MIB = 1 << 20


def rate_bits(rate):
    """Returns a tc rate such as 24mbit in bits per second."""
    units = {"kbit": 10**3, "mbit": 10**6, "gbit": 10**9}
    for unit, factor in units.items():
        if rate.endswith(unit):
            return int(rate[: -len(unit)]) * factor
    raise ValueError(f"invalid rate {rate!r} in results.tsv: expected kbit, mbit or gbit")


def rate_label(rate):
    bits = rate_bits(rate)
    if bits % 10**9 == 0:
        return f"{bits // 10**9} Gbit/s"
    if bits % (8 * 10**6) == 0 and bits < 80 * 10**6:
        return f"{bits // (8 * 10**6)} MB/s"
    return f"{bits // 10**6} Mbit/s"


def read_tsv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file, delimiter="\t"))


class Figures:
    """The starts of one kind (setting, rate, image, format): times and bytes served."""

    def __init__(self, rows):
        self.seconds = [float(row["seconds"]) for row in rows]
        self.bytes = [int(row["bytes"]) for row in rows]

    @property
    def median(self):
        return statistics.median(self.seconds)

    @property
    def median_bytes(self):
        return statistics.median(self.bytes)

    def time_cell(self):
        low, high = min(self.seconds), max(self.seconds)
        if len(self.seconds) == 1:
            return f"{self.median:.2f}"
        return f"{self.median:.2f} ({low:.2f}–{high:.2f})"


def group(rows):
    """Returns the figures by (setting, rate, image, format); OCI rows count for every
    setting, because OCI has no background fetch."""
    settings = list(dict.fromkeys(row["prefetch"] for row in rows))
    keyed = {}
    for row in rows:
        targets = settings if row["format"] == "oci" else [row["prefetch"]]
        for setting in targets:
            keyed.setdefault((setting, row["rate"], row["image"], row["format"]), []).append(row)
    return settings, {key: Figures(value) for key, value in keyed.items()}


def sizes_table(sizes):
    by_image = {}
    for row in sizes:
        by_image.setdefault(row["image"], {})[row["format"]] = row
    lines = ["| image | OCI (MiB) | Nydus (MiB) | Nydus conversion | eStargz (MiB) |"
             " eStargz conversion |", "|---|---:|---:|---|---:|---|"]
    for image, formats in by_image.items():
        cells = [image, f"{int(formats['oci']['bytes']) / MIB:.1f}"]
        for format_name in ("nydus", "estargz"):
            row = formats.get(format_name)
            if row is None:
                cells += ["-", "-"]
                continue
            cells.append(f"{int(row['bytes']) / MIB:.1f}")
            cells.append(f"{row['conversion_seconds']} s ({row['conversion_date']})")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def start_table(setting, rates, images, figures, oci_bytes):
    lines = [f"Background fetch {setting}. Start in seconds, median (min–max). Served in MiB,"
             " median. A time ratio above 1 means Nydus started sooner.", "",
             "| image | link | OCI start | eStargz start | Nydus start | OCI / Nydus |"
             " eStargz / Nydus | OCI served | eStargz served | Nydus served |"
             " Nydus served / OCI size |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for image in images:
        for rate in rates:
            kinds = {f: figures.get((setting, rate, image, f)) for f in FORMATS}
            cells = [image, rate_label(rate)]
            cells += [k.time_cell() if k else "-" for k in kinds.values()]
            nydus, oci, estargz = kinds["nydus"], kinds["oci"], kinds["estargz"]
            cells.append(f"{oci.median / nydus.median:.1f}" if oci and nydus else "-")
            cells.append(f"{estargz.median / nydus.median:.2f}" if estargz and nydus else "-")
            cells += [f"{k.median_bytes / MIB:.1f}" if k else "-" for k in kinds.values()]
            cells.append(f"{100 * nydus.median_bytes / oci_bytes[image]:.1f} %"
                         if nydus else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets(settings, rates, images, figures, oci_bytes):
    """Returns one line per target, checked on the medians, stating whether it is met."""
    lines = []
    slowest = min(rates, key=rate_bits)
    nydus = figures.get(("off", slowest, "node", "nydus"))
    oci = figures.get(("off", slowest, "node", "oci"))
    if nydus and oci:
        ratio = oci.median / nydus.median
        share = 100 * nydus.median_bytes / oci_bytes["node"]
        lines.append(f"- Node image at {rate_label(slowest)}, background fetch off: Nydus starts"
                     f" {ratio:.1f}x sooner than OCI (target at least 10x:"
                     f" {'met' if ratio >= 10 else 'NOT met'}) and the registry served"
                     f" {share:.1f} % of the OCI image's compressed size (target at most 10 %:"
                     f" {'met' if share <= 10 else 'NOT met'}).")
    slower = []
    compared = 0
    for setting in settings:
        for image in images:
            for rate in rates:
                nydus = figures.get((setting, rate, image, "nydus"))
                estargz = figures.get((setting, rate, image, "estargz"))
                if nydus and estargz:
                    compared += 1
                    if nydus.median >= estargz.median:
                        slower.append(f"{image} at {rate_label(rate)} with background fetch"
                                      f" {setting} ({nydus.median:.2f} s against"
                                      f" {estargz.median:.2f} s)")
    verdict = "met" if not slower else "NOT met in " + "; ".join(slower)
    lines.append(f"- Nydus starts sooner than eStargz in every one of the {compared}"
                 f" comparisons (same link, image and background fetch setting): {verdict}.")
    return lines


def plot(out, settings, rates, images, figures):
    """Writes start-time.png: median start time against link rate, one panel per image."""
    data = out / "start-time.dat"
    series = [("oci", settings[0], "OCI")]
    for setting in settings:
        series += [("estargz", setting, f"eStargz, background fetch {setting}"),
                   ("nydus", setting, f"Nydus, background fetch {setting}")]
    blocks = []
    curves = {image: [] for image in images}
    for image in images:
        for format_name, setting, title in series:
            block = [f"# {image} {format_name} {setting}"]
            for rate in sorted(rates, key=rate_bits):
                kind = figures.get((setting, rate, image, format_name))
                if kind:
                    block.append(f"{rate_bits(rate) / 1e6:g} {kind.median:.3f}"
                                 f" {min(kind.seconds):.3f} {max(kind.seconds):.3f}")
            if len(block) > 1:
                curves[image].append((len(blocks), format_name, setting, title))
                blocks.append("\n".join(block))
    data.write_text("\n\n\n".join(blocks) + "\n")
    styles = {"oci": "lc rgb '#444444'", "estargz": "lc rgb '#d95f02'",
              "nydus": "lc rgb '#1b9e77'"}
    commands = [
        "set terminal pngcairo size 1200,520 font 'DejaVu Sans,10'",
        f"set output '{out / 'start-time.png'}'",
        f"set multiplot layout 1,{len(images)}",
        "set logscale xy", "set grid",
        "set xlabel 'link rate (log scale), 10 ms round trip'",
        "set ylabel 'start time (s), median with min-max'",
        "set key top right", "set xrange [15:1600]",
    ]
    tics = ", ".join(f'"{rate_label(rate)}" {rate_bits(rate) / 1e6:g}' for rate in rates)
    commands.append(f"set xtics ({tics})")
    for image in images:
        parts = []
        for index, format_name, setting, title in curves[image]:
            dash = "dt 2" if setting == "on" and format_name != "oci" else "dt 1"
            parts.append(f"'{data}' index {index} using 1:2:3:4 with yerrorlines"
                         f" {styles[format_name]} {dash} lw 2 pt 7 title '{title}'")
        commands.append(f"set title '{image} image: time from pull to the program output'")
        commands.append("plot " + ", ".join(parts))
    commands.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(commands), text=True, check=True)
    data.unlink()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: startup_report.py OUT_DIR BENCHMARKS_MD")
    out, benchmarks = Path(sys.argv[1]), Path(sys.argv[2])
    rows = read_tsv(out / "results.tsv")
    if not rows:
        sys.exit(f"error: {out / 'results.tsv'} has no starts")
    sizes = read_tsv(out / "images.tsv")
    oci_bytes = {row["image"]: int(row["bytes"]) for row in sizes if row["format"] == "oci"}
    settings, figures = group(rows)
    rates = list(dict.fromkeys(row["rate"] for row in rows))
    images = list(dict.fromkeys(row["image"] for row in rows))
    run = (out / "run.txt").read_text().strip().splitlines()

    lines = ["Produced by the command and on the machine below:", "", "```"] + run + ["```", ""]
    lines += ["Image sizes (compressed, config and layers) and the time each conversion took:",
              ""] + sizes_table(sizes) + [""]
    for setting in settings:
        lines += start_table(setting, rates, images, figures, oci_bytes) + [""]
    lines += ["Targets, checked on the medians above:", ""]
    lines += targets(settings, rates, images, figures, oci_bytes) + [""]
    lines += [f"![Start time against link rate]({out.name}/start-time.png)"]
    text = "\n".join(lines) + "\n"
    (out / "tables.md").write_text(text)
    plot(out, settings, rates, images, figures)

    name = "" if out.name == DEFAULT_OUT else " " + out.name
    begin = f"<!-- bench/startup.sh{name}: begin -->"
    end = f"<!-- bench/startup.sh{name}: end -->"
    page = benchmarks.read_text()
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        _, tail = rest.split(end, 1)
        benchmarks.write_text(head + begin + "\n" + text + end + tail)
        print(f"updated {benchmarks}", file=sys.stderr)
    else:
        print(f"{benchmarks} has no {begin} marker; the tables are in {out / 'tables.md'}",
              file=sys.stderr)
    print(text)


if __name__ == "__main__":
    main()
