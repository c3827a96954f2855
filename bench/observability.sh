#!/usr/bin/env bash
# What metrics and traces cost (issue 9), from the repository root:
#
#     bash bench/observability.sh
#
# Builds the release server, seeds a database with 10,000 tickets, and runs the server in
# four modes: `off`; `metrics` (METRICS_ADDR set, scraped with curl every SCRAPE_INTERVAL
# seconds as Prometheus would); `traces` (OTEL_EXPORTER_OTLP_ENDPOINT set to a local sink,
# bench/otlp_sink.py, that answers every export and counts its spans; the default sampler
# traces every request); and `both`. Each round runs every mode once, in an order that
# moves by one mode each round, and every run starts from a fresh copy of the seeded
# database. A run: a 2 s warm-up, then W1, W1-named (W1 as `query Me { me { id } }`), W2,
# W3 and W5 of BENCHMARKS.md with wrk (2 threads, 32 connections, DURATION seconds each),
# the server's CPU time per request read from /proc around each; then the server's peak
# RSS, a SIGTERM (which flushes the spans still queued), and the sink's counts. Prints a
# Markdown summary (bench/observability_summary.py); everything measured is kept in
# bench/results/observability-<date-time>/ (results.tsv, runs.tsv, server logs, a scrape).
# About 11 minutes a database with the defaults on 2 cores.
#
# Settings (environment): DURATION (8), ROUNDS (3), DATABASES ("sqlite"; "sqlite postgres"
# for both), TICKETS (10000), SCRAPE_INTERVAL (5), PG_URL (postgres://postgres@127.0.0.1:5432),
# CARGO_TARGET_DIR (./target); MODES ("off metrics traces both"; `sampled` is `traces` with
# one request in ten sampled, OTEL_TRACES_SAMPLER=parentbased_traceidratio); BEFORE (unset;
# a server binary built from before metrics and traces, run as one more mode, `before`).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
DATABASES=${DATABASES:-sqlite}
TICKETS=${TICKETS:-10000}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-5}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
read -r -a MODES <<<"${MODES:-off metrics traces both}"
# A build from before metrics and traces existed, as one more mode: what they cost switched off.
[ -z "${BEFORE:-}" ] || MODES=(before "${MODES[@]}")
CONNECTIONS=32
SERVER_ADDR=127.0.0.1:18080
METRICS_LISTEN=127.0.0.1:18090
SINK_ADDR=127.0.0.1:18318
OUT=bench/results/observability-$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT/results.tsv
RUNS=$OUT/runs.tsv
SERVER=$TARGET_DIR/release/supportdesk
TICKS_PER_SECOND=$(getconf CLK_TCK)

# shellcheck source=bench/lib.sh
source bench/lib.sh
# Each mode sets its own: none may leak in from the caller.
unset METRICS_ADDR OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \
    OTEL_TRACES_SAMPLER OTEL_TRACES_SAMPLER_ARG

say "building the release server"
cargo build --release --quiet -p supportdesk
mkdir -p "$OUT" bench/data
printf 'database\tround\tmode\tworkload\trps\tp50_ms\tp99_ms\trequests\terrors\tcpu_us_per_request\n' >"$RESULTS"
printf 'database\tround\tmode\tpeak_rss_mib\trequests\texports\texport_bytes\tspans\tdropped_spans\tspan_names\tscrapes\tsink_cpu_s\n' >"$RUNS"

# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# W1 with an operation name: a name of its own is a label of its own, looked up per request.
W1_NAMED='query Me { me { id } }'

server='' sink='' scraper=''
trap 'stop $scraper $server $sink' EXIT

python3 bench/otlp_sink.py "$SINK_ADDR" &
sink=$!
wait_for "$SINK_ADDR"
sink_counts() { curl -sS -X POST "http://$SINK_ADDR/reset"; }

customer=$(token customer-0 customer)
admin=$(token admin-0 admin)
writer=$(token bench-writer customer)

