#!/usr/bin/env bash
# cargo_test: builds and tests the lazysnap crate with cargo, offline, against the C API
# tree of //c_api:dist found through pkg-config (as README, "The C API" tells Rust users):
# `cargo test` (shared library), then the example linked statically restoring a snapshot
# made by `lazysnap create`. Without cargo this test passes saying SKIPPED and why.
set -euo pipefail

dist=$(realpath "$1")
lazysnap=$(realpath "$2")
crate=$(dirname "$(realpath "$3")")
work=${TEST_TMPDIR:-$(mktemp -d)}/cargo_test
rm -rf "$work"
mkdir -p "$work"

# Bazel runs tests with a minimal PATH and HOME; rustup installs cargo in the real home.
real_home=$(getent passwd "$(id -u)" | cut -d: -f6)
cargo=""
for candidate in "${CARGO:-}" "$(command -v cargo || true)" "$real_home/.cargo/bin/cargo"; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    cargo=$candidate
    break
  fi
done
if [[ -z "$cargo" ]]; then
  echo "SKIPPED: cargo is not installed (looked at \$CARGO, PATH and $real_home/.cargo/bin)"
  exit 0
fi
if [[ -z "${RUSTUP_HOME:-}" && -d "$real_home/.rustup" ]]; then
  export RUSTUP_HOME="$real_home/.rustup"
fi
if ! version=$("$cargo" --version 2>&1); then
  echo "SKIPPED: $cargo does not run: $version"
  exit 0
fi
echo "using $version ($cargo)"

# A writable copy of the crate (cargo writes nothing into the source tree otherwise, but
# runfiles are symlinks), its own target directory, and no registry access.
cp -rL "$crate" "$work/crate"
chmod -R u+w "$work/crate"
mkdir -p "$work/prefix"
tar -C "$work/prefix" -xzf "$dist"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
export CARGO_TARGET_DIR="$work/target"
export CARGO_HOME="$work/cargo-home"
export CARGO_NET_OFFLINE=true
cd "$work/crate"

"$cargo" test --offline --locked

# (yes dies of SIGPIPE when head is done: not a failure.)
(set +o pipefail; yes "lazysnap rust example: restored lazily, page by page" | head -c $((4 << 20))) \
  > "$work/image.raw"
"$lazysnap" create "$work/image.raw" -o "$work/image.lzs" >/dev/null
LAZYSNAP_LINK=static "$cargo" build --offline --locked --example restore
example="$CARGO_TARGET_DIR/debug/examples/restore"
if ldd "$example" | grep -q liblazysnap; then
  echo "FAILED: the statically linked example loads liblazysnap.so" >&2
  exit 1
fi
if "$lazysnap" features >/dev/null 2>&1; then
  "$example" "$work/image.lzs" 2
else
  echo "SKIPPED running the example: $("$lazysnap" features 2>&1 | tail -1)"
fi
echo "cargo_test: the crate's tests and its example passed"
