#!/usr/bin/python3
"""python_events: a CPython process holding a very redundant heap: about a million small
dicts of the same shape (an event buffer), whose values come from small vocabularies, with
sequential ids and timestamps, plus lists of repeated short strings. This is the kind of
heap on which chunked compression lost most against whole-file zstd (issue 18: 1.33x).
Deterministic for a seed; prints "<pid> ready", then waits until stdin reaches end of file.

Usage: python_events.py [--mb 250] [--seed 1]
"""

import argparse
import gc
import os
import random
import sys

KINDS = ["click", "view", "scroll", "purchase", "login", "logout"]
PAGES = ["/", "/home", "/search", "/cart", "/checkout", "/account", "/help"]
DEVICES = ["ios", "android", "web"]


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    events = []
    sessions = {}
    baseline = resident_bytes()
    n = 0
    while resident_bytes() - baseline < (args.mb << 20):
        for _ in range(10000):
            user = rng.randrange(5000)
            event = {"id": n, "ts": 1764000000 + n // 10, "user": user,
                     "kind": rng.choice(KINDS), "page": rng.choice(PAGES),
                     "device": DEVICES[user % 3], "ok": True}
            events.append(event)
            sessions.setdefault(user, []).append(n)
            n += 1
    gc.collect()
    print(f"python_events: {n} events, resident {resident_bytes() >> 20} MiB",
          file=sys.stderr, flush=True)
    print(f"{os.getpid()} ready", flush=True)
    sys.stdin.buffer.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
