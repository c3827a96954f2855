#!/usr/bin/env bash
# Where the time of W2 or W3 goes, GraphQL against the raw baseline, on a seeded database:
#
#     bash bench/profile.sh postgres://postgres@127.0.0.1:5432/supportdesk_bench_1000000 W3
#
# Starts the release server and the baseline on DATABASE_URL (the first argument), then
# for each: a wrk run (32 connections, DURATION seconds) measuring the process's CPU time
# per request (from /proc), and a `perf record` of 5 s of the same load, summed by crate
# (self time). Leaves perf-*.data in bench/results/profile/ for `perf report -i`.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL=$1
WORKLOAD=${2:-W2}
DURATION=${DURATION:-8}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
OUT=bench/results/profile
export JWT_SECRET=supportdesk-bench-secret-not-for-production RUST_LOG=warn
mkdir -p "$OUT"

"$TARGET_DIR/release/supportdesk" migrate
LISTEN_ADDR=127.0.0.1:18080 "$TARGET_DIR/release/supportdesk" serve >"$OUT/server.log" 2>&1 &
server=$!
LISTEN_ADDR=127.0.0.1:18081 "$TARGET_DIR/release/baseline" >"$OUT/baseline.log" 2>&1 &
baseline=$!
trap 'kill $server $baseline 2>/dev/null || true' EXIT
sleep 1

PAGINATION='pagination { total page limit totalPages hasNextPage hasPreviousPage }'
if [ "$WORKLOAD" = W2 ]; then
    token=$("$TARGET_DIR/release/supportdesk" token --sub customer-0 --role customer)
    query="{ tickets(limit: 20) { items { id subject status createdAt } $PAGINATION } }"
    params='limit=20'
else
    token=$("$TARGET_DIR/release/supportdesk" token --sub admin-0 --role admin)
    query="{ tickets(status: OPEN, limit: 20) { items { id subject status createdAt messages { body authorRole } } $PAGINATION } }"
    params='status=OPEN&limit=20&messages=true'
fi
body=$(jq -cn --arg query "$query" '{query: $query}')

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

load() { # target, seconds
    if [ "$1" = graphql ]; then
        TOKEN=$token BODY=$body wrk -t2 -c32 -d"$2s" -s bench/wrk/workload.lua http://127.0.0.1:18080/graphql
    else
        TOKEN=$token wrk -t2 -c32 -d"$2s" -s bench/wrk/workload.lua "http://127.0.0.1:18081/tickets?$params"
    fi | grep '^RESULT'
}

for target in graphql baseline; do
    pid=$([ $target = graphql ] && echo $server || echo $baseline)
    before=$(cpu_ticks $pid)
    result=$(load $target "$DURATION")
    after=$(cpu_ticks $pid)
    requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$result")
    ticks_per_second=$(getconf CLK_TCK)
    echo "$WORKLOAD $target: $result cpu_us_per_request=$(((after - before) * 1000000 / ticks_per_second / requests))"

    load $target 8 >/dev/null &
    loader=$!
    sleep 1
    perf record -q -F 999 -p $pid -o "$OUT/perf-$WORKLOAD-$target.data" -- sleep 5 2>/dev/null
    wait $loader || true
    echo "self time by crate ($target):"
    perf report -i "$OUT/perf-$WORKLOAD-$target.data" --no-children --sort dso,symbol \
        -g none --stdio 2>/dev/null |
        awk '/%/ && !/^#/ {
            share = $1; sub(/%/, "", share); dso = $2
            $1 = ""; $2 = ""; $3 = ""; symbol = $0; sub(/^ +/, "", symbol)
            if (dso ~ /kernel/) crate = "kernel (syscalls, TCP, scheduling)"
            else if (dso ~ /libc/) crate = "libc (malloc, free, memcpy)"
            else {
                gsub(/^[<&]+(mut |dyn )?/, "", symbol)
                crate = symbol; sub(/::.*/, "", crate); sub(/[< ].*/, "", crate)
            }
            total[crate] += share
        }
        END { for (crate in total) printf "  %6.2f%%  %s\n", total[crate], crate }' |
        sort -rn | sed -n 1,15p
done
