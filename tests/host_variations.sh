#!/usr/bin/env bash
# Host variations: re-runs the userfaultfd and memory-accounting tests under every host
# setting they must not depend on that this machine can set: transparent huge pages
# (always / madvise / never), multi-size THP (every hugepages-*kB size on or off),
# vm.unprivileged_userfaultfd (0 / 1, as root and as an unprivileged user), and
# /dev/userfaultfd (present, chmod 000, chmod 666, removed). It prints one row per
# scenario: what `lazysnap features` found, and each test's outcome (pass, pass with N
# tests skipped, FAIL).
#
# Not part of `bazel test //...`: it changes machine-wide settings (it must run as root)
# and takes minutes. Every setting is restored afterwards, also when a test fails or the
# script is interrupted. Each scenario holds the machine-wide benchmark lock
# (/tmp/lazysnap-bench.lock) while the host is changed, so no benchmark measures then.
#
# usage: tests/host_variations.sh [SCENARIO...]   (from the workspace root; default: all)
#        HOST_VARIATIONS_DIR=DIR keeps the logs there (default: a new directory in /tmp)
set -uo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "host_variations: must run as root (it changes THP, sysctls and /dev/userfaultfd)" >&2
  exit 2
fi
WS="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${HOST_VARIATIONS_DIR:-$(mktemp -d /tmp/lazysnap-host-variations.XXXXXX)}"
mkdir -p "$OUT"
chmod 755 "$OUT"
UNPRIVILEGED=nobody
THP=/sys/kernel/mm/transparent_hugepage
SYSCTL=/proc/sys/vm/unprivileged_userfaultfd
DEV=/dev/userfaultfd

# --- what runs ---------------------------------------------------------------------------
# The tests, copied with their shared libraries out of Bazel's output tree (under /root,
# which an unprivileged user cannot enter), and run directly: the same binaries for root
# and for the unprivileged user.
TESTS=(engine/restore_session_test engine/userfaultfd_real_test bench/process_metrics_test
       tools/restore_run_test tests/cli_end_to_end_test)
echo "host_variations: building the tests (logs in $OUT)"
(cd "$WS" && tools/bazel build //engine:restore_session_test //engine:userfaultfd_real_test \
  //bench:process_metrics_test //tools:restore_run_test //tools:lazysnap \
  //tests:cli_end_to_end_test) >"$OUT/build.log" 2>&1 || {
  echo "host_variations: the build failed, see $OUT/build.log" >&2
  exit 1
}
BIN="$OUT/bin"
rm -rf "$BIN"
mkdir -p "$BIN/engine" "$BIN/bench" "$BIN/tools" "$BIN/tests" "$BIN/runfiles/lazysnap/tools"
cp -rL "$WS/bazel-bin/_solib_k8" "$BIN/"
for t in engine/restore_session_test engine/userfaultfd_real_test bench/process_metrics_test \
         tools/restore_run_test; do
  cp -L "$WS/bazel-bin/$t" "$BIN/$t"
done
cp -L "$WS/tests/cli_end_to_end_test.sh" "$BIN/tests/cli_end_to_end_test"
cp -L "$WS/bazel-bin/tools/lazysnap" "$BIN/runfiles/lazysnap/tools/lazysnap"
chmod -R a+rX "$BIN"

# --- saving and restoring the host -------------------------------------------------------
selected() { sed -n 's/.*\[\(.*\)\].*/\1/p' "$1"; }  # the bracketed choice of a sysfs knob
declare -A SAVED
save_host() {
  SAVED[thp]=$(selected "$THP/enabled")
  for f in "$THP"/hugepages-*kB/enabled; do SAVED[$f]=$(selected "$f"); done
  SAVED[sysctl]=$(cat "$SYSCTL")
  if [[ -e $DEV ]]; then
    SAVED[dev]=$(stat -c '%a %t %T %u %g' "$DEV")
  else
    SAVED[dev]=absent
  fi
}
restore_host() {
  echo "${SAVED[thp]}" >"$THP/enabled"
  for f in "$THP"/hugepages-*kB/enabled; do echo "${SAVED[$f]}" >"$f"; done
  echo "${SAVED[sysctl]}" >"$SYSCTL"
  if [[ ${SAVED[dev]} == absent ]]; then
    rm -f "$DEV"
  else
    read -r mode major minor uid gid <<<"${SAVED[dev]}"
    [[ -e $DEV ]] || mknod "$DEV" c $((16#$major)) $((16#$minor))
    chown "$uid:$gid" "$DEV"
    chmod "$mode" "$DEV"
  fi
}
save_host
echo "host_variations: saved THP=${SAVED[thp]} sysctl=${SAVED[sysctl]} dev=${SAVED[dev]}"
trap 'restore_host; echo "host_variations: host settings restored"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

set_mthp() {  # set_mthp always|never|inherit: every size
  for f in "$THP"/hugepages-*kB/enabled; do echo "$1" >"$f"; done
}

# --- scenarios -----------------------------------------------------------------------------
# name | user | settings (words run by apply)
SCENARIOS=(
  "baseline|root|"
  "thp-always|root|thp always; mthp never"
  "thp-madvise|root|thp madvise; mthp never"
  "thp-never|root|thp never; mthp never"
  "mthp-all-always|root|thp always; mthp always"
  "mthp-all-thp-never|root|thp never; mthp always"
  "uffd-sysctl-0|root|sysctl 0"
  "dev-removed|root|dev remove"
  "user-sysctl-1|user|sysctl 1"
  "user-sysctl-0-dev-600|user|sysctl 0"
  "user-sysctl-0-dev-666|user|sysctl 0; dev 666"
  "user-sysctl-0-dev-000|user|sysctl 0; dev 000"
  "user-sysctl-0-dev-removed|user|sysctl 0; dev remove"
  "user-sysctl-1-dev-removed|user|sysctl 1; dev remove"
  "user-thp-always-mthp|user|sysctl 1; thp always; mthp always"
)

apply() {  # apply "thp always; mthp never; sysctl 0; dev 000"
  local steps step what value
  IFS=';' read -ra steps <<<"$1"
  for step in "${steps[@]}"; do
    IFS=' ' read -r what value <<<"$step"
    case $what in
      thp) echo "$value" >"$THP/enabled" ;;
      mthp) set_mthp "$value" ;;
      sysctl) echo "$value" >"$SYSCTL" ;;
      dev) if [[ $value == remove ]]; then rm -f "$DEV"; else chmod "$value" "$DEV"; fi ;;
      "") ;;
      *) echo "host_variations: unknown setting '$step'" >&2; return 1 ;;
    esac
  done
}

