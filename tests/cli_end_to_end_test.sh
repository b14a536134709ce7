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
expect_exit 1 "$LAZYSNAP" verify "$WORK/moved/away/grand.lzs"  # a missing file: exit 1
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
cp "$WORK/out" "$WORK/features.out"
if grep -q "can restore here" "$WORK/features.out"; then
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

# --- hostile input: a clear error, a non-zero exit, nothing written or installed ----------
# (issue 19, "Bad input from users"; every command that might block runs under timeout)
T="timeout 60"
# A refused chunk: an exit-1 error naming the chunk, never a SIGBUS death (exit 135).
cp "$WORK/snap.lzs" "$WORK/corrupt.lzs"
printf '\xff' | dd of="$WORK/corrupt.lzs" bs=1 seek=1048576 conv=notrunc 2>/dev/null
if grep -q "can restore here" "$WORK/features.out" 2>/dev/null; then
  for serving in threads sigbus; do
    for access in random seq; do
      expect_exit 1 $T "$LAZYSNAP" restore "$WORK/corrupt.lzs" --access "$access" --threads 3 \
        --serving "$serving" --verify "$WORK/image.raw"
      expect_in "$WORK/err" "was not installed"
      expect_in "$WORK/err" "checksum mismatch"
      expect_in "$WORK/err" "touching stopped after"
    done
  done
  expect_exit 1 $T "$LAZYSNAP" restore "$WORK/corrupt.lzs" --access random --json
  expect_in "$WORK/out" '"error":"chunk '
  grep -q '"pages_touched":3041,' "$WORK/out" && fail "restore --json touched every page of a corrupt snapshot"
  # ws:PCT: only plain decimals; any working set touches at least one page.
  for bad in ws:nan ws:inf ws:0x10 ws:1e1 ws:-5 ws:; do
    expect_exit 2 "$LAZYSNAP" restore "$WORK/snap.lzs" --access "$bad"
    one_line "$WORK/err"
  done
  expect_exit 0 "$LAZYSNAP" restore "$WORK/snap.lzs" --access ws:0.001 --json
  expect_in "$WORK/out" '"pages_touched":1,'
  # Flags each in range whose buffers multiply into terabytes are refused up front.
  expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/big_chunks.lzs" --chunk-size 4M --no-dictionary
  expect_exit 1 $T "$LAZYSNAP" restore "$WORK/big_chunks.lzs" --handler-threads 256 --reads-in-flight 4096
  expect_in "$WORK/err" "--handler-threads 256 x --reads-in-flight 4096 with 4.00 MiB chunks needs 8.02 TiB"
  # A FIFO as the image to verify against: refused at once, not a blocking open().
  mkfifo "$WORK/fifo.raw"
  expect_exit 1 $T "$LAZYSNAP" restore "$WORK/snap.lzs" --verify "$WORK/fifo.raw"
  expect_in "$WORK/err" "is a FIFO"
  rm -f "$WORK/fifo.raw"
fi

# -o never replaces what is not a regular file, nor the input, and fails before the work
# (the input here is a FIFO nobody writes: reading it first would block).
mkdir -p "$WORK/outputs" && cd "$WORK/outputs" || exit 1
mkfifo in.fifo out.fifo
mkdir a_directory
ln -s ../image.raw a_symlink
cp ../snap.lzs same.lzs
if [[ $(id -u) -eq 0 ]] && mknod a_device c 1 3 2>/dev/null; then devices=a_device; else devices=; fi
for target in out.fifo a_directory a_symlink $devices; do
  expect_exit 1 $T "$LAZYSNAP" create in.fifo -o "$target"
  expect_in "$WORK/err" "cannot write $target"
  expect_exit 1 $T "$LAZYSNAP" extract ../snap.lzs -o "$target"
  expect_in "$WORK/err" "cannot write $target"
