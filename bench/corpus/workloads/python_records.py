#!/usr/bin/python3
"""python_records: a CPython process whose heap is many small dicts and repeated strings
(a cache of API records, as a web service keeps), for the compression corpus.

It builds --mb MiB (resident growth) of: record dicts with a fixed set of keys, values
drawn from small vocabularies (so most strings repeat), per-record lists of tags, a
by-city index (dict of lists), and formatted log lines. Deterministic for a seed. Prints
"<pid> ready" on stdout when done, then waits until stdin reaches end of file.

Usage: python_records.py [--mb 250] [--seed 1]
"""

import random
import sys

from workload_common import grow, parse_args, ready_and_wait

FIRST = ["Ada", "Alan", "Barbara", "Dennis", "Edsger", "Grace", "Jim", "Ken", "Leslie",
         "Linus", "Margaret", "Niklaus", "Radia", "Rob", "Tony", "Yukihiro"]
LAST = ["Lovelace", "Turing", "Liskov", "Ritchie", "Dijkstra", "Hopper", "Gray", "Thompson",
        "Lamport", "Torvalds", "Hamilton", "Wirth", "Perlman", "Pike", "Hoare", "Matsumoto"]
CITIES = ["Berlin", "Lagos", "Lima", "Osaka", "Oslo", "Perth", "Pune", "Quito", "Rome",
          "Seoul", "Austin", "Cairo", "Dublin", "Hanoi", "Kyiv", "Porto"]
STATUSES = ["active", "suspended", "pending_verification", "closed"]
PLANS = ["free", "team", "business", "enterprise"]
TAGS = ["beta", "vip", "churn-risk", "newsletter", "mobile", "desktop", "api", "sso",
        "eu", "us", "apac", "trial", "partner", "internal"]
PATHS = ["/api/v1/users", "/api/v1/orders", "/api/v1/search", "/healthz", "/login",
         "/api/v2/invoices", "/static/app.js", "/api/v1/cart"]


def main():
    args = parse_args(__doc__)
    rng = random.Random(args.seed)
    records = {}
    by_city = {}
    log = []
    n = 0

    def add_batch():
        nonlocal n
        for _ in range(5000):
            first, last, city = rng.choice(FIRST), rng.choice(LAST), rng.choice(CITIES)
            record = {
                "id": n,
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{n % 97}@example.com",
                "city": city,
                "status": rng.choice(STATUSES),
                "plan": rng.choice(PLANS),
                "balance": round(rng.uniform(0, 1000), 2),
                "logins": rng.randint(0, 500),
                "tags": rng.sample(TAGS, rng.randint(1, 4)),
                "address": {"street": f"{rng.randint(1, 200)} {rng.choice(LAST)} Street",
                            "zip": f"{rng.randint(10000, 99999)}", "country": city[:2].upper()},
            }
            records[f"user:{n}"] = record
            by_city.setdefault(city, []).append(n)
            if n % 4 == 0:
                log.append(f"2026-11-28T12:{n % 60:02d}:{n % 59:02d}Z GET "
                           f"{rng.choice(PATHS)}?user={n} 200 {rng.randint(1, 900)}ms")
            n += 1

    grow(args.mb, add_batch)
    return ready_and_wait(f"python_records: {n} records")


if __name__ == "__main__":
    sys.exit(main())
