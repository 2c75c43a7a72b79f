#!/usr/bin/env python3
"""Loads what `sieve cross-check --out DIR` wrote into the same network (--model: resnet18
preact-resnet18, wrn-28, resnet9 or resnet18-imagenet, pytorch_resnet18.py) in PyTorch
(float64) and compares per-example gradient norms (BN in eval mode, loss per example,
every parameter) and EL2N. Prints the max relative differences; exits 1 above --tolerance."""
import argparse, json, struct, sys

import numpy as np
import torch
import torch.nn.functional as F

from pytorch_resnet18 import ARCHITECTURES


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        dtype = {"F32": np.float32, "I32": np.int32}[e["dtype"]]
        out[name] = np.frombuffer(data[a:b], dtype=dtype).reshape(e["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--model", default="resnet18", choices=sorted(ARCHITECTURES))
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    weights, batch, sieve = (load(f"{args.dir}/{n}.safetensors") for n in ("model", "batch", "sieve"))
    x = torch.from_numpy(batch["images"].astype(np.float64))
    y = torch.from_numpy(batch["labels"].astype(np.int64))
    model = ARCHITECTURES[args.model](x.shape[1], int(weights["fc.weight" if "fc.weight" in weights else "linear.weight"].shape[0]), args.width).double().eval()
    state = {k: torch.from_numpy(v.astype(np.float64)) for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    norms, el2n = [], []
    for i in range(x.shape[0]):
        model.zero_grad()
        z = model(x[i:i + 1])
        F.cross_entropy(z, y[i:i + 1]).backward()
        norms.append(torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters())).item())
        e = torch.softmax(z, 1)[0] - F.one_hot(y[i], z.shape[1]).double()
        el2n.append(e.norm().item())
    norms, el2n = np.array(norms), np.array(el2n)
    d_norm = float(np.max(np.abs(sieve["grad_norm"] - norms) / norms))
    d_el2n = float(np.max(np.abs(sieve["el2n"] - el2n) / el2n))
    print(json.dumps({"model": args.model, "width": args.width, "examples": len(norms), "max_relative_difference_grad_norm": d_norm,
                      "max_relative_difference_el2n": d_el2n}))
    sys.exit(0 if max(d_norm, d_el2n) <= args.tolerance else 1)


if __name__ == "__main__":
    main()
