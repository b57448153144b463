#!/usr/bin/env bash
# Throughput of the profile endpoints, on SQLite and on PostgreSQL, with wrk.
#
# For each backend it starts a release server on a fresh database, creates one
# customer and a token, then measures, in this order, within one run:
#   health   GET /health            (routing + one trivial query: the baseline)
#   get      GET /api/client/v1/profile   (token verification + link lookup)
#   patch    PATCH /api/client/v1/profile (verification + read + versioned write)
# Machines here are small and noisy: compare the ratios within one run, not
# absolute numbers across runs. Results are written down in bench/RESULTS.md.
#
# Usage: bench/profile.sh            (DURATION=10s CONNECTIONS=16 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18080}
PG_ADMIN_URL=${TIQUO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

command -v wrk >/dev/null || { echo "bench needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -q -p tiquo-edge
bin=target/release/tiquo-edge
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

base="http://127.0.0.1:$PORT"
rate() { wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$@" | awk '/Requests\/sec/ {print $2}'; }

measure() {
    local name=$1 dburl=$2 dir="$work/$1"
    mkdir -p "$dir"
    local flags=(--data-dir "$dir" --database-url "$dburl" --public-url "$base")
    RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$PORT" "${flags[@]}" 2>"$dir/log" &
    pid=$!
    for _ in $(seq 1 50); do curl -sf "$base/health" >/dev/null && break; sleep 0.2; done
    "$bin" customers create "${flags[@]}" --email bench@example.com --subject bench >/dev/null
    local token
    token=$("$bin" token issue "${flags[@]}" --subject bench --ttl 3600)
    local auth=(-H "Authorization: Bearer $token")
    local health get patch
    health=$(rate "$base/health")
    get=$(rate "${auth[@]}" "$base/api/client/v1/profile")
    patch=$(rate "${auth[@]}" -s bench/patch.lua "$base/api/client/v1/profile")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    printf '%-9s health %9s req/s | GET /profile %9s req/s (%.2f of health) | PATCH /profile %9s req/s (%.2f of health)\n' \
        "$name" "$health" "$get" "$(echo "$get / $health" | bc -l)" "$patch" "$(echo "$patch / $health" | bc -l)"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m); wrk -t1 -c$CONNECTIONS -d$DURATION"
measure sqlite "sqlite://$work/sqlite/tiquo.db"
psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS tiquo_bench WITH (FORCE)" -c "CREATE DATABASE tiquo_bench" >/dev/null
pg_url="${PG_ADMIN_URL%/*}/tiquo_bench"
measure postgres "$pg_url"
psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS tiquo_bench WITH (FORCE)" >/dev/null
