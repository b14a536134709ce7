#!/usr/bin/python3
"""python_page_cache: a CPython web process whose heap is a cache of rendered pages
(HTML fragments and JSON bodies, built at run time from a few hundred templates with a
few fields filled in, so that every entry is its own str object) plus the small dicts
that describe each entry. Much of the heap repeats, but at distances of hundreds of KiB:
the heap on which compressing each chunk alone loses most against whole-file zstd.
Deterministic for a seed; prints "<pid> ready", then waits until stdin reaches end of file.

Usage: python_page_cache.py [--mb 250] [--seed 1] [--templates 400]
"""

import argparse
import gc
import json
import os
import random
import sys

WORDS = ("the of and to in is for on that with as by at from this be are or an it not "
         "fast light steel oak blue large compact wireless organic classic pro mini deluxe "
         "eco smart travel kitchen garden shipping returns warranty reviews rating stock "
         "delivery size colour material care instructions dimensions weight").split()


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_template(rng, i):
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))) + "</p>\n"
        for _ in range(rng.randint(3, 8)))
    specs = "".join(f'<li class="spec">{rng.choice(WORDS)}: {rng.choice(WORDS)}</li>\n'
                    for _ in range(rng.randint(4, 12)))
    return ('<div class="product" data-template="%d">\n<h1>{title}</h1>\n'
            '<span class="price">{price}</span><span class="stock">{stock}</span>\n' % i
            + paragraphs + '<ul class="specs">\n' + specs + "</ul>\n"
            '<a href="/product/{pid}/reviews">{reviews} reviews</a>\n</div>\n')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--templates", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    templates = [make_template(rng, i) for i in range(args.templates)]
    cache = {}
    baseline = resident_bytes()
    n = 0
    while resident_bytes() - baseline < (args.mb << 20):
        for _ in range(1000):
            t = rng.randrange(len(templates))
            title = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}"
            html = templates[t].format(title=title, price=f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
                                       stock=rng.randint(0, 50), pid=n, reviews=rng.randint(0, 3000))
            body = json.dumps({"id": n, "template": t, "title": title, "tags": [rng.choice(WORDS) for _ in range(3)]})
            cache[f"/product/{n}"] = {"html": html, "json": body, "hits": rng.randint(1, 100), "etag": f"W/\"{n:x}-{t}\""}
            n += 1
    gc.collect()
    print(f"python_page_cache: {n} entries, resident {resident_bytes() >> 20} MiB",
          file=sys.stderr, flush=True)
    print(f"{os.getpid()} ready", flush=True)
    sys.stdin.buffer.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
