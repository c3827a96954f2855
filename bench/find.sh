#!/usr/bin/env bash
# issue 15's speed: queue filters, full-text search and cursor pages on PostgreSQL at
# 1,000,000 tickets. One command, from the repository root:
#
#     bash bench/find.sh
#
# Builds the release server; seeds the database (`supportdesk seed --tickets SCALE --users
# max(1000, SCALE/100) --messages-per-ticket 3`) unless it already holds SCALE tickets;
# then
#   1. the plans: with auto_explain loaded in the server's own sessions (ALTER DATABASE …
#      SET session_preload_libraries, log_min_duration 0, log_analyze), runs each case
#      twice and keeps the second run's EXPLAIN ANALYZE of every statement it sent, as
#      PostgreSQL logged them with the bound values (PG_LOG); the setting is reset after;
#   2. the latency: a fresh server, each case warmed up (2 s), then ROUNDS rounds of every
#      case in turn with wrk (bench/wrk/workload.lua), CONNECTIONS (8) connections,
#      DURATION seconds each.
# Prints a Markdown summary; everything is kept in bench/results/find-<date-time>/
# (results.tsv, plans.md, seed and server logs). The database is kept for the next run:
# drop it with `psql postgres://postgres@127.0.0.1:5432/postgres -c 'DROP DATABASE
# supportdesk_find_bench'`.
#
# Settings (environment): SCALE (1000000), DURATION (8), ROUNDS (2), CONNECTIONS (8),
# PG_URL (postgres://postgres@127.0.0.1:5432), DATABASE (supportdesk_find_bench),
# PG_LOG (the cluster's log file), CARGO_TARGET_DIR (./target).
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-1000000}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-8}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DATABASE=${DATABASE:-supportdesk_find_bench}
PG_LOG=${PG_LOG:-/var/log/postgresql/postgresql-$(ls /etc/postgresql | tail -1)-main.log}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
TARGET_P99_MS=50
SERVER_ADDR=127.0.0.1:18080
OUT=bench/results/find-$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT/results.tsv
PLANS=$OUT/plans.md
SERVER=$TARGET_DIR/release/supportdesk
export DATABASE_URL=$PG_URL/$DATABASE

# shellcheck source=bench/lib.sh
source bench/lib.sh

q() { psql -X -q -A -t "$DATABASE_URL" -c "$1"; }

say "building the release server"
cargo build --release --quiet -p supportdesk --bins
mkdir -p "$OUT"

users=$((SCALE / 100 > 1000 ? SCALE / 100 : 1000))
if [ "$(q 'SELECT COUNT(*) FROM tickets' 2>/dev/null || true)" != "$SCALE" ]; then
    say "seeding $DATABASE: $SCALE tickets, $users users, 3 messages a ticket"
    psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" \
        -c "CREATE DATABASE $DATABASE"
    started=$(date +%s.%N)
    # The seed's search-index rebuild is one UPDATE of every ticket: minutes at 1,000,000
    # (it lifts the statement timeout for its own transaction).
    "$SERVER" seed --tickets "$SCALE" --users "$users" \
        --messages-per-ticket 3 2>"$OUT/seed.log"
    say "seeded in $(echo "$(date +%s.%N) - $started" | bc) s"
    # The seed's bulk inserts leave the visibility map empty until autovacuum comes by:
    # vacuum now, so every run reads the tables in the same state.
    q 'VACUUM (ANALYZE) tickets, ticket_messages, ticket_tags, ticket_counts'
else
    say "$DATABASE already holds $SCALE tickets"
fi
# Migrations a build added since the seed run here, not in the first server's start.
"$SERVER" migrate 2>"$OUT/migrate.log"

server=''
trap 'stop $server; q "ALTER DATABASE $DATABASE RESET ALL" >/dev/null 2>&1 || true' EXIT
start_server() { # log file
    LISTEN_ADDR=$SERVER_ADDR "$SERVER" serve >"$1" 2>&1 &
    server=$!
    wait_for "$SERVER_ADDR"
    until curl -sf "http://$SERVER_ADDR/readyz" >/dev/null; do sleep 0.1; done
}

admin=$(token admin-0 admin)
# customer-0 is one of the seed's heavy users (about 2,000 tickets at 1,000,000).
customer=$(token customer-0 customer)
ITEMS='items { id subject status priority assigneeId createdAt } pagination { total }'
NODES='totalCount nodes { id subject status priority assigneeId createdAt } pageInfo { hasNextPage endCursor }'
CONNECTION_ARGS='status: OPEN, first: 10'

