#!/usr/bin/python3
"""measure.py: the measurements behind bench/results/dictionary.md.

Workloads (named at the top, as every end-to-end driver here does):
  python     the private memory of a live Python process (tools/python_workload.py
             --mb 235), captured with `lazysnap create --pid --freeze`
  synthetic  the 1 GiB synthetic image of `lazysnap demo` (workload/synthetic_image.h)

For each workload, chunk size (16K, 64K) and dictionary choice (none; trained, kept even
where the held-out check would drop it), it records: file size against whole-file
`zstd -3` of the raw image, create time (training included, 2 threads), single-thread
decode rate (`verify --threads 1`: bytes of non-zero chunks per second, checksums and
reads included) and the fault latency p50/p99 of a random-order lazy restore
(`restore --access random --json`). Timed steps run --runs times; min and median are
reported. Build first: tools/bazel build -c opt //tools:lazysnap

Usage: bench/dictionary/measure.py --lazysnap BIN --dir SCRATCH [--runs 3] [--json OUT]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "..", "..", "tools", "python_workload.py")
CHUNKS = ["16K", "64K"]
DICTIONARY = {"none": ["--no-dictionary"], "dict": ["--dictionary-always"]}


def run_json(args):
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def stats(values):
    return {"min": min(values), "median": statistics.median(values), "all": values}


def measure_snapshot(lazysnap, snap, runs):
    inspect = run_json([lazysnap, "inspect", snap, "--json"])
    raw_bytes = inspect["stored_chunk_bytes"] - inspect["compressed_stored_bytes"]
    decoded_bytes = inspect["compressed_input_bytes"] + raw_bytes
    decode, p50, p99 = [], [], []
    for _ in range(runs):
        v = run_json([lazysnap, "verify", snap, "--threads", "1", "--json"])
        decode.append(decoded_bytes / v["seconds"] / 1e9)
        r = run_json([lazysnap, "restore", snap, "--access", "random", "--json"])
        p50.append(r["latency_ns"]["p50"] / 1000)
        p99.append(r["latency_ns"]["p99"] / 1000)
    return {
        "file_bytes": inspect["file_bytes"],
        "dictionary_bytes": inspect["dictionary_bytes"],
        "decode_gb_per_s": stats(decode),
        "fault_p50_us": stats(p50),
        "fault_p99_us": stats(p99),
    }


def measure_workload(name, lazysnap, source_args, raw_image, scratch, runs):
    zstd_bytes = len(subprocess.run(["zstd", "-3", "-T1", "-q", "-c", raw_image],
                                    check=True, capture_output=True).stdout)
    rows = []
    for chunk in CHUNKS:
        for choice, flags in DICTIONARY.items():
            snap = os.path.join(scratch, f"{name}-{chunk}-{choice}.lzs")
            create = []
            for _ in range(runs):
                c = run_json([lazysnap, "create", *source_args, "-o", snap, "--chunk-size", chunk,
                              "--threads", "2", "--json", *flags])
                create.append(c["memory_bytes"] / c["seconds"] / 1e6)
            # Would the default create (held-out check on) have kept the dictionary?
            default = run_json([lazysnap, "create", *source_args, "-o", snap + ".default",
                                "--chunk-size", chunk, "--threads", "2", "--json"])
            row = measure_snapshot(lazysnap, snap, runs)
            row.update(workload=name, chunk=chunk, dictionary=choice,
                       memory_bytes=c["memory_bytes"], zstd3_bytes=zstd_bytes,
                       create_mb_per_s=stats(create),
                       dictionary_seconds=c["dictionary_seconds"],
                       default_keeps_dictionary=default["dictionary_bytes"] > 0,
                       default_note=default["dictionary_note"])
            os.remove(snap + ".default")
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lazysnap", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="write every row here")
    parser.add_argument("--workloads", default="python,synthetic")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    rows = []
    if "python" in args.workloads:
        py = subprocess.Popen(["/usr/bin/python3", WORKLOAD, "--mb", "235"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            pid = py.stdout.readline().split()[0]
            raw = os.path.join(args.dir, "python.raw")
            first = os.path.join(args.dir, "python-dump.lzs")
            subprocess.run([args.lazysnap, "create", "--pid", pid, "--freeze", "-o", first,
                            "--no-dictionary"], check=True, capture_output=True)
            subprocess.run([args.lazysnap, "extract", first, "-o", raw], check=True,
                           capture_output=True)
            rows += measure_workload("python", args.lazysnap, ["--pid", pid, "--freeze"], raw,
                                     args.dir, args.runs)
        finally:
            py.stdin.close()
            py.wait()
    if "synthetic" in args.workloads:
        synth = os.path.join(args.dir, "synthetic")
        raw = os.path.join(synth, "demo.raw")
        if not os.path.exists(raw):
            os.makedirs(synth, exist_ok=True)
            subprocess.run([args.lazysnap, "demo", "--size", "1G", "--keep", "--dir", synth],
                           check=True, capture_output=True)
        rows += measure_workload("synthetic", args.lazysnap, [raw], raw, args.dir, args.runs)
    if args.json:
        with open(args.json, "a") as f:
            json.dump(rows, f, indent=1)
    for r in rows:
        print("%-9s %3s %-4s file %6.1f MiB (zstd -3 %6.1f MiB, x%.3f) dict %5.1f KiB "
              "create %4.0f/%4.0f MB/s decode %.2f/%.2f GB/s p50 %5.0f/%5.0f us "
              "p99 %6.0f/%6.0f us default-keeps %s" % (
                  r["workload"], r["chunk"], r["dictionary"], r["file_bytes"] / 2**20,
                  r["zstd3_bytes"] / 2**20, r["file_bytes"] / r["zstd3_bytes"],
                  r["dictionary_bytes"] / 1024, r["create_mb_per_s"]["min"],
                  r["create_mb_per_s"]["median"], r["decode_gb_per_s"]["min"],
                  r["decode_gb_per_s"]["median"], r["fault_p50_us"]["min"],
                  r["fault_p50_us"]["median"], r["fault_p99_us"]["min"],
                  r["fault_p99_us"]["median"], r["default_keeps_dictionary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
