#!/usr/bin/env bash
# Throughput of the profile endpoints, on SQLite and on PostgreSQL, with wrk.
#
# For each backend it starts a release server on a fresh database, creates one
# customer and a token, then measures, in this order, within one run:
#   health   GET /health            (routing + one trivial query: the baseline)
#   get      GET /api/client/v1/profile   (token verification + link lookup)
#   patch    PATCH /api/client/v1/profile over $CUSTOMERS customers
#            (verification + read + versioned write, fsync'd commit)
#   patch1   the same PATCH, every connection on one customer: the optimistic
#            retry loop under worst-case contention
# Machines here are small and noisy: compare the ratios within one run, not
# absolute numbers across runs. Results are written down in bench/RESULTS.md.
#
# Usage: bench/profile.sh            (DURATION=10s CONNECTIONS=16 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18080}
CUSTOMERS=${CUSTOMERS:-50}
PG_ADMIN_URL=${TIQUO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

command -v wrk >/dev/null || { echo "bench needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -q -p tiquo-edge
bin=target/release/tiquo-edge
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

base="http://127.0.0.1:$PORT"
# Requests per second; a run with any non-2xx answer is an error, not a result.
rate() {
    local out
    out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$@")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "bench: non-2xx answers for wrk $*" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}

measure() {
    local name=$1 dburl=$2 dir="$work/$1"
    mkdir -p "$dir"
    local flags=(--data-dir "$dir" --database-url "$dburl" --public-url "$base")
    RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$PORT" "${flags[@]}" 2>"$dir/log" &
    pid=$!
    for _ in $(seq 1 50); do curl -sf "$base/health" >/dev/null && break; sleep 0.2; done
    local tokens="$dir/tokens"
    for i in $(seq 1 "$CUSTOMERS"); do
        "$bin" customers create "${flags[@]}" --email "bench$i@example.com" --subject "bench$i" >/dev/null
        "$bin" token issue "${flags[@]}" --subject "bench$i" --ttl 3600 >>"$tokens"
    done
    local auth=(-H "Authorization: Bearer $(head -n 1 "$tokens")")
    local health get patch patch1
    health=$(rate "$base/health")
    get=$(rate "${auth[@]}" "$base/api/client/v1/profile")
    patch=$(TOKENS_FILE="$tokens" rate -s bench/patch.lua "$base/api/client/v1/profile")
    head -n 1 "$tokens" >"$dir/one-token"
    patch1=$(TOKENS_FILE="$dir/one-token" rate -s bench/patch.lua "$base/api/client/v1/profile")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    ratio() { echo "$1 / $health" | bc -l; }
    printf '%-8s health %8s | GET %8s (%.2f) | PATCH %8s (%.3f) | PATCH one customer %8s (%.3f)   req/s (ratio to health)\n' \
        "$name" "$health" "$get" "$(ratio "$get")" "$patch" "$(ratio "$patch")" "$patch1" "$(ratio "$patch1")"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m); wrk -t1 -c$CONNECTIONS -d$DURATION"
measure sqlite "sqlite://$work/sqlite/tiquo.db"
psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS tiquo_bench WITH (FORCE)" -c "CREATE DATABASE tiquo_bench" >/dev/null 2>&1
pg_url="${PG_ADMIN_URL%/*}/tiquo_bench"
measure postgres "$pg_url"
psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS tiquo_bench WITH (FORCE)" >/dev/null
