# Helpers shared by the CLI end-to-end tests (sourced): where the binary and the scratch
# directory are, and checks that count failures and say what they expected.

LAZYSNAP="${TEST_SRCDIR:-.}/lazysnap/tools/lazysnap"
[[ -x "$LAZYSNAP" ]] || LAZYSNAP="$(dirname "$0")/../tools/lazysnap"
LAZYSNAP="$(cd "$(dirname "$LAZYSNAP")" && pwd)/$(basename "$LAZYSNAP")"  # tests change directory
WORK="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_exit CODE CMD...: runs CMD, checks its exit status; output in $WORK/out, $WORK/err.
expect_exit() {
  local want=$1
  shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  if [[ $got -ne $want ]]; then
    fail "'$*' exited $got, expected $want; stderr: $(cat "$WORK/err")"
  fi
}

expect_in() {  # expect_in FILE TEXT
  grep -qF -- "$2" "$1" || fail "expected '$2' in $(basename "$1"): $(head -c 600 "$1")"
}

# finish: the last line of a test; exit 1 when a check failed.
finish() {
  if [[ $failures -ne 0 ]]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
