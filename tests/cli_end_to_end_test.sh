#!/usr/bin/env bash
# End-to-end: the lazysnap CLI on real files, as a user runs it: create, inspect,
# verify, extract, restore; broken input on purpose; usage errors. Every check prints
# what it expected when it fails.
set -uo pipefail

source "$(dirname "$0")/cli_test_lib.sh"

one_line() {  # one_line FILE: a usage error is exactly one line
  local n
  n=$(wc -l <"$1")
  [[ $n -eq 1 ]] || fail "expected one line on stderr, got $n: $(cat "$1")"
}

# A 12 MiB image: text, zeros, random bytes and a repeated block, not a chunk multiple.
python3 - "$WORK/image.raw" <<'PY'
import os, random, sys
random.seed(5)
chunk = 65536
parts = []
text = (b"lazysnap restores memory lazily " * 4096)[:chunk]
for i in range(190):
    k = i % 5
    if k == 0: parts.append(text)
    elif k == 1: parts.append(bytes(chunk))
    elif k == 2: parts.append(random.randbytes(chunk))
    elif k == 3: parts.append(text)
    else: parts.append(bytes([i % 251]) * 100 + text[100:])
parts.append(b"tail" * 1000)
open(sys.argv[1], "wb").write(b"".join(parts))
PY

# --- create / inspect / verify / extract -------------------------------------------------
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/snap.lzs" --threads 2
expect_in "$WORK/out" "snap.lzs"
expect_in "$WORK/out" "duplicate"
[[ -f "$WORK/snap.lzs" ]] || fail "create did not write the snapshot"
ls "$WORK"/snap.lzs.tmp.* >/dev/null 2>&1 && fail "create left a temporary file"

expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/snap16.lzs" --chunk-size 16K --level -3 --json
expect_in "$WORK/out" '"chunks":'
expect_in "$WORK/out" '"zero_chunks":'

expect_exit 0 "$LAZYSNAP" inspect "$WORK/snap.lzs"
expect_in "$WORK/out" "chunk 32.0 KiB"
expect_in "$WORK/out" "zero"
expect_exit 0 "$LAZYSNAP" inspect "$WORK/snap.lzs" --json
expect_in "$WORK/out" '"chunk_size_bytes":32768'
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["chunks"]["total"]==381, d' "$WORK/out" \
  || fail "inspect --json is not the JSON expected"

expect_exit 0 "$LAZYSNAP" verify "$WORK/snap.lzs"
expect_in "$WORK/out" "sound"
expect_exit 0 "$LAZYSNAP" extract "$WORK/snap.lzs" -o "$WORK/extracted.raw"
cmp -s "$WORK/image.raw" "$WORK/extracted.raw" || fail "extract did not reproduce the image"

# Dictionaries: trained by default (used only when it pays), forced, refused, estimated.
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/nodict.lzs" --no-dictionary
expect_in "$WORK/out" "no dictionary: no dictionary was asked for"
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/dict.lzs" --chunk-size 16K \
  --dictionary-size 16K --dictionary-sample 4M --dictionary-always --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dictionary_bytes"]>0 and d["dictionary_id"]>0, d' "$WORK/out" \
  || fail "create --dictionary-always wrote no dictionary: $(cat "$WORK/out")"
expect_exit 0 "$LAZYSNAP" inspect "$WORK/dict.lzs"
expect_in "$WORK/out" "(slot 1), used by"
expect_exit 0 "$LAZYSNAP" inspect "$WORK/dict.lzs" --estimate --sample 2M
expect_in "$WORK/out" "without a dictionary"
expect_in "$WORK/out" "with its"
expect_exit 0 "$LAZYSNAP" inspect "$WORK/nodict.lzs" --estimate --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d["estimate"]; assert e["trained"] and e["sample_chunks"]>0, d' "$WORK/out" \
  || fail "inspect --estimate --json: $(cat "$WORK/out")"
expect_exit 0 "$LAZYSNAP" verify "$WORK/dict.lzs"
expect_exit 0 "$LAZYSNAP" extract "$WORK/dict.lzs" -o "$WORK/dict_extracted.raw"
cmp -s "$WORK/image.raw" "$WORK/dict_extracted.raw" || fail "extract of dict.lzs differs from the image"
expect_exit 0 bash -c 'cat "$1" | "$2" create - -o "$3"' _ "$WORK/image.raw" "$LAZYSNAP" \
  "$WORK/stdin.lzs"
expect_in "$WORK/out" "no dictionary: the image is a stream"
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/x.lzs" --dictionary-size 100
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/x.lzs" --no-dictionary --dictionary-always
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" inspect "$WORK/dict.lzs" --sample 1M
one_line "$WORK/err"

