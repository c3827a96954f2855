#!/usr/bin/env bash
# Point 3 of the live-hardening issue (13), measured, from the repository root:
#
#     bash bench/live_flood.sh
#
# A release server with default settings on a fresh SQLite file (as the issue attacked it).
# mallory opens a ticket of 301 messages, then SOCKETS sockets of PER_SOCKET subscriptions
# each replaying its timeline from the first event, every event selecting
# `ticket { events(limit: 100) { ticket { messages { id } } } }`, and writes to it once a
# second (WRITES times). bob's `tickets(limit: 1)` with its total is timed, SAMPLES times in
# a row, before and during the flood; the server's CPU time, memory and the messages it read
# are printed. With BEFORE=<binary> (a build from before the hardening) the same runs on
# it over its own fresh database, for a comparison in one run.
#
# Settings: SOCKETS (50), PER_SOCKET (20), SAMPLES (200), WRITES (10), BEFORE (unset),
# BEFORE_SOCKETS (5),
# CARGO_TARGET_DIR (./target).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
ADDRESS=127.0.0.1:18090
METRICS=127.0.0.1:18091
WORK=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

export JWT_SECRET=supportdesk-bench-secret-not-for-production
export RUST_LOG=error

cargo build --release --quiet -p supportdesk -p supportdesk-bench --bins
SERVER=$TARGET_DIR/release/supportdesk

graphql() { # token, JSON body
    curl -sf "http://$ADDRESS/graphql" -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$2"
}

run() { # label, binary
    local database="$WORK/$1.db"
    # Seeding writes 300 messages at once: the rate limit is raised for it alone.
    DATABASE_URL="sqlite://$database?mode=rwc" LISTEN_ADDR=$ADDRESS METRICS_ADDR=$METRICS \
        MUTATION_RATE_LIMIT_BURST=100000 "$2" serve &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "http://$ADDRESS/readyz" >/dev/null && break; sleep 0.1; done
    local mallory bob ticket first
    mallory=$("$SERVER" token --sub mallory --role customer --ttl 86400)
    bob=$("$SERVER" token --sub bob --role customer --ttl 86400)
    graphql "$bob" '{"query":"mutation { createTicket(input: {subject: \"Mine\", message: \"Hello\"}) { id } }"}' >/dev/null
    ticket=$(graphql "$mallory" '{"query":"mutation { createTicket(input: {subject: \"Long\", message: \"1\"}) { id } }"}' \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createTicket"]["id"])')
    for n in $(seq 2 301); do
        graphql "$mallory" "{\"query\":\"mutation { addTicketMessage(ticketId: \\\"$ticket\\\", body: \\\"$n\\\") { id } }\"}" >/dev/null
    done
    first=$(graphql "$mallory" "{\"query\":\"{ ticket(id: \\\"$ticket\\\") { events(limit: 1) { id } } }\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["ticket"]["events"][0]["id"])')
    local read_before
    read_before=$(curl -sf "http://$METRICS/metrics" | awk '/^supportdesk_messages_read_total/ {print $2}')
    echo "== $1"
    SERVER=$ADDRESS SERVER_PID=$pid VICTIM_TOKEN=$bob ATTACKER_TOKEN=$mallory TICKET=$ticket \
        FIRST_EVENT=$first "$TARGET_DIR/release/live_flood"
    local read_after
    read_after=$(curl -sf "http://$METRICS/metrics" | awk '/^supportdesk_messages_read_total/ {print $2}')
    if [ -n "$read_after" ]; then
        echo "messages read during the run: $(( ${read_after%.*} - ${read_before:-0} ))"
    else
        echo "messages read during the run: not counted by this build"
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

run after "$SERVER"
if [ -n "${BEFORE:-}" ]; then
    # The old build admits every subscription: BEFORE_SOCKETS (5, the 100 the new build
    # admits) keeps its run to minutes.
    SOCKETS=${BEFORE_SOCKETS:-5} run before "$BEFORE"
fi
