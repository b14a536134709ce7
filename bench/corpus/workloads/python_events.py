#!/usr/bin/python3
"""python_events: a CPython process holding a very redundant heap: about a million small
dicts of the same shape (an event buffer), whose values come from small vocabularies, with
sequential ids and timestamps, plus lists of repeated short strings. This is the kind of
heap on which chunked compression lost most against whole-file zstd (issue 18: 1.33x).
Deterministic for a seed; prints "<pid> ready", then waits until stdin reaches end of file.

Usage: python_events.py [--mb 250] [--seed 1]
"""

import random
import sys

from workload_common import grow, parse_args, ready_and_wait

KINDS = ["click", "view", "scroll", "purchase", "login", "logout"]
PAGES = ["/", "/home", "/search", "/cart", "/checkout", "/account", "/help"]
DEVICES = ["ios", "android", "web"]


def main():
    args = parse_args(__doc__)
    rng = random.Random(args.seed)
    events = []
    sessions = {}
    n = 0

    def add_batch():
        nonlocal n
        for _ in range(10000):
            user = rng.randrange(5000)
            event = {"id": n, "ts": 1764000000 + n // 10, "user": user,
                     "kind": rng.choice(KINDS), "page": rng.choice(PAGES),
                     "device": DEVICES[user % 3], "ok": True}
            events.append(event)
            sessions.setdefault(user, []).append(n)
            n += 1

    grow(args.mb, add_batch)
    return ready_and_wait(f"python_events: {n} events")


if __name__ == "__main__":
    sys.exit(main())
