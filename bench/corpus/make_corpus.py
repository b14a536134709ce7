#!/usr/bin/python3
"""make_corpus: regenerates the compression corpus of real process images into a scratch
directory (images are never committed: they are hundreds of MB each).

For each named workload it starts the program (bench/corpus/workloads/), waits for its
"<pid> ready" line, captures the process with

    lazysnap create --pid PID --freeze [--include-readonly] -o NAME.lzs --no-dictionary

then writes the raw image (`lazysnap extract`), its region list (NAME.regions: one
"OFFSET:LENGTH@ADDRESS" line per captured mapping, the grid `bench/format_sweep` cuts
chunks on) and ends the program. corpus.json lists what was made, with sizes and the
commands. The capture's own snapshot is deleted (only the raw image is measured).

Usage: bench/corpus/make_corpus.py --out DIR [--lazysnap PATH] [--only a,b] [--scale 1.0]

Workloads (--only picks some):
  python_records  CPython 3.11: many small dicts, repeated strings (a record cache)
  python_events   CPython 3.11: a million same-shaped small dicts (an event buffer)
  python_page_cache CPython 3.11: rendered pages from a few hundred templates (far repeats)
  python_mixed    CPython 3.11: tools/python_workload.py (objects, ints, text, random bytes)
  node_records    Node.js: JSON records parsed into a Map, Float64Arrays
  jvm_records     OpenJDK 17: HashMap of records with strings and lists
  postgres        PostgreSQL 15 postmaster after pgbench -i and a run (shared buffers)
  rust_store      a Rust service's state: HashMap of sessions, BTreeMaps, log strings
--scale multiplies every workload's size (0.25 for a quick corpus).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
W = os.path.join(HERE, "workloads")


def workloads(scratch, scale):
    def mb(n):
        return str(max(16, int(n * scale)))

    rust_binary = os.path.join(scratch, "rust_store")
    return {
        "python_records": {"argv": ["/usr/bin/python3", os.path.join(W, "python_records.py"), "--mb", mb(250)]},
        "python_events": {"argv": ["/usr/bin/python3", os.path.join(W, "python_events.py"), "--mb", mb(250)]},
        "python_page_cache": {"argv": ["/usr/bin/python3", os.path.join(W, "python_page_cache.py"),
                                       "--mb", mb(250)]},
        "python_mixed": {"argv": ["/usr/bin/python3", os.path.join(ROOT, "tools", "python_workload.py"),
                                  "--mb", mb(250)]},
        "node_records": {"argv": ["node", "--max-old-space-size=2048", os.path.join(W, "node_records.js"),
                                  "--mb", mb(300)]},
        "jvm_records": {"argv": ["java", "-Xmx1g", "-XX:+UseParallelGC", os.path.join(W, "JvmRecords.java"),
                                 "--mb", mb(400)]},
        "postgres": {"argv": [os.path.join(W, "postgres_pgbench.sh"), "--scale", str(max(1, int(20 * scale))),
                              "--shared-buffers", mb(256) + "MB"],
                     "capture": ["--include-readonly"]},
        "rust_store": {"argv": [rust_binary, "--mb", mb(300)],
                       "build": ["rustc", "-O", "-o", rust_binary, os.path.join(W, "rust_store.rs")]},
    }


def run(argv, **kwargs):
    print("+ " + " ".join(argv), file=sys.stderr, flush=True)
    return subprocess.run(argv, check=True, **kwargs)


def regions_of(lazysnap, snapshot):
    out = subprocess.run([lazysnap, "inspect", snapshot, "--json"], check=True,
                         capture_output=True, text=True).stdout
    regions = json.loads(out)["regions"]
    return [(r["image_offset_bytes"], r["length_bytes"], r.get("guest_address", 0)) for r in regions]


def make(name, spec, args):
    if "build" in spec:
        run(spec["build"])
    print(f"make_corpus: starting {name}", file=sys.stderr, flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(spec["argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[1] != "ready":
            raise RuntimeError(f"{name}: expected '<pid> ready', got {line!r}")
        pid = line[0]
        built = time.monotonic() - start
        snapshot = os.path.join(args.out, name + ".lzs")
        raw = os.path.join(args.out, name + ".raw")
        capture = [args.lazysnap, "create", "--pid", pid, "--freeze", *spec.get("capture", []),
                   "-o", snapshot, "--no-dictionary", "--level", "1"]
        run(capture)
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)
    regions = regions_of(args.lazysnap, snapshot)
    run([args.lazysnap, "extract", snapshot, "-o", raw])
    os.unlink(snapshot)
    with open(raw + ".regions", "w") as f:
        for offset, length, address in regions:
            f.write(f"{offset}:{length}@{address:#x}\n")
    return {"name": name, "raw": raw, "raw_bytes": os.path.getsize(raw), "regions": len(regions),
            "workload": spec["argv"], "capture": capture, "build_seconds": round(built, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="scratch directory for the images")
    parser.add_argument("--lazysnap", default=os.path.join(ROOT, "bazel-bin", "tools", "lazysnap"))
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    if not os.access(args.lazysnap, os.X_OK):
        print(f"make_corpus: {args.lazysnap} not found: tools/bazel build -c opt //tools:lazysnap",
              file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="make_corpus.") as scratch:
        specs = workloads(scratch, args.scale)
        names = [n for n in args.only.split(",") if n] or list(specs)
        unknown = [n for n in names if n not in specs]
        if unknown:
            print(f"make_corpus: unknown workload(s) {unknown}; known: {list(specs)}", file=sys.stderr)
            return 2
        made = [make(n, specs[n], args) for n in names]
    manifest = os.path.join(args.out, "corpus.json")
    previous = {}
    if os.path.exists(manifest):
        previous = {m["name"]: m for m in json.load(open(manifest))}
    previous.update({m["name"]: m for m in made})
    json.dump(list(previous.values()), open(manifest, "w"), indent=1)
    for m in made:
        print(f"{m['name']}: {m['raw_bytes'] / 2**20:.1f} MiB in {m['regions']} regions -> {m['raw']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
