#!/usr/bin/env bash
# CI: the typed example client (examples/web-client). Its documents are typed from the
# current schema.graphql, so a schema change that breaks them fails the typecheck; then it
# walks through a ticket against a live server, subscription included.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "== web client SKIPPED: node not found"
    exit 0
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "== web client SKIPPED: node $(node --version) is older than 20"
    exit 0
fi

echo "== web client: npm ci, typecheck (node $(node --version))"
cd examples/web-client
# Errors only: on Node 20 npm warns that some of the code generator's dependencies ask for
# Node 22; they run on 20, as the typecheck and the run below show.
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
cd ../..

echo "== web client: against a live server"
source .ci/live-server.sh
start_live_server
SUPPORTDESK_TOKEN="$(live_token ci-customer customer)" \
    SUPPORTDESK_ADMIN_TOKEN="$(live_token ci-admin admin)" \
    npm --prefix examples/web-client run --silent start
