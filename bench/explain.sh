#!/usr/bin/env bash
# Query plans of every ticket-list shape, of the messages of a page, of one ticket with its
# messages and of the total:
#     bash bench/explain.sh sqlite bench/data/bench-1000000.db
#     bash bench/explain.sh postgres postgres://postgres@127.0.0.1:5432/supportdesk_bench_1000000
# The SQL is what supportdesk's store sends (SeaORM's statements, with the bound values
# written in): `LIMIT 20 OFFSET 0`, NEWEST_FIRST and OLDEST_FIRST. SQLite answers
# EXPLAIN QUERY PLAN, PostgreSQL EXPLAIN ANALYZE.
set -euo pipefail

KIND=$1
TARGET=$2

if [ "$KIND" = sqlite ]; then
    q() { sqlite3 "$TARGET" "$1"; }
    explain() { sqlite3 "$TARGET" "EXPLAIN QUERY PLAN $1"; }
    ID_LIST="SELECT group_concat(quote(id), ', ') FROM"
else
    q() { psql -X -q -A -t "$TARGET" -c "$1"; }
    explain() { psql -X -q -A -t "$TARGET" -c "EXPLAIN ANALYZE $1"; }
    ID_LIST="SELECT string_agg(quote_literal(id::text), ', ') FROM"
fi

TICKET_COLUMNS='"tickets"."id", "tickets"."user_id", "tickets"."subject", "tickets"."status", "tickets"."created_at", "tickets"."updated_at"'
MESSAGE_COLUMNS='"ticket_messages"."id", "ticket_messages"."ticket_id", "ticket_messages"."author_id", "ticket_messages"."author_role", "ticket_messages"."body", "ticket_messages"."internal", "ticket_messages"."created_at"'

show() { # title, SQL
    printf '### %s\n\n```sql\n%s\n```\n\n```\n%s\n```\n\n' "$1" "$2" "$(explain "$2")"
}

list() { # WHERE clause (or empty), ASC|DESC
    local where=${1:+ WHERE $1}
    echo "SELECT $TICKET_COLUMNS FROM \"tickets\"$where ORDER BY \"tickets\".\"created_at\" $2, \"tickets\".\"id\" $2 LIMIT 20 OFFSET 0"
}

HEAVY="customer-0"
LIGHT="customer-4242"
echo "## Plans: $KIND, $(q 'SELECT COUNT(*) FROM tickets') tickets, $(q 'SELECT COUNT(*) FROM ticket_messages') messages"
echo
for order in DESC ASC; do
    name=$([ $order = DESC ] && echo NEWEST_FIRST || echo OLDEST_FIRST)
    show "customer's own ($HEAVY, a heavy user), $name" "$(list "\"tickets\".\"user_id\" = '$HEAVY'" $order)"
    show "admin, all tickets, $name" "$(list "" $order)"
    show "admin, by status (OPEN), $name" "$(list "\"tickets\".\"status\" = 'OPEN'" $order)"
    show "admin, by user ($LIGHT), $name" "$(list "\"tickets\".\"user_id\" = '$LIGHT'" $order)"
    show "admin, by user and status ($HEAVY, OPEN), $name" \
        "$(list "\"tickets\".\"user_id\" = '$HEAVY' AND \"tickets\".\"status\" = 'OPEN'" $order)"
done

# The messages of the newest page of OPEN tickets, as W3 loads them.
ids=$(q "$ID_LIST (SELECT id FROM tickets WHERE status = 'OPEN' ORDER BY created_at DESC, id DESC LIMIT 20) AS page")
show "messages of a page of 20 tickets (admin: internal notes included)" \
    "SELECT $MESSAGE_COLUMNS FROM \"ticket_messages\" WHERE \"ticket_messages\".\"ticket_id\" IN ($ids) ORDER BY \"ticket_messages\".\"ticket_id\" ASC, \"ticket_messages\".\"created_at\" ASC, \"ticket_messages\".\"id\" ASC"
show "messages of a page of 20 tickets (customer: no internal notes)" \
    "SELECT $MESSAGE_COLUMNS FROM \"ticket_messages\" WHERE \"ticket_messages\".\"ticket_id\" IN ($ids) AND \"ticket_messages\".\"internal\" = FALSE ORDER BY \"ticket_messages\".\"ticket_id\" ASC, \"ticket_messages\".\"created_at\" ASC, \"ticket_messages\".\"id\" ASC"

# One ticket with its history in one statement, as W4 reads it (a customer: no internal notes).
one=$(q "$ID_LIST (SELECT id FROM tickets WHERE user_id = '$HEAVY' ORDER BY created_at DESC, id DESC LIMIT 1) AS one")
TICKET_A=$(sed -E 's/"tickets"\."([a-z_]+)"/"tickets"."\1" AS "A_\1"/g' <<<"$TICKET_COLUMNS")
MESSAGE_B=$(sed -E 's/"ticket_messages"\."([a-z_]+)"/"ticket_messages"."\1" AS "B_\1"/g' <<<"$MESSAGE_COLUMNS")
show "a ticket with its messages (customer: no internal notes)" \
    "SELECT $TICKET_A, $MESSAGE_B FROM \"tickets\" LEFT JOIN \"ticket_messages\" ON \"tickets\".\"id\" = \"ticket_messages\".\"ticket_id\" AND \"ticket_messages\".\"internal\" = FALSE WHERE \"tickets\".\"id\" = $one ORDER BY \"tickets\".\"id\" ASC, \"ticket_messages\".\"created_at\" ASC, \"ticket_messages\".\"id\" ASC"

show "total of a list (admin, OPEN)" \
    "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS \"total\" FROM \"ticket_counts\" WHERE \"ticket_counts\".\"user_id\" = '' AND \"ticket_counts\".\"status\" = 'OPEN' LIMIT 1"
show "total of a list (customer's own, any status)" \
    "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS \"total\" FROM \"ticket_counts\" WHERE \"ticket_counts\".\"user_id\" = '$HEAVY' LIMIT 1"