# Regions: two regions with a hole; extract leaves the hole zero.
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/regions.lzs" --region 2M:3M+0
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/regions.lzs" --region 0:1M@zz
one_line "$WORK/err"
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/regions.lzs" \
  --region 0:1M@0x100000 --region 2M:3M
expect_exit 0 "$LAZYSNAP" inspect "$WORK/regions.lzs"
expect_in "$WORK/out" "2 regions"
expect_in "$WORK/out" "guest address 0x100000"

# --- incremental snapshots: create --parent, the chain, flatten ---------------------------
# child.raw: the image with a byte changed in three chunks; grand.raw: one more chunk.
python3 - "$WORK/image.raw" "$WORK/child.raw" "$WORK/grand.raw" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
for offset in (7, 40 * 65536 + 3, 150 * 65536 + 9):
    b[offset] ^= 0xFF
open(sys.argv[2], "wb").write(b)
b[100 * 65536] ^= 0x01
open(sys.argv[3], "wb").write(b)
PY
expect_exit 0 "$LAZYSNAP" create "$WORK/child.raw" --parent "$WORK/snap.lzs" -o "$WORK/child.lzs" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["incremental"] and d["compressed_chunks"]+d["raw_chunks"]<=3 and d["parent_chunks"]>300, d' "$WORK/out" \
  || fail "create --parent stored more than the changed chunks: $(cat "$WORK/out")"
mkdir -p "$WORK/children"
expect_exit 0 "$LAZYSNAP" create "$WORK/grand.raw" --parent "$WORK/child.lzs" -o "$WORK/children/grand.lzs"
expect_in "$WORK/out" "unchanged (in the parent)"
expect_exit 0 "$LAZYSNAP" inspect "$WORK/children/grand.lzs"
expect_in "$WORK/out" "format      1.1"
expect_in "$WORK/out" "chain       depth 2"
expect_in "$WORK/out" "parent recorded as \"../child.lzs\""
expect_exit 0 "$LAZYSNAP" inspect "$WORK/children/grand.lzs" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["chain"]; assert d["chain_depth"]==2 and len(c)==3 and sum(m["chunks_served"] for m in c)>0 and c[2]["format_version"]=="1.0", d' "$WORK/out" \
  || fail "inspect --json of a chain: $(cat "$WORK/out")"
expect_exit 0 "$LAZYSNAP" verify "$WORK/children/grand.lzs"
expect_in "$WORK/out" "through a chain of 3 snapshots"
expect_exit 0 "$LAZYSNAP" extract "$WORK/children/grand.lzs" -o "$WORK/grand_extracted.raw"
cmp -s "$WORK/grand.raw" "$WORK/grand_extracted.raw" || fail "extract of a chain differs from its image"
expect_exit 0 "$LAZYSNAP" flatten "$WORK/children/grand.lzs" -o "$WORK/flat.lzs" --threads 2
expect_exit 0 "$LAZYSNAP" inspect "$WORK/flat.lzs" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["format_version"]=="1.0" and d["chain_depth"]==0 and "chain" not in d, d' "$WORK/out" \
  || fail "flatten did not write a standalone 1.0 snapshot: $(cat "$WORK/out")"
expect_exit 0 "$LAZYSNAP" extract "$WORK/flat.lzs" -o "$WORK/flat_extracted.raw"
cmp -s "$WORK/grand.raw" "$WORK/flat_extracted.raw" || fail "extract of the flattened chain differs"
# Moved away from its parents: found with --ancestor, by snapshot id.
mkdir -p "$WORK/moved/away" && cp "$WORK/children/grand.lzs" "$WORK/moved/away/"
expect_exit 2 "$LAZYSNAP" verify "$WORK/moved/away/grand.lzs"
expect_in "$WORK/err" "cannot be found"
one_line "$WORK/err"
expect_exit 0 "$LAZYSNAP" verify "$WORK/moved/away/grand.lzs" --ancestor "$WORK/snap.lzs" --ancestor "$WORK/child.lzs"
# A parent replaced by another snapshot (of the same image): refused, naming both files.
cp "$WORK/snap.lzs" "$WORK/snap.bak"
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/snap.lzs" --threads 2
expect_exit 1 "$LAZYSNAP" extract "$WORK/children/grand.lzs" -o "$WORK/never.raw"
expect_in "$WORK/err" "snap.lzs is not the parent of"
expect_in "$WORK/err" "child.lzs"
[[ -e "$WORK/never.raw" ]] && fail "extract wrote an image from a broken chain"
mv "$WORK/snap.bak" "$WORK/snap.lzs"
# Writing over a snapshot of the chain is refused.
expect_exit 2 "$LAZYSNAP" create "$WORK/child.raw" --parent "$WORK/child.lzs" -o "$WORK/snap.lzs"
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" flatten "$WORK/children/grand.lzs" -o "$WORK/child.lzs"
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" create "$WORK/child.raw" --parent "$WORK/snap.lzs" -o "$WORK/x.lzs" --chunk-size 16K
one_line "$WORK/err"

