#!/usr/bin/env bash
# Markdown tables from one run of bench/run.sh: bash bench/summary.sh bench/results/<run>
set -euo pipefail
DIR=$1

# Per database and scale: each workload's mean over its runs; W2, W3 and W4 with the baseline
# and the ratio of their throughputs.
awk -F'\t' -v meta="$DIR/meta.tsv" '
    BEGIN {
        while ((getline line < meta) > 0) {
            split(line, f, "\t")
            info[f[1] SUBSEP f[2] SUBSEP f[3]] = f[4]
        }
    }
    NR == 1 { next }
    {
        key = $1 SUBSEP $2
        if (!(key in seen)) { seen[key] = 1; keys[++nkeys] = key }
        w = key SUBSEP $3 SUBSEP $4
        if (!(w in runs)) order[key] = order[key] " " $3 "|" $4
        runs[w]++; rps[w] += $5; p50[w] += $6; p99[w] += $7; errors[w] += $9
    }
    END {
        for (k = 1; k <= nkeys; k++) {
            key = keys[k]; split(key, id, SUBSEP)
            printf "### %s, %s tickets\n\n", id[1], id[2]
            printf "Seeded in %s s; server peak RSS %s MiB (baseline %s MiB).\n\n",
                info[key SUBSEP "seed_seconds"], info[key SUBSEP "server_peak_rss_mib"],
                info[key SUBSEP "baseline_peak_rss_mib"]
            print "| workload | server | runs | requests/s | p50 ms | p99 ms | errors | GraphQL / baseline |"
            print "|---|---|---:|---:|---:|---:|---:|---:|"
            n = split(order[key], names, " ")
            for (i = 1; i <= n; i++) {
                split(names[i], wt, "|"); w = key SUBSEP wt[1] SUBSEP wt[2]
                ratio = ""
                base = key SUBSEP wt[1] SUBSEP "baseline"
                if (wt[2] == "graphql" && (base in runs))
                    ratio = sprintf("%.0f %%", 100 * (rps[w] / runs[w]) / (rps[base] / runs[base]))
                printf "| %s | %s | %d | %.0f | %.2f | %.2f | %d | %s |\n", wt[1], wt[2], runs[w],
                    rps[w] / runs[w], p50[w] / runs[w], p99[w] / runs[w], errors[w], ratio
            }
            print ""
        }
    }' "$DIR/results.tsv"

# The admin list with its total, one connection: 1,000,000 against 10,000 tickets.
echo "### Admin list with total, one connection: p50 at 1,000,000 / p50 at 10,000"
echo
echo "| database | list | p50 ms at 10,000 | p50 ms at 1,000,000 | ratio |"
echo "|---|---|---:|---:|---:|"
awk -F'\t' '
    $3 ~ /^admin-/ { p50[$1 SUBSEP $3 SUBSEP $2] = $6; lists[$1 SUBSEP $3] = 1 }
    END {
        for (l in lists) {
            small = p50[l SUBSEP 10000]; large = p50[l SUBSEP 1000000]
            split(l, id, SUBSEP)
            if (small > 0 && large > 0)
                printf "| %s | %s | %.2f | %.2f | %.2f× |\n", id[1], id[2], small, large, large / small
        }
    }' "$DIR/results.tsv" | sort
