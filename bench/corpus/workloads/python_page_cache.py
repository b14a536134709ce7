#!/usr/bin/python3
"""python_page_cache: a CPython web process whose heap is a cache of rendered pages
(HTML fragments and JSON bodies, built at run time from a few hundred templates with a
few fields filled in, so that every entry is its own str object) plus the small dicts
that describe each entry. Much of the heap repeats, but at distances of hundreds of KiB:
the heap on which compressing each chunk alone loses most against whole-file zstd.
Deterministic for a seed; prints "<pid> ready", then waits until stdin reaches end of file.

Usage: python_page_cache.py [--mb 250] [--seed 1] [--templates 400]
"""

import json
import random
import sys

from workload_common import grow, parse_args, ready_and_wait

WORDS = ("the of and to in is for on that with as by at from this be are or an it not "
         "fast light steel oak blue large compact wireless organic classic pro mini deluxe "
         "eco smart travel kitchen garden shipping returns warranty reviews rating stock "
         "delivery size colour material care instructions dimensions weight").split()


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
    args = parse_args(__doc__, lambda parser: parser.add_argument(
        "--templates", type=int, default=400, help="distinct page templates (default 400)"))
    rng = random.Random(args.seed)
    templates = [make_template(rng, i) for i in range(args.templates)]
    cache = {}
    n = 0

    def add_batch():
        nonlocal n
        for _ in range(1000):
            t = rng.randrange(len(templates))
            title = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}"
            html = templates[t].format(title=title, price=f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
                                       stock=rng.randint(0, 50), pid=n, reviews=rng.randint(0, 3000))
            body = json.dumps({"id": n, "template": t, "title": title,
                               "tags": [rng.choice(WORDS) for _ in range(3)]})
            cache[f"/product/{n}"] = {"html": html, "json": body, "hits": rng.randint(1, 100),
                                      "etag": f"W/\"{n:x}-{t}\""}
            n += 1

    grow(args.mb, add_batch)
    return ready_and_wait(f"python_page_cache: {n} entries")


if __name__ == "__main__":
    sys.exit(main())
