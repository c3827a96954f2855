#!/usr/bin/env bash
# The server's own work for one addTicketMessage, in instructions counted by callgrind:
# unlike requests a second, a count does not move with the noise of a shared machine, so
# it tells a few percent of the server's cost apart. Runs on what bench/write_cost.sh
# left: its builds' binaries, databases and replies. From the repository root:
#
#     bash bench/instructions.sh bench/results/write-cost-<date-time>
#
# For each build: its server under callgrind on its database, WARMUP replies, then the
# count zeroed and REPLIES more replies, one at a time. Prints, per reply, the
# instructions of the whole server and those under `record_events_with` (the statement of
# the message and its events); the counts stay in the results directory.
#
# Settings (environment): BUILDS (the binaries there), REPLIES (200), WARMUP (50),
# PG_URL (postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=${1:?usage: bench/instructions.sh bench/results/write-cost-<date-time>}
REPLIES=${REPLIES:-200}
WARMUP=${WARMUP:-50}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
ADDRESS=127.0.0.1:18190
read -r -a builds <<<"${BUILDS:-$(ls "$RESULTS/bin" | tr '\n' ' ')}"

# shellcheck source=bench/lib.sh
source bench/lib.sh

if ! command -v valgrind >/dev/null; then
    say "installing valgrind"
    apt-get install -y valgrind >/dev/null
fi

reply() { # token, body
    curl -sS -o /dev/null -w '%{http_code}\n' "http://$ADDRESS/graphql" \
        -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$2" |
        grep -qx 200
}

server=
trap 'stop $server' EXIT

echo "| build | instructions a reply | under record_events_with |"
echo "|---|---:|---:|"
for build in "${builds[@]}"; do
    SERVER=$RESULTS/bin/$build
    out=$RESULTS/callgrind-$build
    DATABASE_URL=$PG_URL/supportdesk_write_cost_${build//[^a-zA-Z0-9]/_} LISTEN_ADDR=$ADDRESS \
        valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$SERVER" serve \
        >"$out.log" 2>&1 &
    server=$!
    # Under callgrind the server takes seconds to start.
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDRESS/readyz")" = 200 ] && break
        sleep 0.2
    done
    admin=$(token admin-0 admin)
    mapfile -t bodies < <(head -n $((WARMUP + REPLIES)) "$RESULTS/replies-$build.jsonl")
    for body in "${bodies[@]:0:WARMUP}"; do reply "$admin" "$body"; done
    callgrind_control -z "$server" >/dev/null 2>&1
    for body in "${bodies[@]:WARMUP}"; do reply "$admin" "$body"; done
    callgrind_control -d "$server" >/dev/null 2>&1
    counted=$out.$server.1
    # The dump is written after the command returns.
    for _ in $(seq 1 100); do
        grep -q '^totals:' "$counted" 2>/dev/null && break
        sleep 0.2
    done
    stop "$server"
    total=$(awk '/^summary:/ { print $2 }' "$counted")
    events=$(callgrind_annotate --inclusive=yes "$counted" |
        awk '/record_events_with::\{\{closure\}\} / && !found { gsub(",", "", $1); print $1; found = 1 }')
    echo "| $build | $((total / REPLIES)) | $((${events:-0} / REPLIES)) |"
done
