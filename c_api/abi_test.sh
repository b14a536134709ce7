#!/usr/bin/env bash
# abi_test: the shared library's ABI is exactly what is committed. Fails on an accidental
# export (a C++ symbol leaking past the version script, a new call not added to the list)
# and on a removal; checks the soname, that the header declares every exported function
# and nothing more, that lazysnap_c_test.c calls every one, and that the header, the
# version script and BUILD.bazel agree on the API version.
#
# To add a call: declare it in the header, export it in a new version node of
# lazysnap.map, append "name@@LAZYSNAP_<major>.<minor>" to liblazysnap.symbols and call it
# from lazysnap_c_test.c.
set -euo pipefail

lib=$1 symbols=$2 header=$3 test_source=$4 map=$5 version=$6
failures=0
fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}

# Exported definitions as name@@version; the version nodes themselves (type A) aside.
exported=$(nm -D --defined-only --with-symbol-versions "$lib" | awk '$2 != "A" {print $3}' | sort)
committed=$(grep -vE '^(#|$)' "$symbols" | sort)
if [[ "$exported" != "$committed" ]]; then
  fail "exported symbols differ from $(basename "$symbols") (> exported only, < listed only):"
  diff <(echo "$committed") <(echo "$exported") | grep '^[<>]' >&2 || true
fi
count=$(echo "$exported" | grep -c .)
echo "exported: $count symbols"

for entry in $exported; do
  [[ "$entry" == lazysnap_*@@LAZYSNAP_* ]] || fail "$entry: not a versioned lazysnap_ symbol"
done

major=${version%%.*}
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ "$soname" == "liblazysnap.so.$major" ]] || fail "soname is '$soname', not liblazysnap.so.$major"

names=$(echo "$exported" | sed 's/@.*//' | sort)
declared=$(grep -oE '\blazysnap_[a-z0-9_]+\(' "$header" | tr -d '(' | sort -u)
if [[ "$names" != "$declared" ]]; then
  fail "the header's functions differ from the exported ones (> exported only, < declared only):"
  diff <(echo "$declared") <(echo "$names") | grep '^[<>]' >&2 || true
fi

for name in $names; do
  grep -qE "\\b$name\\(" "$test_source" || fail "$name is never called by $(basename "$test_source")"
done

header_version=$(sed -nE 's/^#define LAZYSNAP_VERSION_MAJOR ([0-9]+)$/\1/p' "$header").$(
  sed -nE 's/^#define LAZYSNAP_VERSION_MINOR ([0-9]+)$/\1/p' "$header")
[[ "$header_version" == "$version" ]] ||
  fail "the header says $header_version, BUILD.bazel's API_VERSION $version"
grep -qE "^LAZYSNAP_${version//./\\.} \{" "$map" || fail "lazysnap.map has no LAZYSNAP_$version node"
newest=$(echo "$exported" | sed 's/.*@@LAZYSNAP_//' | sort -V | tail -1)
[[ "$newest" == "$version" ]] || fail "the newest symbol version is $newest, the API $version"

if ((failures)); then
  echo "abi_test: $failures failures" >&2
  exit 1
fi
echo "abi_test: liblazysnap.so.$major exports the $count calls of API $version"