done
[[ -p out.fifo && -d a_directory && -L a_symlink ]] || fail "-o replaced a FIFO, directory or symlink"
[[ -z "$devices" || -c a_device ]] || fail "-o replaced a device node"
cmp -s ../image.raw a_symlink || fail "-o wrote through a symlink"
expect_exit 1 $T "$LAZYSNAP" extract same.lzs -o same.lzs
expect_in "$WORK/err" "is the input same.lzs itself"
cmp -s same.lzs ../snap.lzs || fail "extract X -o X replaced the snapshot"
expect_exit 1 $T "$LAZYSNAP" create ../image.raw -o ../image.raw
expect_exit 2 $T "$LAZYSNAP" create in.fifo -o ""
expect_exit 2 $T "$LAZYSNAP" extract ../snap.lzs -o ""
expect_exit 1 $T "$LAZYSNAP" create in.fifo -o missing_dir/x.lzs
expect_in "$WORK/err" "does not exist"
# New files are private (memory holds secrets); a replaced file keeps its mode.
umask 022
expect_exit 0 "$LAZYSNAP" create ../image.raw -o fresh.lzs --no-dictionary
[[ $(stat -c %a fresh.lzs) == 600 ]] || fail "a new snapshot is $(stat -c %a fresh.lzs), not 600"
expect_exit 0 "$LAZYSNAP" extract fresh.lzs -o fresh.raw
[[ $(stat -c %a fresh.raw) == 600 ]] || fail "a new image is $(stat -c %a fresh.raw), not 600"
chmod 640 fresh.lzs
expect_exit 0 "$LAZYSNAP" create ../image.raw -o fresh.lzs --no-dictionary
[[ $(stat -c %a fresh.lzs) == 640 ]] || fail "a replaced 0640 snapshot became $(stat -c %a fresh.lzs)"
# A FIFO as the snapshot: refused at once by every command that reads one.
for cmd in inspect verify; do
  expect_exit 1 $T "$LAZYSNAP" "$cmd" in.fifo
  expect_in "$WORK/err" "is a FIFO"
done
expect_exit 1 $T "$LAZYSNAP" extract in.fifo -o x.raw
expect_exit 1 $T "$LAZYSNAP" restore in.fifo
expect_in "$WORK/err" "is a FIFO"
# Endless or meaningless images: refused before anything is written.
expect_exit 1 $T "$LAZYSNAP" create /dev/zero -o zero.lzs
expect_in "$WORK/err" "character device"
expect_exit 1 $T "$LAZYSNAP" create /proc/self/maps -o maps.lzs
expect_in "$WORK/err" "use --pid"
expect_exit 1 $T sh -c 'exec "$1" create --pid $$ --freeze -o self.lzs' _ "$LAZYSNAP"
expect_in "$WORK/err" "this process"
ls zero.lzs* maps.lzs* self.lzs* x.raw* >/dev/null 2>&1 && fail "a refused command left a file"
# Interrupted create and extract leave neither a partial output nor a temporary file,
# and the signal still ends the process (128 + signal in a shell).
python3 - "$LAZYSNAP" "$WORK/outputs" <<'PY' || fail "interrupted writes left files behind"
import os, signal, subprocess, sys, time
lazysnap, work = sys.argv[1], sys.argv[2]
def default_signals():
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
def output_fd_size(pid):
    # The output: a descriptor into this directory, unnamed (O_TMPFILE) or not.
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(work) and "in.fifo" not in target and "fresh" not in target:
                return os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            pass
    return -1
def leftovers(name):
    return [f for f in os.listdir(work) if f.startswith(name)]
