#!/usr/bin/env bash
# The write cost of the search index (issue 15): createTicket (W5) and addTicketMessage at
# 32 connections on PostgreSQL, this build against the build before the index (BEFORE, the
# commit before "Search: …"), in one run. One command, from the repository root:
#
#     bash bench/write_cost.sh
#
# Builds both release servers (the earlier one in a temporary worktree, into its own
# target directory: the first time a full build), seeds a fresh database for each
# (`seed --tickets SCALE`), then ROUNDS rounds of: W5 on each build in turn, then
# addTicketMessage on each (an admin's reply to each of 1,000 of the seeded tickets in
# turn), DURATION seconds each. Prints a Markdown table; everything is kept in
# bench/results/write-cost-<date-time>/.
#
# Settings (environment): BEFORE (373e35e^), SCALE (10000), DURATION (8), ROUNDS (2),
# PG_URL (postgres://postgres@127.0.0.1:5432), CARGO_TARGET_DIR (./target).
set -euo pipefail
cd "$(dirname "$0")/.."

BEFORE=${BEFORE:-373e35e^}
SCALE=${SCALE:-10000}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
CONNECTIONS=32
OUT=bench/results/write-cost-$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT/results.tsv
SERVER=$TARGET_DIR/release/supportdesk
EARLIER=$(mktemp -d)/before
EARLIER_SERVER=$TARGET_DIR/write-cost-before/release/supportdesk

# shellcheck source=bench/lib.sh
source bench/lib.sh

mkdir -p "$OUT"
say "building this release server"
cargo build --release --quiet -p supportdesk --bins
say "building the release server of $BEFORE"
git worktree add --quiet --detach "$EARLIER" "$BEFORE"
servers=()
trap 'stop "${servers[@]}"; git worktree remove --force "$EARLIER"' EXIT
CARGO_TARGET_DIR=$TARGET_DIR/write-cost-before \
    cargo build --release --quiet --manifest-path "$EARLIER/Cargo.toml" -p supportdesk --bins

printf 'build\tworkload\trps\tp50_ms\tp99_ms\trequests\terrors\n' >"$RESULTS"
declare -A address
port=18090
for build in before now; do
    binary=$([ "$build" = now ] && echo "$SERVER" || echo "$EARLIER_SERVER")
    database=supportdesk_write_cost_$build
    psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
        -c "CREATE DATABASE $database"
    say "$build: seeding $SCALE tickets"
    DATABASE_URL=$PG_URL/$database "$binary" seed --tickets "$SCALE" --users 1000 \
        --messages-per-ticket 3 2>"$OUT/seed-$build.log"
    port=$((port + 1))
    address[$build]=127.0.0.1:$port
    DATABASE_URL=$PG_URL/$database LISTEN_ADDR=${address[$build]} "$binary" serve \
        >"$OUT/server-$build.log" 2>&1 &
    servers+=($!)
    wait_for "${address[$build]}"
    # An admin's reply to each of 1,000 seeded tickets in turn: writers spread over rows.
    psql -X -q -A -t "$PG_URL/$database" \
        -c "SELECT id FROM tickets ORDER BY created_at LIMIT 1000" |
        while read -r ticket; do
            body_of "mutation { addTicketMessage(ticketId: \"$ticket\", body: \"The printer is fixed: please try again.\") { id } }"
        done >"$OUT/replies-$build.jsonl"
done

SERVER_ADDR=${address[now]}
writer=$(token bench-writer customer)
admin=$(token admin-0 admin)
W5='mutation { createTicket(input: { subject: "Printer jam", message: "The printer on floor 2 jams on every page." }) { id status createdAt } }'

measure() { # build, workload, then the environment wrk reads
    local line
    line=$(wrk_run "http://${address[$1]}/graphql" "$CONNECTIONS" "$DURATION")
    say "$1 $2: $line"
    printf '%s\t%s\t%s\n' "$1" "$2" "$(result_fields "$line")" >>"$RESULTS"
}

for build in before now; do
    SERVER_ADDR=${address[$build]} graphql "$writer" "$W5" >/dev/null
    TOKEN=$writer BODY=$(body_of "$W5") wrk_run "http://${address[$build]}/graphql" \
        "$CONNECTIONS" 2 >/dev/null
done
for _ in $(seq 1 "$ROUNDS"); do
    for build in before now; do
        TOKEN=$writer BODY=$(body_of "$W5") measure "$build" createTicket
    done
    for build in before now; do
        TOKEN=$admin BODIES=$OUT/replies-$build.jsonl measure "$build" addTicketMessage
    done
done

echo "| workload | before: requests/s (runs) | now: requests/s (runs) | now / before | p99 ms before / now |"
echo "|---|---|---|---:|---|"
for workload in createTicket addTicketMessage; do
    awk -F'\t' -v w="$workload" '
        $2 == w { rps[$1] = rps[$1] (rps[$1] ? "; " : "") sprintf("%.0f", $3); sum[$1] += $3; n[$1]++
                  p99[$1] = p99[$1] (p99[$1] ? ", " : "") $5 }
        END {
            printf "| %s | %s (mean %.0f) | %s (mean %.0f) | %.0f %% | %s / %s |\n", w,
                rps["before"], sum["before"] / n["before"], rps["now"], sum["now"] / n["now"],
                100 * (sum["now"] / n["now"]) / (sum["before"] / n["before"]), p99["before"], p99["now"]
        }' "$RESULTS"
done
