#!/usr/bin/env bash
# End-to-end: the lazysnap CLI with snapshots behind a URL, as a user runs it: push to an
# HTTP server (nginx with WebDAV PUT, started here on loopback), then restore, inspect,
# verify and extract from the URL; a missing object fails with the HTTP status.
set -uo pipefail

source "$(dirname "$0")/cli_test_lib.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ ! -x "$NGINX" ]]; then
  echo "skipped: nginx is not installed (tools/bazel installs nginx-light)"
  exit 0
fi

# nginx on a free port, serving $WORK/www and accepting PUT there.
mkdir -p "$WORK/www" "$WORK/nginx"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
user root root;
error_log $WORK/nginx/error.log;
pid $WORK/nginx/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi; uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$PORT;
    root $WORK/www;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
NGINX_PID=$!
trap 'kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null' EXIT
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break
  sleep 0.05
done
URL="http://127.0.0.1:$PORT/snaps/vm.lzs"

# An 8 MiB image of text, zeros and random bytes.
python3 - "$WORK/image.raw" <<'PY'
import random, sys
random.seed(3)
chunk = 32768
text = (b"remote snapshots restore lazily " * 2048)[:chunk]
parts = []
for i in range(256):
    k = i % 4
    parts.append(text if k == 0 else bytes(chunk) if k == 1 else random.randbytes(chunk) if k == 2
                 else bytes([i]) * 64 + text[64:])
open(sys.argv[1], "wb").write(b"".join(parts))
PY
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/vm.lzs" --threads 2

# --- push, then everything from the URL --------------------------------------------------
expect_exit 0 "$LAZYSNAP" push "$WORK/vm.lzs" "$URL"
expect_in "$WORK/out" "$URL"
cmp -s "$WORK/vm.lzs" "$WORK/www/snaps/vm.lzs" || fail "push did not upload the snapshot byte for byte"

expect_exit 0 "$LAZYSNAP" inspect "$URL"
expect_in "$WORK/out" "$URL"
expect_in "$WORK/out" "8.00 MiB"

expect_exit 0 "$LAZYSNAP" verify "$URL"
expect_in "$WORK/out" "sound"

expect_exit 0 "$LAZYSNAP" extract "$URL" -o "$WORK/extracted.raw"
cmp -s "$WORK/image.raw" "$WORK/extracted.raw" || fail "extract from the URL differs from the image"

expect_exit 0 "$LAZYSNAP" restore "$URL" --access random --verify "$WORK/image.raw" \
  --cache "$WORK/cache"
expect_in "$WORK/out" "all equal"
expect_in "$WORK/out" "remote"
# A second restore finds every chunk in the host cache.
expect_exit 0 "$LAZYSNAP" restore "$URL" --access random --verify "$WORK/image.raw" \
  --cache "$WORK/cache" --json
python3 - "$WORK/out" <<'PY' || fail "second restore did not come from the cache: $(cat "$WORK/out")"
import json, sys
r = json.load(open(sys.argv[1]))["remote"]
sys.exit(0 if r["fetched"] == 0 and r["cache_hits"] == r["chunk_reads"] > 0 else 1)
PY
expect_exit 0 "$LAZYSNAP" restore "$URL" --access ws:10 --verify "$WORK/image.raw" --no-cache \
  --fetch-group 1
expect_in "$WORK/out" "all equal"

# --- failures ------------------------------------------------------------------------------
# A missing object is a missing file: exit 2, as for a path.
expect_exit 1 "$LAZYSNAP" inspect "http://127.0.0.1:$PORT/snaps/missing.lzs"  # missing: exit 1
expect_in "$WORK/err" "HTTP 404"
expect_in "$WORK/err" "missing.lzs"
expect_exit 2 "$LAZYSNAP" push "$WORK/vm.lzs" "$WORK/not-a-url"
expect_exit 2 "$LAZYSNAP" restore "$URL" --fetch-group 0
expect_exit 0 "$LAZYSNAP" push --help
expect_in "$WORK/out" "usage: lazysnap push"

finish
