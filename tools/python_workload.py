#!/usr/bin/python3
"""python_workload: a Python process that holds a few hundred MB of ordinary objects,
for capturing with ProcessImageSource (lazysnap create --pid) in benchmarks.

It builds a deterministic mix of what Python programs hold in memory: record dicts
(ints, floats, bools, short and long strings, lists of interned tags), instances of
plain classes (with __dict__) and of __slots__ classes, lists of large ints, tuples,
text built from a word list, random hex ids and a small share of random bytes (hashes,
compressed blobs). It grows until its resident set has grown by --mb MiB, prints

    <pid> ready

on standard output (one line, flushed), a summary on standard error, and then waits:
until standard input reaches end of file (--until stdin, the default: run it with a
pipe on stdin and close the pipe to end it) or until SIGTERM/SIGINT (--until signal).
Either way it exits 0.

Usage: tools/python_workload.py [--mb 300] [--seed 1] [--until stdin|signal]
Runs on Debian 12's /usr/bin/python3 (3.11) with the standard library only.
"""

import argparse
import gc
import os
import random
import signal
import sys
import time

WORDS = (
    "the of and to in is for on that with as by at from this be are or an it not "
    "memory page snapshot restore fault chunk region process thread kernel mapping "
    "user order invoice customer product price quantity total status shipped pending "
    "address city street country email name phone account balance payment card date "
    "request response error timeout retry cache index table column value key record"
).split()
TAGS = [f"tag-{w}" for w in WORDS[:40]]
CITIES = ["Berlin", "Lagos", "Lima", "Osaka", "Oslo", "Perth", "Pune", "Quito", "Rome", "Seoul"]


class Customer:
    """A plain class: attributes live in a per-instance __dict__."""

    def __init__(self, customer_id, name, email, city, balance):
        self.customer_id = customer_id
        self.name = name
        self.email = email
        self.city = city
        self.balance = balance
        self.orders = []


class Point:
    """A __slots__ class: attributes live in the object, no __dict__."""

    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sentence(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words))


def build_batch(rng, batch, heap):
    """Adds about 1 MB of mixed objects to heap."""
    base = batch * 1000
    customers = []
    for i in range(200):
        c = Customer(
            base + i,
            f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()}",
            f"user{base + i}@example.com",
            rng.choice(CITIES),
            round(rng.uniform(-500, 5000), 2),
        )
        for _ in range(rng.randint(0, 3)):
            c.orders.append(
                {
                    "order_id": rng.getrandbits(40),
                    "status": rng.choice(("pending", "shipped", "delivered")),
                    "total": round(rng.uniform(1, 900), 2),
                    "items": [(rng.randint(1, 99999), rng.randint(1, 5)) for _ in range(rng.randint(1, 4))],
                    "note": sentence(rng, rng.randint(0, 12)),
                }
            )
        customers.append(c)
    heap.append(customers)

    records = {}
    for i in range(400):
        records[f"rec:{base}:{i}"] = {
            "id": base * 10 + i,
            "active": rng.random() < 0.8,
            "score": rng.random(),
            "tags": rng.sample(TAGS, rng.randint(0, 5)),
            "title": sentence(rng, rng.randint(3, 10)),
            "uuid": "%032x" % rng.getrandbits(128),
        }
    heap.append(records)

    heap.append([Point(rng.random(), rng.random(), rng.random()) for _ in range(800)])
    heap.append([rng.getrandbits(62) for _ in range(2000)])
    heap.append([(i, str(i), float(i)) for i in range(base, base + 500)])
    heap.append("\n".join(sentence(rng, 14) for _ in range(200)))
    heap.append(rng.randbytes(16 * 1024))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300, help="MiB of objects to build (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--until",
        choices=("stdin", "signal"),
        default="stdin",
        help="wait for end of file on stdin (default) or for SIGTERM/SIGINT",
    )
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    rng = random.Random(args.seed)
    heap = []
    start = time.monotonic()
    baseline = resident_bytes()
    target = args.mb << 20
    batch = 0
    while resident_bytes() - baseline < target:
        build_batch(rng, batch, heap)
        batch += 1
    gc.collect()
    print(
        f"python_workload: {batch} batches, {len(gc.get_objects())} tracked objects, "
        f"resident {resident_bytes() >> 20} MiB (+{(resident_bytes() - baseline) >> 20} MiB) "
        f"in {time.monotonic() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    print(f"{os.getpid()} ready", flush=True)

    if args.until == "stdin":
        sys.stdin.buffer.read()
    else:
        while True:
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
