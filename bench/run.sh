#!/usr/bin/env bash
# supportdesk's load benchmark. One command, from the repository root:
#
#     bash bench/run.sh
#
# Builds the release binaries; then, for SQLite and PostgreSQL at 10,000 and 1,000,000
# tickets: seeds a fresh database (timed), writes the query plans (at 1,000,000), starts
# the server and the raw baseline (bench/src/bin/baseline.rs) on loopback, and runs the
# workloads of BENCHMARKS.md with wrk: 32 connections, DURATION seconds each, GraphQL and
# baseline runs alternating (W2, W3, W4). Prints a Markdown summary; everything it measured is kept in
# bench/results/<date-time>/ (results.tsv, meta.tsv, plans-*.md, seed and server logs).
#
# Settings (environment): DURATION (seconds per run, 8), DATABASES ("sqlite postgres"),
# SCALES ("10000 1000000"), PG_URL (postgres://postgres@127.0.0.1:5432),
# CARGO_TARGET_DIR (./target). About 20 minutes with the defaults on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8}
DATABASES=${DATABASES:-sqlite postgres}
SCALES=${SCALES:-10000 1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
CONNECTIONS=32
SERVER_ADDR=127.0.0.1:18080
BASELINE_ADDR=127.0.0.1:18081
OUT=bench/results/$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT/results.tsv
META=$OUT/meta.tsv

SERVER=$TARGET_DIR/release/supportdesk
BASELINE=$TARGET_DIR/release/baseline

# shellcheck source=bench/lib.sh
source bench/lib.sh

say "building the release binaries"
cargo build --release --quiet -p supportdesk -p supportdesk-bench --bins
mkdir -p "$OUT" bench/data
printf 'database\tscale\tworkload\ttarget\trps\tp50_ms\tp99_ms\trequests\terrors\n' >"$RESULTS"
printf 'database\tscale\tkey\tvalue\n' >"$META"

# One wrk run; appends a row to results.tsv. Extra environment (TOKEN, BODY, MIX_*) is
# passed before the call.
measure() { # workload, target (graphql|baseline), url, [connections], [seconds]
    local line
    line=$(wrk_run "$3" "${4:-$CONNECTIONS}" "${5:-$DURATION}")
    say "$DB $SCALE $1 $2: $line"
    [ "$1" != warmup ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\n' "$DB" "$SCALE" "$1" "$2" "$(result_fields "$line")" >>"$RESULTS"
}

meta() { printf '%s\t%s\t%s\t%s\n' "$DB" "$SCALE" "$1" "$2" >>"$META"; }

server='' baseline=''
trap 'stop $server $baseline' EXIT

ADMIN_ALL='{ tickets(limit: 20) { items { id subject status createdAt } pagination { total } } }'
ADMIN_OPEN='{ tickets(status: OPEN, limit: 20) { items { id subject status createdAt } pagination { total } } }'

for DB in $DATABASES; do
    for SCALE in $SCALES; do
        users=$((SCALE / 100 > 1000 ? SCALE / 100 : 1000))
        if [ "$DB" = sqlite ]; then
            file=bench/data/bench-$SCALE.db
            rm -f "$file" "$file-wal" "$file-shm"
            export DATABASE_URL="sqlite://$file?mode=rwc"
        else
            database=supportdesk_bench_$SCALE
            psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
                -c "CREATE DATABASE $database"
            export DATABASE_URL="$PG_URL/$database"
        fi

        say "$DB $SCALE: seeding ($users users, 3 messages a ticket)"
        started=$(date +%s.%N)
        "$SERVER" seed --tickets "$SCALE" --users "$users" --messages-per-ticket 3 \
            2>"$OUT/seed-$DB-$SCALE.log"
        meta seed_seconds "$(echo "$(date +%s.%N) - $started" | bc)"
        if [ "$SCALE" -ge 1000000 ]; then
            say "$DB $SCALE: query plans"
            target=$([ "$DB" = sqlite ] && echo "$file" || echo "$DATABASE_URL")
            bash bench/explain.sh "$DB" "$target" >"$OUT/plans-$DB-$SCALE.md"
        fi

        LISTEN_ADDR=$SERVER_ADDR "$SERVER" serve >"$OUT/server-$DB-$SCALE.log" 2>&1 &
        server=$!
        LISTEN_ADDR=$BASELINE_ADDR "$BASELINE" >"$OUT/baseline-$DB-$SCALE.log" 2>&1 &
        baseline=$!
        wait_for "$SERVER_ADDR"
        wait_for "$BASELINE_ADDR"

        # customer-0 is one of the seed's heavy users.
        customer=$(token customer-0 customer)
        admin=$(token admin-0 admin)
        owner=$(token bench-owner customer)
        writer=$(token bench-writer customer)

        # W4's ticket: opened through the API, then nine replies, ten messages in all.
        ticket=$(graphql "$owner" 'mutation { createTicket(input: { subject: "Ten messages", message: "The first." }) { id } }' |
            jq -r .data.createTicket.id)
        for n in $(seq 2 10); do
            graphql "$([ $((n % 2)) = 0 ] && echo "$admin" || echo "$owner")" \
                "mutation { addTicketMessage(ticketId: \"$ticket\", body: \"Message $n.\") { id } }" >/dev/null
        done
        W4="{ ticket(id: \"$ticket\") { id subject status createdAt messages { id authorRole body createdAt } } }"
        [ "$(graphql "$owner" "$W4" | jq '.data.ticket.messages | length')" = 10 ]

        # The baseline answers exactly what GraphQL answers, byte for byte.
        for check in "$customer|$W2|tickets?limit=20" \
            "$admin|$W3|tickets?status=OPEN&limit=20&messages=true" "$owner|$W4|tickets/$ticket"; do
            IFS='|' read -r who query path <<<"$check"
            [ "$(graphql "$who" "$query")" = \
                "$(curl -sS "http://$BASELINE_ADDR/$path" -H "Authorization: Bearer $who")" ] ||
                { echo "the baseline's answer differs for $query" >&2; exit 1; }
        done
        graphql "$writer" "$W5" >/dev/null

        GQL=http://$SERVER_ADDR/graphql
        W2_BASE="http://$BASELINE_ADDR/tickets?limit=20"
        W3_BASE="http://$BASELINE_ADDR/tickets?status=OPEN&limit=20&messages=true"
        W4_BASE="http://$BASELINE_ADDR/tickets/$ticket"
        say "$DB $SCALE: warming up"
        TOKEN=$customer BODY=$(body_of "$W2") measure warmup graphql "$GQL" "$CONNECTIONS" 2
        TOKEN=$customer measure warmup baseline "$W2_BASE" "$CONNECTIONS" 2

        TOKEN=$customer BODY=$(body_of "$W1") measure W1 graphql "$GQL"
        for _ in 1 2; do
            TOKEN=$customer BODY=$(body_of "$W2") measure W2 graphql "$GQL"
            TOKEN=$customer measure W2 baseline "$W2_BASE"
            TOKEN=$admin BODY=$(body_of "$W3") measure W3 graphql "$GQL"
            TOKEN=$admin measure W3 baseline "$W3_BASE"
            TOKEN=$owner BODY=$(body_of "$W4") measure W4 graphql "$GQL"
            TOKEN=$owner measure W4 baseline "$W4_BASE"
        done
        # An admin's list with its total, one connection: the latency of one request.
        TOKEN=$admin BODY=$(body_of "$ADMIN_ALL") measure admin-all-c1 graphql "$GQL" 1 5
        TOKEN=$admin BODY=$(body_of "$ADMIN_OPEN") measure admin-open-c1 graphql "$GQL" 1 5
        # Writes last: they add tickets to the seeded data.
        TOKEN=$writer BODY=$(body_of "$W5") measure W5 graphql "$GQL"
        MIX_W2_TOKEN=$customer MIX_W2_BODY=$(body_of "$W2") \
            MIX_W3_TOKEN=$admin MIX_W3_BODY=$(body_of "$W3") \
            MIX_W4_TOKEN=$owner MIX_W4_BODY=$(body_of "$W4") \
            MIX_W5_TOKEN=$writer MIX_W5_BODY=$(body_of "$W5") \
            measure W6 graphql "$GQL"

        meta server_peak_rss_mib "$(peak_rss "$server")"
        meta baseline_peak_rss_mib "$(peak_rss "$baseline")"
        stop "$server" "$baseline"
        server='' baseline=''
    done
done

bash bench/summary.sh "$OUT"
