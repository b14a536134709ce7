# make_images.py: writes a.raw and b.raw, the images of the dictionary fuzz seeds
# (see README.md): low-entropy record text so that the seeds stay small, plus zero,
# duplicate and random chunks in b.raw.
import random
W = ["customer", "invoice"]
def records(r, n):
    out = []
    while sum(map(len, out)) < n:
        out.append("{%s:%s}\n" % (r.choice(W), r.choice(W)))
    return "".join(out).encode()[:n]
def image(path, chunks, chunk, kinds, seed):
    r = random.Random(seed)
    parts, first = [], None
    for i in range(chunks):
        k = kinds[i % len(kinds)]
        if k == "z": parts.append(bytes(chunk))
        elif k == "r": parts.append(r.randbytes(chunk))
        elif k == "d" and first is not None: parts.append(first)
        else:
            b = records(r, chunk); parts.append(b)
            if first is None: first = b
    open(path, "wb").write(b"".join(parts))
image("a.raw", 17, 4096, "t", 1)
image("b.raw", 27, 4096, "tttztdtttr", 2)