# One wrk run against the server; appends a row to results.tsv and counts its requests.
measure() { # workload, token, document, [seconds]
    local before line
    before=$(cpu_ticks "$server")
    line=$(TOKEN=$2 BODY=$(body_of "$3") wrk_run "http://$SERVER_ADDR/graphql" "$CONNECTIONS" "${4:-$DURATION}")
    local used=$(($(cpu_ticks "$server") - before))
    say "$DB round $ROUND $MODE $1: $line"
    local requests
    requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
    served=$((served + requests))
    [ "$1" != warmup ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$DB" "$ROUND" "$MODE" "$1" "$(result_fields "$line")" \
        "$(echo "scale=1; $used * 1000000 / $TICKS_PER_SECOND / $requests" | bc)" >>"$RESULTS"
}

# Curls /metrics every SCRAPE_INTERVAL seconds, keeping the last scrape and a line per scrape.
scrape() {
    while sleep "$SCRAPE_INTERVAL"; do
        curl -sSf -o "$OUT/scrape-$DB.txt" "http://$METRICS_LISTEN/metrics" && echo >>"$OUT/scrapes"
    done
}

# One run of one mode: a fresh copy of the seeded database, the server, the workloads.
run_mode() {
    local environment=()
    case $MODE in
    metrics) environment=(METRICS_ADDR=$METRICS_LISTEN) ;;
    traces) environment=(OTEL_EXPORTER_OTLP_ENDPOINT=http://$SINK_ADDR) ;;
    both) environment=(METRICS_ADDR=$METRICS_LISTEN OTEL_EXPORTER_OTLP_ENDPOINT=http://$SINK_ADDR) ;;
    sampled) environment=(OTEL_EXPORTER_OTLP_ENDPOINT=http://$SINK_ADDR
        OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1) ;;
    esac
    if [ "$DB" = sqlite ]; then
        rm -f bench/data/obs-run.db bench/data/obs-run.db-wal bench/data/obs-run.db-shm
        for suffix in '' -wal -shm; do
            [ ! -e "bench/data/obs-seed.db$suffix" ] || cp "bench/data/obs-seed.db$suffix" "bench/data/obs-run.db$suffix"
        done
        export DATABASE_URL="sqlite://bench/data/obs-run.db?mode=rwc"
    else
        psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS supportdesk_obs_run WITH (FORCE)" \
            -c "CREATE DATABASE supportdesk_obs_run TEMPLATE supportdesk_obs_seed"
        export DATABASE_URL=$PG_URL/supportdesk_obs_run
    fi
    sink_counts >/dev/null
    local sink_before
    sink_before=$(cpu_ticks "$sink")
    : >"$OUT/scrapes"
    local log=$OUT/server-$DB-$ROUND-$MODE.log
    local binary=$SERVER
    [ "$MODE" != before ] || binary=$BEFORE
    env "${environment[@]}" LISTEN_ADDR=$SERVER_ADDR "$binary" serve >"$log" 2>&1 &
    server=$!
    wait_for "$SERVER_ADDR"
    if [ "$MODE" = metrics ] || [ "$MODE" = both ]; then
        wait_for "$METRICS_LISTEN"
        scrape &
        scraper=$!
    fi

    for check in "$customer|$W1" "$customer|$W1_NAMED" "$customer|$W2" "$admin|$W3" "$writer|$W5"; do
        graphql "${check%%|*}" "${check#*|}" >/dev/null
    done
    served=5
    measure warmup "$customer" "$W2" 2
    measure W1 "$customer" "$W1"
    measure W1-named "$customer" "$W1_NAMED"
    measure W2 "$customer" "$W2"
    measure W3 "$admin" "$W3"
    measure W5 "$writer" "$W5"

    local rss
    rss=$(peak_rss "$server")
    stop "$scraper"
    scraper=''
    # SIGTERM: the server stops, then exports the spans still queued before it exits.
    stop "$server"
    server=''
    local counts dropped
    counts=$(sink_counts)
    dropped=$(grep -oE 'dropped_span_count=[0-9]+' "$log" | tail -1 | cut -d= -f2 || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DB" "$ROUND" "$MODE" "$rss" "$served" \
        "$(jq .exports <<<"$counts")" "$(jq .bytes <<<"$counts")" "$(jq .spans <<<"$counts")" \
        "${dropped:-0}" "$(jq -c .names <<<"$counts")" "$(wc -l <"$OUT/scrapes")" \
        "$(echo "scale=2; ($(cpu_ticks "$sink") - $sink_before) / $TICKS_PER_SECOND" | bc)" >>"$RUNS"
}

for DB in $DATABASES; do
    say "$DB: seeding $TICKETS tickets"
    if [ "$DB" = sqlite ]; then
        rm -f bench/data/obs-seed.db bench/data/obs-seed.db-wal bench/data/obs-seed.db-shm
        export DATABASE_URL="sqlite://bench/data/obs-seed.db?mode=rwc"
    else
        psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS supportdesk_obs_run WITH (FORCE)" \
            -c "DROP DATABASE IF EXISTS supportdesk_obs_seed WITH (FORCE)" -c "CREATE DATABASE supportdesk_obs_seed"
        export DATABASE_URL=$PG_URL/supportdesk_obs_seed
    fi
    "$SERVER" seed --tickets "$TICKETS" --users 1000 --messages-per-ticket 3 2>"$OUT/seed-$DB.log"
    for ROUND in $(seq 1 "$ROUNDS"); do
        for index in "${!MODES[@]}"; do
            MODE=${MODES[(index + ROUND - 1) % ${#MODES[@]}]}
            run_mode
        done
    done
done

python3 bench/observability_summary.py "$OUT"
