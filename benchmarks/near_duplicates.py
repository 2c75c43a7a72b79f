#!/usr/bin/env python3
"""Planted near duplicates: how well an audit's near_duplicates.csv finds copies with another label.

  benchmarks/near_duplicates.py make OUT [LIMIT] [RATE]   Fashion-MNIST's first LIMIT (12,000) training
      images with RATE (1%) of them overwritten by copies of other training images, each copy given a
      label other than its source's; the test set unchanged (IDX files for `sieve audit --data OUT`);
      OUT/planted.csv lists (copy, source).
  benchmarks/near_duplicates.py score OUT AUDIT            precision and recall of the examples AUDIT's
      near_duplicates.csv marks near_duplicate=1 with conflict=1, against the planted pairs' examples.
Needs only NumPy."""
import os, sys
import numpy as np

from fashion_mnist import DIRECTORY as SRC, idx

def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())

def make(out, limit=12000, rate=0.01):
    images = idx(f"{SRC}/train-images-idx3-ubyte.gz")[:limit].copy()
    labels = idx(f"{SRC}/train-labels-idx1-ubyte.gz")[:limit].copy()
    rng = np.random.default_rng(0)
    count = int(round(rate * limit))
    chosen = rng.permutation(limit)[:2 * count]
    copies, sources = chosen[:count], chosen[count:]
    for c, s in zip(copies, sources):
        images[c] = images[s]
        labels[c] = (labels[s] + rng.integers(1, 10)) % 10
    os.makedirs(out, exist_ok=True)
    write_idx(f"{out}/train-images-idx3-ubyte", images)
    write_idx(f"{out}/train-labels-idx1-ubyte", labels)
    write_idx(f"{out}/t10k-images-idx3-ubyte", idx(f"{SRC}/t10k-images-idx3-ubyte.gz"))
    write_idx(f"{out}/t10k-labels-idx1-ubyte", idx(f"{SRC}/t10k-labels-idx1-ubyte.gz"))
    with open(f"{out}/planted.csv", "w") as f:
        f.write("copy,source\n" + "".join(f"{c},{s}\n" for c, s in zip(copies, sources)))
    print(f"{out}: {limit} training images, {count} copies of other images with another label")

def score(out, audit):
    planted = np.loadtxt(f"{out}/planted.csv", delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    truth = set(planted.ravel().tolist())
    rows = np.loadtxt(f"{audit}/near_duplicates.csv", delimiter=",", skiprows=1, ndmin=2)
    flagged = set(int(r[0]) for r in rows if r[5] == 1 and r[6] == 1)
    found = len(flagged & truth)
    pairs = sum(1 for c, s in planted if c in flagged and s in flagged)
    print(f"planted pairs {len(planted)} ({len(truth)} examples); flagged conflicting near duplicates {len(flagged)}")
    print(f"precision {found / max(1, len(flagged)):.3f}, recall {found / len(truth):.3f}; pairs with both ends flagged {pairs}")

if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2], *(int(sys.argv[3]),) if len(sys.argv) > 3 else (), *(float(sys.argv[4]),) if len(sys.argv) > 4 else ())
    elif len(sys.argv) == 4 and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
