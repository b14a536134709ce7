#!/bin/bash
# postgres_pgbench: a private PostgreSQL cluster (Debian's postgresql-15) in a temporary
# directory, listening on a Unix socket only (no TCP), loaded with pgbench's tables
# (--scale, default 20: about 300 MB), shared_buffers warmed with pg_prewarm and a short
# read/write pgbench run, for the compression corpus. Prints "<postmaster pid> ready",
# waits until stdin reaches end of file, then stops the cluster and removes the
# directory. The shared buffers are shared memory: capture with --include-readonly.
#
# Usage: postgres_pgbench.sh [--scale N] [--shared-buffers 256MB]   (as root: runs the
# server as the 'postgres' user)
set -euo pipefail
scale=20
shared_buffers=256MB
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --shared-buffers) shared_buffers="$2"; shift 2 ;;
    *) echo "postgres_pgbench: unknown argument $1" >&2; exit 2 ;;
  esac
done
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/postgres" ] || { echo "postgres_pgbench: $bin/postgres not found (apt-get install postgresql-15)" >&2; exit 2; }
run_as=()
if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi
dir=$(mktemp -d /tmp/lazysnap-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
cleanup() {
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
{
  "${run_as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c shared_buffers=$shared_buffers -c fsync=off -c full_page_writes=off" start
  "${run_as[@]}" "$bin/pgbench" -h "$dir" -U postgres -i -s "$scale" postgres
  "${run_as[@]}" "$bin/psql" -h "$dir" -U postgres -q -c "CREATE EXTENSION pg_prewarm" \
    -c "SELECT sum(pg_prewarm(c.oid::regclass)) FROM pg_class c WHERE c.relname LIKE 'pgbench%'" postgres
  "${run_as[@]}" "$bin/pgbench" -h "$dir" -U postgres -c 2 -T 15 postgres
} >&2
pid=$(head -1 "$dir/data/postmaster.pid")
echo "$pid ready"
cat >/dev/null
