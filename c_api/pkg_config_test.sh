#!/usr/bin/env bash
# pkg_config_test: what the README tells users outside Bazel. Unpacks //c_api:dist under
# a prefix, then builds example.c with the prefix's pkg-config files, against the shared
# library (lazysnap) and statically (lazysnap-static: liblazysnap.a), and runs both; the
# shared build must load liblazysnap.so.0 from the prefix.
set -euo pipefail

dist=$(realpath "$1")
example=$(realpath "$2")
work=${TEST_TMPDIR:-$(mktemp -d)}/pkg_config_test
rm -rf "$work"
mkdir -p "$work/prefix" "$work/data"
tar -C "$work/prefix" -xzf "$dist"
test -f "$work/prefix/include/lazysnap/lazysnap.h"
test -L "$work/prefix/lib/liblazysnap.so"

cp "$example" "$work/example.c"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
echo "pkg-config lazysnap: $(pkg-config --modversion lazysnap): $(pkg-config --cflags --libs lazysnap)"

cc -std=c11 -Wall -Werror -o "$work/example_shared" "$work/example.c" \
  $(pkg-config --cflags --libs lazysnap) -Wl,-rpath,"$work/prefix/lib"
cc -std=c11 -Wall -Werror -o "$work/example_static" "$work/example.c" \
  $(pkg-config --cflags --libs lazysnap-static)

ldd "$work/example_shared" | grep -q "liblazysnap.so.0 => $work/prefix/lib/liblazysnap.so.0" || {
  echo "FAILED: example_shared does not load the prefix's liblazysnap.so.0" >&2
  ldd "$work/example_shared" >&2
  exit 1
}
if ldd "$work/example_static" | grep -q liblazysnap; then
  echo "FAILED: example_static loads liblazysnap.so" >&2
  exit 1
fi

"$work/example_shared" "$work/data"
"$work/example_static" "$work/data"
echo "pkg_config_test: both builds ran"
