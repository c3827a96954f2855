"""Markdown tables from one run of bench/observability.sh:

    python3 bench/observability_summary.py bench/results/observability-<date-time>

Per database: each workload's requests/s and server CPU time per request in each mode, the
median over the rounds, with the median of the ratios to `off` in the same round (so that
a slow minute of the shared machine moves a round's modes together); then per mode what a
run held: peak RSS, and what the OTLP sink received.
"""

import csv
import json
import sys
from collections import defaultdict
from statistics import median

# `before`: a build from before metrics and traces existed (BEFORE=…); `sampled`: traces
# of one request in ten. Each when it ran.
MODES = ["before", "off", "metrics", "traces", "both", "sampled"]


def rows(path):
    with open(path, newline="") as table:
        return list(csv.DictReader(table, delimiter="\t"))


def number(value, digits=0):
    return f"{value:,.{digits}f}"


def by_mode_table(results, database, column, title, digits):
    """One row per workload: the median of `column` in each mode, and the median ratio."""
    values = defaultdict(dict)  # (workload, mode) -> {round: value}
    workloads = []
    for row in results:
        if row["database"] != database:
            continue
        if row["workload"] not in workloads:
            workloads.append(row["workload"])
        values[row["workload"], row["mode"]][row["round"]] = float(row[column])
    print(f"{title}\n")
    modes = [mode for mode in MODES if any(key[1] == mode for key in values)]
    print("| workload | " + " | ".join(modes) + " |")
    print("|---|" + "---:|" * len(modes))
    for workload in workloads:
        off = values[workload, "off"]
        cells = []
        for mode in modes:
            runs = values[workload, mode]
            if not runs:
                cells.append("")
                continue
            cell = number(median(runs.values()), digits)
            ratios = [runs[r] / off[r] for r in runs if r in off and off[r] > 0]
            if mode != "off" and ratios:
                cell += f" ({median(ratios):.2f})"
            cells.append(cell)
        print(f"| {workload} | " + " | ".join(cells) + " |")
    print()


def runs_table(runs, database):
    print("Per run of a mode (medians over the rounds; spans and bytes as the sink received them):\n")
    print("| mode | peak RSS MiB | requests | exports | export MiB | spans | spans / request | dropped spans | scrapes | sink CPU s |")
    print("|---|" + "---:|" * 9)
    for mode in MODES:
        mine = [run for run in runs if run["database"] == database and run["mode"] == mode]
        if not mine:
            continue

        def middle(key):
            return median(float(run[key]) for run in mine)

        per_request = median(float(run["spans"]) / float(run["requests"]) for run in mine)
        print(
            f"| {mode} | {middle('peak_rss_mib'):.1f} | {number(middle('requests'))} "
            f"| {number(middle('exports'))} | {middle('export_bytes') / 2**20:.1f} "
            f"| {number(middle('spans'))} | {per_request:.2f} | {number(middle('dropped_spans'))} "
            f"| {number(middle('scrapes'))} | {middle('sink_cpu_s'):.2f} |"
        )
    print()
    sample = next(
        (run for run in runs if run["database"] == database and run["mode"] == "traces"), None
    )
    if sample:
        names = json.loads(sample["span_names"] or "{}")
        listed = ", ".join(f"`{name}` {count}" for name, count in sorted(names.items()))
        print(f"Spans of the first export of a `traces` run, by name: {listed}.\n")


def main(directory):
    results = rows(f"{directory}/results.tsv")
    runs = rows(f"{directory}/runs.tsv")
    databases = list(dict.fromkeys(row["database"] for row in results))
    for database in databases:
        rounds = len({row["round"] for row in results if row["database"] == database})
        errors = sum(int(row["errors"]) for row in results if row["database"] == database)
        print(f"### {database}, {rounds} rounds, {errors} errors\n")
        by_mode_table(
            results, database, "rps",
            "Requests/s (in brackets: the mode's / `off`'s, same round):", 0,
        )
        by_mode_table(
            results, database, "cpu_us_per_request",
            "Server CPU time per request, µs (in brackets: the mode's / `off`'s, same round):", 0,
        )
        by_mode_table(results, database, "p99_ms", "p99 latency, ms:", 2)
        runs_table(runs, database)


if __name__ == "__main__":
    main(sys.argv[1])
