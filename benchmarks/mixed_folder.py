#!/usr/bin/env python3
"""An ImageFolder of mixed sizes, colours and formats, and a check of Sieve's --resize
against PIL's (torchvision's transforms on PIL images).

  mixed_folder.py make OUT [--train N] [--test N] [--photos DIR] [--seed S]
      OUT/train/<class>/<i>.png|jpg and OUT/test/...: the first N Fashion-MNIST images
      (Debian's dataset-fashion-mnist), each upscaled 1-4.5x (bicubic), cropped or padded
      to an aspect ratio of 0.6-1.6, a third tinted RGB, half saved as JPEG (quality
      80-95), half as PNG. --photos copies every .jpg/.png under DIR (real photos, e.g.
      Debian's mate-backgrounds) into the training classes, one class after another:
      out-of-distribution examples an audit should put at its outlier end.
  mixed_folder.py compare OUT CONVERTED --resize S|HxW
      Applies torchvision's Resize(S) + CenterCrop(S) (or Resize((H, W))) with PIL 13's
      bilinear filter to every training image of OUT, converted to the mode Sieve chose
      (the first image's: L or RGB), and compares with `sieve convert --data OUT
      --resize ... --out CONVERTED`: largest and mean absolute difference, share of
      differing bytes. Images and their order are the same (ImageFolder order).

Needs numpy and Pillow (pip install pillow); only for this comparison, never at run time.
"""
import argparse, os, shutil, sys
import numpy as np
from PIL import Image

from fashion_mnist import split
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def write_set(out, images, labels, rng):
    for c in CLASSES:
        os.makedirs(os.path.join(out, c), exist_ok=True)
    for i, (x, y) in enumerate(zip(images, labels)):
        im = Image.fromarray(x)
        s = rng.uniform(1, 4.5)
        side = max(8, int(round(28 * s)))
        im = im.resize((side, side), Image.BICUBIC)
        aspect = rng.uniform(0.6, 1.6)
        w, h = (int(round(side * aspect)), side) if aspect >= 1 else (side, int(round(side / aspect)))
        canvas = Image.new("L", (w, h), 0)
        canvas.paste(im, ((w - side) // 2, (h - side) // 2))   # pad the long side, crop nothing of the garment
        if rng.uniform() < 1 / 3:
            tint = rng.uniform(0.5, 1, size=3)
            g = np.asarray(canvas, dtype=np.float64)
            canvas = Image.fromarray(np.clip(g[..., None] * tint, 0, 255).astype(np.uint8), "RGB")
        name = os.path.join(out, CLASSES[y], f"{i:06d}")
        if rng.uniform() < 0.5:
            canvas.save(name + ".jpg", quality=int(rng.integers(80, 96)))
        else:
            canvas.save(name + ".png")


def make(a):
    rng = np.random.default_rng(a.seed)
    (train_x, train_y), (test_x, test_y) = split("train"), split("t10k")
    if os.path.exists(a.out):
        sys.exit(f"{a.out} exists; remove it or name a new folder")
    write_set(os.path.join(a.out, "train"), train_x[:a.train], train_y[:a.train], rng)
    write_set(os.path.join(a.out, "test"), test_x[:a.test], test_y[:a.test], rng)
    photos = []
    if a.photos:
        for root, _, files in os.walk(a.photos):
            photos += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".jpg", ".jpeg", ".png"))]
        for k, p in enumerate(sorted(photos)):
            shutil.copy(p, os.path.join(a.out, "train", CLASSES[k % 10], f"photo_{k:03d}{os.path.splitext(p)[1].lower()}"))
    print(f"{a.train} training (+{len(photos)} photos) and {a.test} test images of mixed sizes -> {a.out}")


def transform(im, resize):
    if "x" in resize:
        h, w = map(int, resize.split("x"))
        return im.resize((w, h), Image.BILINEAR)
    s = int(resize)
    w, h = im.size
    if w <= h:
        size = (s, int(s * h / w))
    else:
        size = (int(s * w / h), s)
    im = im.resize(size, Image.BILINEAR)
    w, h = im.size
    top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
    return im.crop((left, top, left + s, top + s))


def compare(a):
    root = os.path.join(a.out, "train") if os.path.isdir(os.path.join(a.out, "train")) else a.out
    classes = sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
    files = [os.path.join(root, c, f) for c in classes
             for f in sorted(os.listdir(os.path.join(root, c)), key=lambda n: n.encode()) if not f.startswith(".")]
    sieve = np.load(os.path.join(a.converted, "train_images.npy"))
    if len(files) != len(sieve):
        sys.exit(f"{len(files)} images in {root}, {len(sieve)} in {a.converted}")
    mode = "L" if sieve.shape[3] == 1 else "RGB"
    worst, total, differing, count = 0, 0.0, 0, 0
    for k, path in enumerate(files):
        with Image.open(path) as im:
            ref = np.asarray(transform(im.convert(mode), a.resize), dtype=np.int16).reshape(sieve.shape[1:])
        d = np.abs(ref - sieve[k].astype(np.int16))
        if d.max() > worst:
            worst, where = int(d.max()), path
        total += d.sum(); differing += int((d > 0).sum()); count += d.size
    print(f"{len(files)} images, {mode}, {sieve.shape[1]}x{sieve.shape[2]}: largest difference {worst}/255"
          + (f" ({where})" if worst else "") + f", mean {total / count:.4f}, {100 * differing / count:.3f}% of bytes differ")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--train", type=int, default=5000)
    m.add_argument("--test", type=int, default=1000)
    m.add_argument("--photos")
    m.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("compare")
    c.add_argument("out")
    c.add_argument("converted")
    c.add_argument("--resize", required=True)
    a = p.parse_args()
    make(a) if a.command == "make" else compare(a)


if __name__ == "__main__":
    main()