# run_as USER CMD...: root, or the unprivileged user with a clean environment.
run_as() {
  local user=$1
  shift
  if [[ $user == root ]]; then
    "$@"
  else
    setpriv --reuid="$UNPRIVILEGED" --regid="$(id -g "$UNPRIVILEGED")" --clear-groups \
      env -i PATH=/usr/bin:/bin HOME=/tmp "TEST_TMPDIR=$TEST_TMPDIR" "TEST_SRCDIR=$TEST_SRCDIR" "$@"
  fi
}

# outcome LOG EXIT: "pass", "pass, N skipped", or "FAIL (exit E)".
outcome() {
  local log=$1 code=$2 skipped
  # gtest lists each skipped test twice: as it runs ("... (12 ms)") and in the summary.
  skipped=$(grep -c '^\[  SKIPPED \] [A-Za-z][^ ]*$' "$log")
  skipped=$((skipped + $(grep -c '^SKIP ' "$log")))
  if [[ $code -ne 0 ]]; then
    echo "FAIL (exit $code)"
  elif [[ $skipped -gt 0 ]]; then
    echo "pass, $skipped skipped"
  else
    echo "pass"
  fi
}

wanted() {  # wanted NAME: no arguments given, or NAME is one of them
  [[ $# -eq 1 && ${#ARGS[@]} -eq 0 ]] && return 0
  local a
  for a in "${ARGS[@]}"; do [[ $a == "$1" ]] && return 0; done
  return 1
}
ARGS=("$@")

failures=0
MATRIX="$OUT/matrix.md"
{
  echo "| scenario | user | settings | lazysnap features | $(printf '%s | ' "${TESTS[@]##*/}")"
  echo "|---|---|---|---|$(printf -- '---|%.0s' "${TESTS[@]}")"
} >"$MATRIX"
for scenario in "${SCENARIOS[@]}"; do
  IFS='|' read -r name user settings <<<"$scenario"
  wanted "$name" || continue
  echo "host_variations: $name ($user: ${settings:-as found})"
  export TEST_TMPDIR="$OUT/tmp/$name"
  export TEST_SRCDIR="$BIN/runfiles"
  rm -rf "$TEST_TMPDIR"
  mkdir -p "$TEST_TMPDIR"
  [[ $user == root ]] || chown "$UNPRIVILEGED" "$TEST_TMPDIR"
  exec 9>/tmp/lazysnap-bench.lock
  flock 9
  if ! apply "$settings"; then
    restore_host
    flock -u 9
    failures=$((failures + 1))
    continue
  fi
  row="| $name | $user | ${settings:-as found} | "
  # How lazysnap reached userfaultfd here, and whether it can restore.
  features=$(run_as "$user" "$BIN/runfiles/lazysnap/tools/lazysnap" features 2>&1 |
    sed -n 's/^userfaultfd *//p; s/^lazysnap \(can\(not\)\{0,1\} restore here\).*/\1/p' | paste -sd ';')
  row+="${features} | "
  for t in "${TESTS[@]}"; do
    log="$OUT/$name.${t##*/}.log"
    run_as "$user" timeout 900 "$BIN/$t" >"$log" 2>&1
    code=$?
    result=$(outcome "$log" $code)
    [[ $result == FAIL* ]] && failures=$((failures + 1))
    echo "  ${t##*/}: $result"
    row+="$result | "
  done
  restore_host
  flock -u 9
  echo "$row" >>"$MATRIX"
done
echo
cat "$MATRIX"
echo
echo "host_variations: $failures failure(s); logs in $OUT"
[[ $failures -eq 0 ]]
