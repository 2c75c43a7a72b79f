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


def sieve_normalisation(images):
    """(mean, std) as Sieve fits its input normalisation: pixels / 255, the mean and the
    population standard deviation over all of `images` (floored at 1e-6), in float32."""
    x = images.astype(np.float64) / 255
    return np.float32(x.mean()), np.float32(np.sqrt(max((x * x).mean() - x.mean() ** 2, 1e-12)))


def normalised(images, mean, std):
    """`images` (N x H x W, uint8) as the float32 N x 1 x H x W inputs Sieve feeds a network."""
    return ((images.astype(np.float32) / 255 - mean) / std)[:, None].astype(np.float32)

