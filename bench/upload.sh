#!/usr/bin/env bash
# Server memory per photo upload, on file:// or on S3 storage, with curl.
#
# The README says a file:// upload is taken in 64 KiB parts (memory per upload
# stays small whatever the size) and an S3 upload is one part held in memory
# (up to 5 MiB per upload in flight). This measures it. One run:
#   warm-up    $WARMUP full three-step uploads (upload URL, upload, attach)
#   oversized  one 200 MiB body without Content-Length (chunked): expect 413;
#              MiB curl got to send, VmRSS before and peak. Before the parallel
#              step, whose freed memory the allocator keeps and would lend it
#   baseline   server VmRSS now
#   parallel   $UPLOADS uploads of a 4.5 MiB JPEG at once, each client throttled
#              to $RATE/s so they all overlap in the server for a few seconds;
#              VmRSS sampled every 50 ms, the peak kept, VmHWM (reset before
#              the step) read after; (peak - baseline) / $UPLOADS per upload
# Client and server share the machine; results go in bench/RESULTS.md.
#
# Usage: bench/upload.sh [file|s3]   (UPLOADS=32 RATE=2M WARMUP=3 SIZE=4718592
#        by default; TIQUO_BIN=path/to/tiquo-edge runs that binary instead of
#        target/release/tiquo-edge, which is built only when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

STORAGE=${1:-file}
UPLOADS=${UPLOADS:-32}
RATE=${RATE:-2M}
WARMUP=${WARMUP:-3}
SIZE=${SIZE:-$((4608 * 1024))} # 4.5 MiB: under the 5 MiB limit, so S3 takes it as one part
die() { # and, when the server died, how and what it last logged
    echo "bench: $*" >&2
    if [ -n "${pid:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
        local status=0; wait "$pid" 2>/dev/null || status=$?; pid=
        echo "bench: the server is gone (exit status $status); its log ends:" >&2; tail -n 20 "$work/log" >&2
    fi; exit 1
}
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

bin=${TIQUO_BIN:-target/release/tiquo-edge}
if [ -z "${TIQUO_BIN:-}" ] && [ ! -x "$bin" ]; then cargo build --release --locked -q -p tiquo-edge; fi
[ -x "$bin" ] || die "no server binary at $bin"
for tool in curl jq bc; do command -v $tool >/dev/null || die "needs $tool"; done

case "$STORAGE" in
file) storage_url= ;;
s3)
    export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:9555} AWS_REGION=${AWS_REGION:-us-east-1}
    export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
    scripts/ensure-moto >&2 || die "no S3 server at $AWS_ENDPOINT_URL"
    storage_url="s3://${TIQUO_TEST_S3_BUCKET:-tiquo-test}/bench-$$-$RANDOM" ;; # own prefix: tests untouched
*) die "usage: bench/upload.sh [file|s3]" ;;
esac

