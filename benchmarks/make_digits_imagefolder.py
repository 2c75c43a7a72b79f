#!/usr/bin/env python3
"""Writes scikit-learn's handwritten digits (1,797 real 8x8 scans, UCI "Optical
Recognition of Handwritten Digits", shipped inside the scikit-learn package) as an
ImageFolder: OUT/train/D/NNNN.png and OUT/test/D/NNNN.png, 32x32 grayscale (each pixel
4x4, values 0-16 scaled to 0-255), a stratified 80/20 split (seed 0). The second data
set of the verdict's evaluation (docs/performance.md, "The verdict"), in another format
than Fashion-MNIST's IDX files.

Usage: .venv-bench/bin/python benchmarks/make_digits_imagefolder.py OUT
(needs scikit-learn: benchmarks/setup-python.sh)
"""
import os
import struct
import sys
import zlib

import numpy as np
from sklearn.datasets import load_digits


def png(path, image):
    """An 8-bit grayscale PNG, written with zlib alone."""
    h, w = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main(out):
    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8).repeat(4, axis=1).repeat(4, axis=2)
    labels = digits.target
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for d in range(10):
        members = np.flatnonzero(labels == d)
        test[rng.choice(members, size=round(0.2 * len(members)), replace=False)] = True
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(out, "test" if test[i] else "train", str(label))
        os.makedirs(folder, exist_ok=True)
        png(os.path.join(folder, f"{i:04d}.png"), image)
    print(f"{(~test).sum()} training and {test.sum()} test images -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