ok = True
for sig in (signal.SIGKILL, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    # create from a stream that pauses after 8 MiB: interrupted in the middle of writing.
    p = subprocess.Popen([lazysnap, "create", "-", "-o", f"{work}/interrupted.lzs", "--level", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=default_signals)
    p.stdin.write(os.urandom(8 << 20))
    p.stdin.flush()
    deadline = time.time() + 30
    while output_fd_size(p.pid) <= 0 and time.time() < deadline:
        time.sleep(0.01)
    written = output_fd_size(p.pid)
    p.send_signal(sig)
    p.wait()
    p.stdin.close()
    if written <= 0 or p.returncode != -sig or leftovers("interrupted.lzs"):
        print(f"create, signal {sig}: wrote {written}, exit {p.returncode}, left {leftovers('interrupted.lzs')}")
        ok = False
    # extract: the signal lands during the write, or after it completed.
    p = subprocess.Popen([lazysnap, "extract", f"{work}/../snap.lzs", "-o", f"{work}/interrupted.raw"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn=default_signals)
    while output_fd_size(p.pid) <= 0 and p.poll() is None:
        time.sleep(0.001)
    p.send_signal(sig)
    p.wait()
    left = leftovers("interrupted.raw")
    # A signal after the rename finds the image complete: then it must be the whole of it.
    complete = left == ["interrupted.raw"] and p.returncode in (0, -sig) and \
        open(f"{work}/interrupted.raw", "rb").read() == open(f"{work}/../image.raw", "rb").read()
    if not complete and (p.returncode != -sig or left):
        print(f"extract, signal {sig}: exit {p.returncode}, left {left}")
        ok = False
    for f in left:
        os.unlink(f"{work}/{f}")
sys.exit(0 if ok else 1)
PY
cd "$WORK" || exit 1

# Messages: appended bytes are not a truncation; verify names the image offset.
cp "$WORK/plain.lzs" "$WORK/appended.lzs"
printf 'garbage' >>"$WORK/appended.lzs"
expect_exit 1 "$LAZYSNAP" verify "$WORK/appended.lzs"
expect_in "$WORK/err" "7 bytes were appended after the snapshot"
expect_exit 1 "$LAZYSNAP" verify "$WORK/flipped.lzs"
expect_in "$WORK/err" "holds image offset 131072"
expect_exit 1 "$LAZYSNAP" verify --json "$WORK/image.raw"
expect_in "$WORK/out" '"sound":false,"error":'
expect_in "$WORK/out" 'snapshot magic'
expect_exit 1 "$LAZYSNAP" inspect --json "$WORK/missing.lzs"
expect_in "$WORK/out" '"code":"NOT_FOUND"}'
# The smallest dictionary the flags allow is trained; --dictionary-always never
# silently writes a snapshot without one.
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/dict256.lzs" --dictionary-size 256 \
  --dictionary-always --json
grep -qE '"dictionary_bytes":([1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-6]),' "$WORK/out" \
  || fail "--dictionary-size 256: $(cat "$WORK/out")"
expect_exit 1 bash -c 'cat "$1" | "$2" create - -o "$3" --dictionary-always' _ "$WORK/image.raw" \
  "$LAZYSNAP" "$WORK/stream_dict.lzs"
expect_in "$WORK/err" "no dictionary: the image is a stream"
[[ -e "$WORK/stream_dict.lzs" ]] && fail "create --dictionary-always wrote a snapshot without a dictionary"
# Root without CAP_SYS_PTRACE is not told to run as root.
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
  python3 -c 'import ctypes,time; ctypes.CDLL(None).prctl(4,0,0,0,0); time.sleep(60)' &
  victim=$!
  sleep 0.3
  expect_exit 1 setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace \
    "$LAZYSNAP" create --pid $victim -o "$WORK/victim.lzs"
  expect_in "$WORK/err" "without CAP_SYS_PTRACE"
  kill $victim
  wait $victim 2>/dev/null
fi

# Siblings: other flags whose product exhausts memory; demo never touches the user's
# files; an output name as long as the file system allows; stdout that cannot be written.
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw" -o "$WORK/x.lzs" --threads 1024 --chunk-size 4M --level 22
expect_in "$WORK/err" "more than a quarter of this host's memory"
mkdir -p "$WORK/demo_dir"
echo "the user's own file" >"$WORK/demo_dir/demo.raw"
expect_exit 0 "$LAZYSNAP" demo --size 64K --dir "$WORK/demo_dir"
[[ "$(cat "$WORK/demo_dir/demo.raw")" == "the user's own file" ]] || fail "demo replaced DIR/demo.raw"
[[ $(ls "$WORK/demo_dir" | wc -l) -eq 1 ]] || fail "demo left files in DIR: $(ls "$WORK/demo_dir")"
expect_exit 2 "$LAZYSNAP" demo --size 64K --chunk-size 12K --dir "$WORK/demo_dir"
expect_exit 1 "$LAZYSNAP" demo --size 100T --dir "$WORK/demo_dir"
[[ $(ls "$WORK/demo_dir" | wc -l) -eq 1 ]] || fail "a refused demo left files in DIR"
long_name="$WORK/$(printf 'n%.0s' $(seq 1 255))"
expect_exit 0 "$LAZYSNAP" create "$WORK/image.raw" -o "$long_name" --no-dictionary
[[ -f "$long_name" ]] || fail "create to a 255-byte name wrote nothing"
rm -f "$long_name"
expect_exit 1 bash -c '"$1" inspect "$2" >/dev/full' _ "$LAZYSNAP" "$WORK/snap.lzs"
expect_in "$WORK/err" "writing standard output"

# --- usage errors: one clear line, exit 2; failed operations (a missing file too): 1 --------
expect_exit 1 "$LAZYSNAP" inspect "$WORK/missing.lzs"
one_line "$WORK/err"
expect_in "$WORK/err" "missing.lzs"
expect_exit 2 "$LAZYSNAP" verify --frobnicate "$WORK/snap.lzs"
one_line "$WORK/err"
expect_in "$WORK/err" "--frobnicate"
expect_exit 2 "$LAZYSNAP" create "$WORK/image.raw"
one_line "$WORK/err"
expect_exit 1 "$LAZYSNAP" create "$WORK/missing.raw" -o "$WORK/x.lzs"
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
