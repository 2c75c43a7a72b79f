#!/usr/bin/env python3
"""A model trained in PyTorch, scored by Sieve: the check of `sieve score weights`.

  pytorch_weights.py train OUT [--model resnet18] [--width 8] [--limit 1000] [--epochs 1]
      Trains the network of pytorch_resnet18.py (float32, SGD) on the first --limit
      Fashion-MNIST training images (Debian's dataset-fashion-mnist), fed as Sieve feeds
      its networks (pixels / 255, per-channel mean and population std of those images),
      saves OUT/model.safetensors (the state_dict, PyTorch names) and each example's EL2N
      and loss-gradient norm over all parameters in float64, evaluation mode, one
      example at a time (OUT/pytorch_scores.npy, N x 2).
  pytorch_weights.py compare OUT SIEVE_DIR
      The largest relative difference to `sieve score weights --weights OUT/model.safetensors
      --model M --width W --limit N --out SIEVE_DIR`'s el2n and grand columns. An example
      beyond --tolerance is checked for a kink: the gradient norm is not a smooth function
      of the input where a ReLU input sits at zero, and when PyTorch's own float64 norm moves
      to Sieve's value (within the tolerance) under an input perturbation of 1e-6 relative
      (below float32's rounding of a deep network), no float32 computation can promise the
      tolerance there; such examples are listed apart and do not fail the comparison.

Needs numpy and torch (CPU); only for this comparison, never at run time.
"""
import argparse, csv, json, os, struct, sys

import numpy as np
import torch
import torch.nn.functional as F

from fashion_mnist import normalised, sieve_normalisation, split
from pytorch_resnet18 import ARCHITECTURES


def save_safetensors(tensors, path):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes()); offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text))); f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    blob = open(path, "rb").read()
    size = struct.unpack("<Q", blob[:8])[0]
    header, base = json.loads(blob[8:8 + size]), 8 + size
    return {k: torch.from_numpy(np.frombuffer(blob[base + v["data_offsets"][0]:base + v["data_offsets"][1]],
                                              dtype=np.float32).reshape(v["shape"]).copy())
            for k, v in header.items() if k != "__metadata__"}


def data(limit):
    """The first `limit` training images as Sieve feeds them: pixels / 255, then per channel
    the mean and population std over those images, in float32."""
    images, labels = split("train", limit)
    return torch.from_numpy(normalised(images, *sieve_normalisation(images))), torch.from_numpy(labels.astype(np.int64))


def example_scores(model, xi, yi):
    """(EL2N, loss-gradient norm over all parameters) of one example, in the model's dtype."""
    model.zero_grad()
    z = model(xi)
    F.cross_entropy(z, yi).backward()
    norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters())).item()
    el2n = (torch.softmax(z, 1)[0] - F.one_hot(yi[0], z.shape[1]).to(z.dtype)).norm().item()
    return el2n, norm


def train(a):
    torch.manual_seed(0)
    xt, yt = data(a.limit)
    model = ARCHITECTURES[a.model](1, 10, a.width)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    for epoch in range(a.epochs):
        order = torch.randperm(len(yt))
        for k in range(0, len(yt), 64):
            b = order[k:k + 64]
            opt.zero_grad()
            F.cross_entropy(model(xt[b]), yt[b]).backward()
            opt.step()
    os.makedirs(a.out, exist_ok=True)
    json.dump({"model": a.model, "width": a.width, "limit": a.limit}, open(f"{a.out}/settings.json", "w"))
    save_safetensors({k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")},
                     f"{a.out}/model.safetensors")
    model = model.double().eval()
    np.save(f"{a.out}/pytorch_scores.npy", np.array([example_scores(model, xt[i:i + 1].double(), yt[i:i + 1])
                                                     for i in range(len(yt))]))
    print(f"trained {a.model} width {a.width} on {a.limit} images for {a.epochs} epoch(s) -> {a.out}/model.safetensors")


def compare(a):
    ref = np.load(f"{a.out}/pytorch_scores.npy")
    rows = list(csv.DictReader(open(f"{a.sieve}/scores.csv")))
    if len(rows) != len(ref):
        sys.exit(f"{len(rows)} examples in {a.sieve}, {len(ref)} in {a.out}")
    el2n = np.array([float(r["el2n"]) for r in rows]); grand = np.array([float(r["grand"]) for r in rows])
    r_el2n, r_grand = np.abs(el2n - ref[:, 0]) / ref[:, 0], np.abs(grand - ref[:, 1]) / ref[:, 1]
    beyond = [int(i) for i in np.nonzero(np.maximum(r_el2n, r_grand) > a.tolerance)[0]]
    kinks = []
    if beyond:
        settings = json.load(open(f"{a.out}/settings.json"))
        model = ARCHITECTURES[settings["model"]](1, 10, settings["width"])
        model.load_state_dict(load_safetensors(f"{a.out}/model.safetensors"), strict=False)
        model = model.double().eval()
        xt, yt = data(settings["limit"])
        generator = torch.Generator().manual_seed(0)
        for i in beyond:
            xi = xt[i:i + 1].double()
            moved = [example_scores(model, xi * (1 + 1e-6 * torch.randn(xi.shape, generator=generator, dtype=xi.dtype)),
                                    yt[i:i + 1])[1] for _ in range(16)]
            if r_el2n[i] <= a.tolerance and min(abs(grand[i] - m) / m for m in moved) <= a.tolerance:
                kinks.append(i)
    others = [i for i in range(len(rows)) if i not in kinks]
    print(json.dumps({"examples": len(rows), "max_relative_difference_el2n": float(r_el2n.max()),
                      "max_relative_difference_grad_norm": float(r_grand.max()),
                      "beyond_tolerance": beyond, "at_a_kink": kinks,
                      "max_relative_difference_grad_norm_elsewhere": float(r_grand[others].max())}))
    sys.exit(0 if all(i in kinks for i in beyond) else 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("out")
    t.add_argument("--model", default="resnet18", choices=sorted(ARCHITECTURES))
    t.add_argument("--width", type=int, default=8)
    t.add_argument("--limit", type=int, default=1000)
    t.add_argument("--epochs", type=int, default=1)
    c = sub.add_parser("compare")
    c.add_argument("out")
    c.add_argument("sieve")
    c.add_argument("--tolerance", type=float, default=1e-4)
    a = p.parse_args()
    train(a) if a.command == "train" else compare(a)


if __name__ == "__main__":
    main()
