#!/usr/bin/env bash
# The cost of a write path: createTicket (W5) and addTicketMessage at 32 connections on
# PostgreSQL, for several builds in one run, in turns. One command, from the repository root:
#
#     bash bench/write_cost.sh
#
# BUILDS names the builds, the first being the one the others are compared to:
#   now        this working tree;
#   no-events  the last commit with `record_events` made to record nothing (issue 16's
#              "build that records no events");
#   <commit>   any commit (e.g. 373e35e^, the build before the search index, for issue 15).
# Each is built in release mode (in target/write-cost/<build>, but for now), its binary
# kept, and seeded into a fresh database (`seed --tickets SCALE`); then ROUNDS rounds of
# W5 on each build in turn (in reverse order every other round), then addTicketMessage on
# each (an admin's reply to each of 1,000 seeded tickets that are not closed, in turn),
# DURATION seconds each. Prints a Markdown table; everything is kept in
# bench/results/write-cost-<date-time>/.
#
# Settings (environment): BUILDS ("no-events now"), SCALE (10000), DURATION (8),
# ROUNDS (2), PG_URL (postgres://postgres@127.0.0.1:5432), CARGO_TARGET_DIR (./target).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a builds <<<"${BUILDS:-no-events now}"
SCALE=${SCALE:-10000}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
CONNECTIONS=32
OUT=bench/results/write-cost-$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT/results.tsv
SERVER=$TARGET_DIR/release/supportdesk

# shellcheck source=bench/lib.sh
source bench/lib.sh

mkdir -p "$OUT/bin"
servers=()
worktrees=()
cleanup() {
    stop "${servers[@]}"
    for tree in "${worktrees[@]}"; do git worktree remove --force "$tree"; done
}
trap cleanup EXIT

# Each build in a target directory of its own, seeded with this tree's release build (the
# dependencies are then not built again). Cargo fingerprints the workspace's crates without
# their path and checks the sources the fingerprints name: built from another tree (or
# after another tree was built here) they could count as fresh, so their fingerprints go
# first, and each build compiles its own.
build_into() { # name, manifest
    local dir=$TARGET_DIR/write-cost/$1
    if [ "$1" = now ]; then
        dir=$TARGET_DIR
    elif [ ! -d "$dir/release" ]; then
        mkdir -p "$dir"
        cp -a "$TARGET_DIR/release" "$dir/"
    fi
    rm -rf "$dir"/release/.fingerprint/{supportdesk,entity,migration}-*
    CARGO_TARGET_DIR=$dir cargo build --release --quiet --manifest-path "$2" -p supportdesk --bins
    cp "$dir/release/supportdesk" "$OUT/bin/$1"
}

say "building this release server"
build_into now Cargo.toml
for build in "${builds[@]}"; do
    [ "$build" = now ] && continue
    say "building the release server $build"
    tree=$(mktemp -d)/$build
    if [ "$build" = no-events ]; then
        git worktree add --quiet --detach "$tree" HEAD
        # The last commit's sources (commit first), record_events and record_events_with
        # recording nothing (the latter still inserting its other row); checked below.
        perl -0pi -e 's/(pub async fn record_events\([^{]*\{)/$1\n    if !events.is_empty() { return Ok(Vec::new()); }/;
            s/(pub async fn record_events_with\([^{]*\{)/$1\n    if !events.is_empty() { txn.execute(&insert).await?; return Ok(()); }/' \
            "$tree/src/store/events.rs"
        grep -cE 'return Ok\((Vec::new\(\)|\(\))\); \}' "$tree/src/store/events.rs" | grep -qx 2
    else
        git worktree add --quiet --detach "$tree" "$build"
    fi
    worktrees+=("$tree")
    build_into "$build" "$tree/Cargo.toml"
done
printf 'build\tworkload\trps\tp50_ms\tp99_ms\trequests\terrors\n' >"$RESULTS"
declare -A address
port=18090
for build in "${builds[@]}"; do
    binary=$OUT/bin/$build
    database=supportdesk_write_cost_${build//[^a-zA-Z0-9]/_}
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
    # Not to closed ones, which refuse it (FAILED_PRECONDITION) and would write nothing.
    psql -X -q -A -t "$PG_URL/$database" \
        -c "SELECT id FROM tickets WHERE status <> 'CLOSED' ORDER BY created_at LIMIT 1000" |
        while read -r ticket; do
            body_of "mutation { addTicketMessage(ticketId: \"$ticket\", body: \"The printer is fixed: please try again.\") { id } }"
        done >"$OUT/replies-$build.jsonl"
done

SERVER_ADDR=${address[${builds[0]}]}
writer=$(token bench-writer customer)
admin=$(token admin-0 admin)
W5='mutation { createTicket(input: { subject: "Printer jam", message: "The printer on floor 2 jams on every page." }) { id status createdAt } }'

measure() { # build, workload, then the environment wrk reads
    local line
    line=$(wrk_run "http://${address[$1]}/graphql" "$CONNECTIONS" "$DURATION")
    say "$1 $2: $line"
    printf '%s\t%s\t%s\n' "$1" "$2" "$(result_fields "$line")" >>"$RESULTS"
}

for build in "${builds[@]}"; do
    SERVER_ADDR=${address[$build]} graphql "$writer" "$W5" >/dev/null
    TOKEN=$writer BODY=$(body_of "$W5") wrk_run "http://${address[$build]}/graphql" \
        "$CONNECTIONS" 2 >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
    # Every other round in reverse order, so that no build always runs right after
    # another's writes (and the autovacuum or checkpoint they set off).
    order=("${builds[@]}")
    if ((round % 2 == 0)); then
        mapfile -t order < <(printf '%s\n' "${builds[@]}" | tac)
    fi
    for build in "${order[@]}"; do
        TOKEN=$writer BODY=$(body_of "$W5") measure "$build" createTicket
    done
    for build in "${order[@]}"; do
        TOKEN=$admin BODIES=$OUT/replies-$build.jsonl measure "$build" addTicketMessage
    done
done

echo "| workload | build | requests/s (runs) | against ${builds[0]} | p99 ms (runs) |"
echo "|---|---|---|---:|---|"
for workload in createTicket addTicketMessage; do
    awk -F'\t' -v w="$workload" -v base="${builds[0]}" -v order="${builds[*]}" '
        $2 == w { rps[$1] = rps[$1] (rps[$1] ? "; " : "") sprintf("%.0f", $3); sum[$1] += $3; n[$1]++
                  p99[$1] = p99[$1] (p99[$1] ? ", " : "") $5 }
        END {
            count = split(order, names, " ")
            for (i = 1; i <= count; i++) {
                b = names[i]
                printf "| %s | %s | %s (mean %.0f) | %.0f %% | %s |\n", w, b, rps[b], sum[b] / n[b],
                    100 * (sum[b] / n[b]) / (sum[base] / n[base]), p99[b]
            }
        }' "$RESULTS"
done

# Whether each build recorded events as it should: what it wrote beyond the seed.
for build in "${builds[@]}"; do
    database=supportdesk_write_cost_${build//[^a-zA-Z0-9]/_}
    recorded=$(psql -X -q -A -t "$PG_URL/$database" -c \
        "SELECT count(*) - $SCALE * 3 FROM ticket_events")
    echo "$build recorded $recorded events during the run"
done
