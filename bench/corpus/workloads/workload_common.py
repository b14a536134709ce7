"""workload_common: what the corpus's Python workloads share: the command line (--mb,
--seed), growing the heap until the resident set has grown by --mb MiB, and the
"<pid> ready" handshake with make_corpus.py (then wait until stdin reaches end of file).
"""

import argparse
import gc
import os
import sys


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def parse_args(doc, extra=lambda parser: None):
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=250, help="MiB of heap to build (default 250)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    extra(parser)
    return parser.parse_args()


def grow(mb, add_batch):
    """Calls add_batch() until the resident set has grown by mb MiB."""
    baseline = resident_bytes()
    while resident_bytes() - baseline < (mb << 20):
        add_batch()


def ready_and_wait(summary):
    """Reports the heap, says "<pid> ready" on stdout and waits for end of file on stdin."""
    gc.collect()
    print(f"{summary}, resident {resident_bytes() >> 20} MiB", file=sys.stderr, flush=True)
    print(f"{os.getpid()} ready", flush=True)
    sys.stdin.buffer.read()
    return 0