# name|who|document. The search words come from the seed (src/seed.rs): one ticket in
# eight has the subject "Refund request" (a common word), a subject or message names its
# ticket's number, so "ticket 424242" is a phrase only that ticket holds (a rare one),
# and one in eight has the subject "Invoice is wrong".
cases() {
    cat <<EOF
queue-agent|$admin|{ tickets(status: OPEN, assigneeId: "agent-01", order: PRIORITY) { $ITEMS } }
queue-unassigned|$admin|{ tickets(status: OPEN, unassigned: true, order: PRIORITY) { $ITEMS } }
tag-billing-open|$admin|{ tickets(tags: ["billing"], status: OPEN) { $ITEMS } }
urgent-updated|$admin|{ tickets(priority: URGENT, order: RECENTLY_UPDATED) { $ITEMS } }
search-common|$admin|{ tickets(search: "refund") { $ITEMS } }
search-rare-phrase|$admin|{ tickets(search: "\\"ticket 424242\\"") { $ITEMS } }
search-customer|$customer|{ tickets(search: "invoice") { $ITEMS } }
connection-first|$admin|{ ticketsConnection($CONNECTION_ARGS) { $NODES } }
connection-50th|$admin|{ ticketsConnection($CONNECTION_ARGS, after: "$cursor49") { $NODES } }
EOF
}

# The cursor that ends the 49th page of the connection: its 50th page comes after it.
walk_cursor() {
    local after='' page
    for _ in $(seq 1 49); do
        page=$(graphql "$admin" "{ ticketsConnection($CONNECTION_ARGS$after) { pageInfo { endCursor } } }")
        after=", after: \"$(jq -r .data.ticketsConnection.pageInfo.endCursor <<<"$page")\""
    done
    sed -E 's/^, after: "(.*)"$/\1/' <<<"$after"
}

# The entries auto_explain wrote for this database in the log from byte $1 on: each plan
# with its statement and bound values, the log prefix cut off.
logged_plans() { # offset
    tail -c +"$(($1 + 1))" "$PG_LOG" | awk -v db="@$DATABASE " '
        /^[0-9]{4}-[0-9]{2}-[0-9]{2} / { keep = index($0, db) > 0 && index($0, "plan:") > 0
            if (keep) { sub(/^.*LOG: +/, ""); print "" } }
        keep { print }'
}

say "plans: auto_explain in the server's sessions"
for setting in "session_preload_libraries = 'auto_explain'" "auto_explain.log_min_duration = 0" \
    "auto_explain.log_analyze = on"; do
    q "ALTER DATABASE $DATABASE SET $setting"
done
start_server "$OUT/server-plans.log"
cursor49=$(walk_cursor)
printf '## Plans: postgres, %s tickets, %s messages\n\n' \
    "$(q 'SELECT COUNT(*) FROM tickets')" "$(q 'SELECT COUNT(*) FROM ticket_messages')" >"$PLANS"
while IFS='|' read -r name who query; do
    graphql "$who" "$query" >/dev/null
    offset=$(stat -c %s "$PG_LOG")
    answer=$(graphql "$who" "$query")
    sleep 0.5
    {
        printf '### %s\n\n`%s`\n\nAnswer: %s\n\n```\n' "$name" "$query" \
            "$(jq -c '.data[] | {total: (.pagination.total // .totalCount), first: ((.items // .nodes)[0].id)}' <<<"$answer")"
        logged_plans "$offset"
        printf '```\n\n'
    } >>"$PLANS"
done < <(cases)
stop "$server"
q "ALTER DATABASE $DATABASE RESET ALL"
if grep -nE 'Seq Scan on (tickets|ticket_messages)' "$PLANS"; then
    say "a plan scans tickets or ticket_messages sequentially (above)"
fi

say "latency: $CONNECTIONS connections, $DURATION s a case, $ROUNDS rounds"
start_server "$OUT/server.log"
printf 'case\tround\trps\tp50_ms\tp99_ms\trequests\terrors\n' >"$RESULTS"
while IFS='|' read -r name who query; do
    TOKEN=$who BODY=$(body_of "$query") wrk_run "http://$SERVER_ADDR/graphql" "$CONNECTIONS" 2 >/dev/null
done < <(cases)
for round in $(seq 1 "$ROUNDS"); do
    while IFS='|' read -r name who query; do
        line=$(TOKEN=$who BODY=$(body_of "$query") wrk_run "http://$SERVER_ADDR/graphql" "$CONNECTIONS" "$DURATION")
        say "$name ($round): $line"
        printf '%s\t%s\t%s\n' "$name" "$round" "$(result_fields "$line")" >>"$RESULTS"
    done < <(cases)
done
stop "$server"
server=''

# Means over the rounds.
{
    printf 'PostgreSQL, %s tickets, %s connections, %s s × %s rounds a case (%s)\n\n' \
        "$SCALE" "$CONNECTIONS" "$DURATION" "$ROUNDS" "$OUT"
    echo '| case | requests/s | p50 ms | p99 ms | target p99 | met? | errors |'
    echo '|---|---:|---:|---:|---:|---|---:|'
    awk -F'\t' -v target="$TARGET_P99_MS" '
        NR == 1 { next }
        !($1 in n) { names[++count] = $1 }
        { n[$1]++; rps[$1] += $3; p50[$1] += $4; p99[$1] += $5; errors[$1] += $7 }
        END {
            for (i = 1; i <= count; i++) {
                c = names[i]; p = p99[c] / n[c]
                printf "| %s | %.0f | %.2f | %.2f | < %d ms | %s | %d |\n", c, rps[c] / n[c],
                    p50[c] / n[c], p, target, (p < target ? "yes" : "**no**"), errors[c]
            }
        }' "$RESULTS"
} | tee "$OUT/summary.md"
