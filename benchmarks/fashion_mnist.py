"""Debian's Fashion-MNIST (dataset-fashion-mnist) as numpy arrays, for the scripts in benchmarks/."""
import gzip

import numpy as np

DIRECTORY = "/usr/share/datasets/fashion-mnist"


def idx(path):
    """An IDX file (gzip'd) as a uint8 array of its declared shape."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def split(name, limit=None):
    """(images, labels) of `train` or `t10k`, the first `limit` of them."""
    return (idx(f"{DIRECTORY}/{name}-images-idx3-ubyte.gz")[:limit], idx(f"{DIRECTORY}/{name}-labels-idx1-ubyte.gz")[:limit])
