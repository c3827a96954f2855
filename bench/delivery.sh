#!/usr/bin/env bash
# Live delivery across two instances on one PostgreSQL (issue 8), from the repository root:
#
#     bash bench/delivery.sh
#
# Starts two release servers, A (writes) and B (1,000 subscriptions to the admin feed, in
# 50 sockets of 20), on a fresh PostgreSQL database; a writer adds EVENTS messages through
# A, one every 50 ms; prints the median and p99 time from each write's request to each
# subscriber's receipt, and B's memory per open subscription. Then createTicket
# throughput (W5 of BENCHMARKS.md, wrk, 32 connections) on A, and, with BEFORE=<binary>
# (a build from before events were recorded), on that binary over its own fresh database,
# alternately, twice each.
#
# Settings: SUBSCRIPTIONS (1000), EVENTS (100), DURATION (8), PG_URL
# (postgres://postgres@127.0.0.1:5432), BEFORE (unset), CARGO_TARGET_DIR (./target).
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIPTIONS=${SUBSCRIPTIONS:-1000}
EVENTS=${EVENTS:-100}
DURATION=${DURATION:-8}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
A=127.0.0.1:18080
B=127.0.0.1:18082
WORK=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

export JWT_SECRET=supportdesk-bench-secret-not-for-production
export RUST_LOG=warn
export MUTATION_RATE_LIMIT_BURST=1000000

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release --quiet -p supportdesk -p supportdesk-bench --bins
SERVER=$TARGET_DIR/release/supportdesk

fresh_database() { # name
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
    echo "$PG_URL/$1"
}

start() { # binary, database url, address
    DATABASE_URL=$2 LISTEN_ADDR=$3 "$1" serve &
    pids+=($!)
    for _ in $(seq 1 100); do
        curl -sf "http://$3/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "the server on $3 is not ready" >&2
    return 1
}

DB=$(fresh_database supportdesk_bench_delivery)
start "$SERVER" "$DB" "$A"
start "$SERVER" "$DB" "$B"
B_PID=${pids[1]}

for n in $(seq 0 9); do "$SERVER" token --sub "agent-$n" --role admin --ttl 86400; done >"$WORK/admins"
customer=$("$SERVER" token --sub customer-0 --role customer --ttl 86400)
ticket=$(curl -sS "http://$A/graphql" -H "Authorization: Bearer $customer" \
    -H 'Content-Type: application/json' \
    -d '{"query":"mutation { createTicket(input: { subject: \"Delivery\", message: \"First\" }) { id } }"}' |
    jq -r .data.createTicket.id)

echo "== delivery: $SUBSCRIPTIONS subscriptions on B, $EVENTS messages written through A"
WRITER=$A READER=$B READER_PID=$B_PID TICKET=$ticket WRITER_TOKEN=$(head -n 1 "$WORK/admins") \
    ADMIN_TOKENS=$WORK/admins SUBSCRIPTIONS=$SUBSCRIPTIONS EVENTS=$EVENTS \
    "$TARGET_DIR/release/delivery"

for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
pids=()

W5='{"query":"mutation { createTicket(input: { subject: \"Benchmark\", message: \"Opened by the benchmark.\" }) { id status createdAt } }"}'
w5() { # label, binary
    local db
    db=$(fresh_database "supportdesk_bench_w5_$1")
    start "$2" "$db" "$A"
    local token
    token=$("$2" token --sub writer --role customer --ttl 86400)
    TOKEN=$token BODY=$W5 wrk -t2 -c32 -d"${DURATION}s" -s bench/wrk/workload.lua "http://$A/graphql" |
        grep '^RESULT' | sed "s/^/W5 $1 /"
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    pids=()
}
echo "== createTicket throughput (W5)"
for _ in 1 2; do
    w5 events "$SERVER"
    if [ -n "${BEFORE:-}" ]; then w5 before "$BEFORE"; fi
done
