#!/usr/bin/env python3
"""Compares two runs of bench/startup.sh. For each start it checks whether the second run's
median falls within the spread (min to max) that the first run reports. It also checks the
reverse, the first run's median within the second run's spread.

usage: startup_compare.py FIRST_RESULTS_TSV SECOND_RESULTS_TSV

Prints a Markdown table with one row per prefetch setting, link rate, image and format, and
two last lines with the number of rows that pass each check.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup_report import NAMES, group, rate_bits, rate_label, read_tsv  # noqa: E402


def within(value, figures):
    return min(figures.seconds) <= value <= max(figures.seconds)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: startup_compare.py FIRST_RESULTS_TSV SECOND_RESULTS_TSV")
    _, first = group(read_tsv(Path(sys.argv[1])))
    _, second = group(read_tsv(Path(sys.argv[2])))
    print("| background fetch | image | link | format | first median (spread) |"
          " second median (spread) | second within first's spread |"
          " each within the other's spread |")
    print("|---|---|---|---|---:|---:|---|---|")
    second_within_count = 0
    both_ways_count = 0
    compared = 0
    order = {name: i for i, name in enumerate(NAMES)}
    for key in sorted(first, key=lambda k: (k[0], k[2], rate_bits(k[1]), order[k[3]])):
        if key not in second:
            continue
        setting, rate, image, image_format = key
        earlier, later = first[key], second[key]
        second_within = within(later.median, earlier)
        both_ways = second_within and within(earlier.median, later)
        second_within_count += second_within
        both_ways_count += both_ways
        compared += 1
        print(f"| {setting} | {image} | {rate_label(rate)} | {NAMES[image_format]} |"
              f" {earlier.time_cell()} | {later.time_cell()} |"
              f" {yes_no(second_within)} | {yes_no(both_ways)} |")
    print()
    print(f"{second_within_count} of {compared} medians of the second run fall within the first run's"
          " spread.")
    print()
    print(f"{both_ways_count} of {compared} medians fall within the other run's spread both ways.")


def yes_no(value):
    return "yes" if value else "no"


if __name__ == "__main__":
    main()
