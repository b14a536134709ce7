#!/usr/bin/env bash
# End-to-end: `lazysnap serve` as a Firecracker user runs it: make a snapshot of a guest
# memory file, start the daemon, let two VMMs (test_vmm, which speaks Firecracker's side
# of the protocol) restore from it at once, read the stats file, stop it with SIGTERM.
set -uo pipefail

RUNFILES="${TEST_SRCDIR:-.}/lazysnap"
LAZYSNAP="$RUNFILES/tools/lazysnap"
TEST_VMM="$RUNFILES/firecracker/test_vmm"
WORK="${TEST_TMPDIR:-$(mktemp -d)}"
# sockaddr_un holds 107 bytes: the socket goes in a short directory of its own.
SOCKDIR=$(mktemp -d /tmp/lazysnap-serve-test.XXXXXX)
SOCKET="$SOCKDIR/fc.sock"
failures=0
daemon=

cleanup() {
  [[ -n "$daemon" ]] && kill -KILL "$daemon" 2>/dev/null
  rm -rf "$SOCKDIR"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

expect_exit() {  # expect_exit CODE CMD...
  local want=$1
  shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  [[ $got -eq $want ]] || fail "'$*' exited $got, expected $want; stderr: $(cat "$WORK/err")"
}

# A 12 MiB guest memory file: text, zeros and random bytes.
python3 - "$WORK/vm.mem" <<'PY'
import random, sys
random.seed(3)
text = (b"firecracker guest memory " * 4096)[:65536]
parts = [text, bytes(65536), random.randbytes(65536)] * 64
open(sys.argv[1], "wb").write(b"".join(parts))
PY
expect_exit 0 "$LAZYSNAP" create "$WORK/vm.mem" -o "$WORK/vm.lzs" --threads 2

# Usage.
expect_exit 0 "$LAZYSNAP" serve --help
grep -q -- "--socket" "$WORK/out" || fail "serve --help does not mention --socket"
expect_exit 2 "$LAZYSNAP" serve "$WORK/vm.lzs"
[[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "usage error is not one line: $(cat "$WORK/err")"
expect_exit 2 "$LAZYSNAP" serve --socket "$SOCKET" "$WORK/missing.lzs"
expect_exit 2 "$LAZYSNAP" serve --socket "$SOCKET" --policy eager "$WORK/vm.lzs"

# The daemon: ready once the socket exists.
"$LAZYSNAP" serve --socket "$SOCKET" "$WORK/vm.lzs" --stats "$WORK/stats.json" \
  --stats-interval-ms 50 --policy background 2>"$WORK/daemon.log" &
daemon=$!
for _ in $(seq 200); do [[ -S "$SOCKET" ]] && break; sleep 0.05; done
[[ -S "$SOCKET" ]] || fail "no socket after 10 s: $(cat "$WORK/daemon.log")"
[[ $(stat -c %a "$SOCKET") == 600 ]] || fail "socket mode $(stat -c %a "$SOCKET"), expected 600"

size=$(stat -c %s "$WORK/vm.mem")
"$TEST_VMM" --socket "$SOCKET" --size "$size" --image "$WORK/vm.mem" --kernel-io --balloon \
  >"$WORK/vmm1" 2>&1 &
vmm1=$!
"$TEST_VMM" --socket "$SOCKET" --size "$size" --image "$WORK/vm.mem" --shape v1.7 \
  --access ws:10 >"$WORK/vmm2" 2>&1 &
vmm2=$!
wait $vmm1; rc1=$?
wait $vmm2; rc2=$?
if [[ $rc1 -eq 3 || $rc2 -eq 3 ]]; then
  echo "SKIP: no userfaultfd on this host: $(cat "$WORK/vmm1")"
else
  [[ $rc1 -eq 0 ]] || fail "VMM 1 exited $rc1: $(cat "$WORK/vmm1")"
  [[ $rc2 -eq 0 ]] || fail "VMM 2 exited $rc2: $(cat "$WORK/vmm2")"
  for _ in $(seq 100); do grep -q '"vms_served":2' "$WORK/stats.json" 2>/dev/null && break; sleep 0.05; done
  grep -q '"vms_served":2' "$WORK/stats.json" || fail "stats: $(cat "$WORK/stats.json")"
  grep -q "vm pid $vmm1 " "$WORK/daemon.log" || fail "no log line names VMM $vmm1: $(cat "$WORK/daemon.log")"
fi

# SIGTERM: a clean stop, the socket removed.
kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=
[[ $rc -eq 0 ]] || fail "serve exited $rc after SIGTERM: $(tail -5 "$WORK/daemon.log")"
[[ ! -e "$SOCKET" ]] || fail "socket left behind after SIGTERM"
grep -q "stopped" "$WORK/daemon.log" || fail "no 'stopped' in the log"

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all serve end-to-end checks passed"