# --- restore (lazily, in this process) ----------------------------------------------------
expect_exit 0 "$LAZYSNAP" features
if [[ $? -eq 0 ]] && grep -q "can restore here" "$WORK/out"; then
  for access in seq random ws:25; do
    expect_exit 0 "$LAZYSNAP" restore "$WORK/snap.lzs" --access "$access" --threads 3 \
      --verify "$WORK/image.raw"
    expect_in "$WORK/out" "all equal"
  done
  expect_exit 0 "$LAZYSNAP" restore "$WORK/dict.lzs" --access random --threads 3 \
    --verify "$WORK/image.raw"
  expect_in "$WORK/out" "all equal"
  expect_exit 0 "$LAZYSNAP" restore "$WORK/snap16.lzs" --access random --verify "$WORK/image.raw" --json
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["pages_mismatched"]==0 and d["faults"]["total"]>0, d' "$WORK/out" \
    || fail "restore --json: $(cat "$WORK/out")"
  expect_exit 0 "$LAZYSNAP" restore "$WORK/children/grand.lzs" --access random --threads 3 \
    --verify "$WORK/grand.raw"
  expect_in "$WORK/out" "from a chain of 3 snapshots"
  expect_in "$WORK/out" "all equal"
  # Verifying against a different image must fail, naming where.
  cp "$WORK/image.raw" "$WORK/other.raw"
  printf 'X' | dd of="$WORK/other.raw" bs=1 seek=200000 conv=notrunc 2>/dev/null
  expect_exit 1 "$LAZYSNAP" restore "$WORK/snap.lzs" --verify "$WORK/other.raw"
  expect_in "$WORK/out" "DIFFER"
else
  echo "SKIP restore checks: $(cat "$WORK/out")"
fi

# --- broken input on purpose -------------------------------------------------------------
# A snapshot with a known layout: 64 KiB chunks, no dictionary section before the chunks.
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/plain.lzs" --chunk-size 64K --no-dictionary
size=$(stat -c %s "$WORK/plain.lzs")
# A flipped byte in chunk data: verify names the chunk and exits 1.
cp "$WORK/plain.lzs" "$WORK/flipped.lzs"
printf '\xff' | dd of="$WORK/flipped.lzs" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_exit 1 "$LAZYSNAP" verify "$WORK/flipped.lzs"
expect_in "$WORK/err" "flipped.lzs: chunk 2 (raw"
one_line "$WORK/err"
# A flipped byte in the index tail: inspect refuses.
cp "$WORK/plain.lzs" "$WORK/badindex.lzs"
printf '\x01' | dd of="$WORK/badindex.lzs" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
expect_exit 1 "$LAZYSNAP" inspect "$WORK/badindex.lzs"
expect_in "$WORK/err" "badindex.lzs"
# Truncated.
head -c $((size / 2)) "$WORK/plain.lzs" >"$WORK/truncated.lzs"
expect_exit 1 "$LAZYSNAP" verify "$WORK/truncated.lzs"
expect_in "$WORK/err" "truncated"
# Not a snapshot.
expect_exit 1 "$LAZYSNAP" inspect "$WORK/image.raw"
expect_in "$WORK/err" "not a lazysnap snapshot"

# --- usage errors: one clear line, exit 2 -------------------------------------------------
expect_exit 2 "$LAZYSNAP" inspect "$WORK/missing.lzs"
one_line "$WORK/err"
expect_in "$WORK/err" "missing.lzs"
expect_exit 2 "$LAZYSNAP" verify --frobnicate "$WORK/snap.lzs"
one_line "$WORK/err"
expect_in "$WORK/err" "--frobnicate"
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw"
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" create "$WORK/missing.raw" -o "$WORK/x.lzs"
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/x.lzs" --chunk-size 12K
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" restore "$WORK/snap.lzs" --access zigzag
one_line "$WORK/err"
expect_exit 2 "$LAZYSNAP" nonsense
expect_exit 2 "$LAZYSNAP"
for cmd in demo create inspect verify extract flatten restore features; do
  expect_exit 0 "$LAZYSNAP" "$cmd" --help
  expect_in "$WORK/out" "usage: lazysnap $cmd"
done

finish