work=$(mktemp -d)
pid=
flags=(--data-dir "$work/data" ${storage_url:+--storage-url "$storage_url"})
cleanup() {
    set +e # everything here is best effort; the temp dir goes in any case
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    # Unattached uploads are orphans; gc deletes them once a second old (the
    # least --orphan-ttl takes), so moto's bucket, kept in memory, stays small.
    if [ -n "$storage_url" ] && [ -n "${listen:-}" ]; then
        sleep 1
        "$bin" gc "${flags[@]}" --listen "$listen" --orphan-ttl 1 >/dev/null 2>"$work/gc.log" ||
            { echo "bench: could not delete the uploads under $storage_url:" >&2; cat "$work/gc.log" >&2; }
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Port 0 picks a free port; the log says which, and the admin commands need it
# (with --listen) so the tokens they sign carry the server's issuer.
RUST_LOG=info "$bin" serve --listen 127.0.0.1:0 "${flags[@]}" 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do
    listen=$(grep -o 'listen=[0-9.:]*' "$work/log" | head -n 1 | cut -d= -f2) && [ -n "$listen" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; die "the server did not start"; }
    sleep 0.1
done
[ -n "$listen" ] || die "the server did not say where it listens; see its log above"
base="http://$listen/api/client/v1"
"$bin" customers create "${flags[@]}" --listen "$listen" --email bench@example.com --subject bench >/dev/null
auth="Authorization: Bearer $("$bin" token issue "${flags[@]}" --listen "$listen" --subject bench)"

# A JPEG by its first bytes (FF D8 FF E0), random after that.
{ printf '\xff\xd8\xff\xe0'; head -c $((SIZE - 4)) /dev/urandom; } >"$work/photo.jpg"

rss() { local k v _; while read -r k v _; do [ "$k" = "$1:" ] && echo "$v" && return; done </proc/"$pid"/status; }
# Samples VmRSS (kB) every 50 ms into $1 until killed.
sample() { while kill -0 "$pid" 2>/dev/null; do rss VmRSS; sleep 0.05; done >"$1"; }
peak() { sort -n "$1" | tail -n 1; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
upload_url() {
    curl -sS --fail-with-body -X POST -H "$auth" -H 'Content-Type: application/json' -d '{}' \
        "$base/profile/photo-upload-url" | jq -er .data.uploadUrl || die "no upload URL"
}
# POSTs the photo to URL $1 (curl streams it, with Content-Length) at $RATE/s.
send() {
    curl -sS --fail-with-body --limit-rate "$RATE" -X POST -H 'Content-Type: image/jpeg' \
        -T "$work/photo.jpg" "$1" | jq -er .data.storageId
}
export -f send; export RATE work

# 1. Warm-up: the full three steps, unthrottled.
for _ in $(seq 1 "$WARMUP"); do
    id=$(RATE=0 send "$(upload_url)") || die "warm-up upload failed"
    curl -sS --fail-with-body -X POST -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"storageId\":\"$id\"}" "$base/profile/photo" >/dev/null || die "attaching $id failed"
done

# 2. 200 MiB of "JPEG" without Content-Length: refused once 5 MiB have arrived.
# Sent at 20 MiB/s so the 50 ms sampler sees it; VmHWM, reset first (Linux
# >= 4.0), catches a peak between samples. curl says how much it got to send.
# No "Expect: 100-continue" (curl's default here): with it the server skips
# its drain and closes on a client that is sending, and curl at times never
# sees the 413 (here: 1 run in about 30 at this rate, 2 in 10 unthrottled).
big_url=$(upload_url)
big_before=$(rss VmRSS)
echo 5 >/proc/"$pid"/clear_refs
sample "$work/rss-big" & sampler=$!
read -r code sent < <({ printf '\xff\xd8\xff\xe0'; head -c 200M /dev/zero; } | curl -s -o "$work/big" \
    -w '%{http_code} %{size_upload}\n' --limit-rate 20M -X POST -H 'Content-Type: image/jpeg' \
    -H 'Transfer-Encoding: chunked' -H 'Expect:' -T - "$big_url" || true)
sleep 0.3; stop "$sampler"
case "$code" in
413) ;;
000) echo "bench: the oversized upload got no answer (connection reset after $sent bytes)" >&2 ;;
*) die "oversized upload answered '$code', not 413: $(cat "$work/big" 2>/dev/null)" ;;
esac
big_peak=$( (peak "$work/rss-big"; rss VmHWM) | sort -n | tail -n 1)
sleep 0.5; baseline=$(rss VmRSS)

# 3. $UPLOADS uploads at once, each on its own single-use URL.
for _ in $(seq 1 "$UPLOADS"); do upload_url; done >"$work/urls"
echo 5 >/proc/"$pid"/clear_refs
sample "$work/rss" & sampler=$!
start=$(date +%s.%N)
xargs -P "$UPLOADS" -n 1 bash -o pipefail -c 'send "$0"' <"$work/urls" >"$work/ids" || die "a parallel upload failed"
wall=$(echo "$(date +%s.%N) - $start" | bc -l)
stop "$sampler"
[ "$(sort -u "$work/ids" | wc -l)" -eq "$UPLOADS" ] || die "expected $UPLOADS storage ids"
par_peak=$(peak "$work/rss") hwm=$(rss VmHWM)

curl -sS --fail-with-body -X DELETE -H "$auth" "$base/profile/photo" >/dev/null || die "removing the photo failed"

mib() { echo "scale=1; $1 / 1024" | bc; }
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d' ' -f3-)), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
    "$UPLOADS uploads of $SIZE bytes, each client at $RATE/s"
printf '%-8s %7s %8s %9s %7s %12s %13s %12s %13s %30s\n' storage uploads "wall s" uploads/s MB/s \
    "base MiB" "peak MiB" "HWM MiB" "per upl. KiB" "413: MiB sent, RSS before>peak"
printf '%-8s %7d %8.2f %9.1f %7.1f %12s %13s %12s %13d %30s\n' "$STORAGE" "$UPLOADS" "$wall" \
    "$(echo "$UPLOADS / $wall" | bc -l)" "$(echo "$UPLOADS * $SIZE / $wall / 1000000" | bc -l)" \
    "$(mib "$baseline")" "$(mib "$par_peak")" "$(mib "$hwm")" "$(((par_peak - baseline) / UPLOADS))" "$(echo "scale=1; $sent / 1048576" | bc), $(mib "$big_before")>$(mib "$big_peak")"
