#!/usr/bin/env python3
"""PyTorch references for Sieve's GraNd scoring pass: per-example gradient norms over
all parameters of a network of `sieve --model` (CIFAR ResNet-18 by default; BN in eval mode
with statistics computed from the data, loss per example), computed
(1) with torch.func vmap(grad) -- the common way, materialising B x P gradients --
and (2) with hand-written hooks: one batched backward, per-layer norms from
(activation, output gradient) pairs by the mixed ghost-norm rule, no weight gradients
stored per example. Prints one JSON line with examples/s and the max relative
difference between the two methods."""
import argparse, copy, json, os, time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from pytorch_resnet18 import ARCHITECTURES, benchmark_setup, calibrate_batch_norm


def vmap_norms(model, x, y, chunk):
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p, xi, yi):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0))

    g = vmap(grad(loss), in_dims=(None, 0, 0), chunk_size=chunk)(params, x, y)
    return torch.sqrt(sum(t.flatten(1).pow(2).sum(1) for t in g.values()))


class GhostNorms:
    """Per-example squared gradient norms from hooks (Opacus-style, ghost or explicit per layer)."""

    def __init__(self, model):
        self.model, self.acts, self.sq = model, {}, None
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                m.register_forward_hook(self.save)
                m.register_full_backward_hook(self.norm)

    def save(self, m, inp, out):
        self.acts[m] = inp[0].detach()

    def norm(self, m, grad_in, grad_out):
        a, g = self.acts[m], grad_out[0].detach()
        if isinstance(m, nn.Linear):
            s = a.pow(2).sum(1) * g.pow(2).sum(1) + g.pow(2).sum(1)
        elif isinstance(m, nn.BatchNorm2d):
            xhat = (a - m.running_mean[None, :, None, None]) / torch.sqrt(m.running_var[None, :, None, None] + m.eps)
            s = (g * xhat).sum((2, 3)).pow(2).sum(1) + g.sum((2, 3)).pow(2).sum(1)
        else:
            A = F.unfold(a, m.kernel_size, padding=m.padding, stride=m.stride)   # B x CRS x T
            G = g.flatten(2)                                                       # B x K x T
            T, d, p = A.shape[2], A.shape[1], G.shape[1]
            if T * T * (d + p) < T * d * p:                                        # ghost
                s = (torch.bmm(A.transpose(1, 2), A) * torch.bmm(G.transpose(1, 2), G)).sum((1, 2))
            else:                                                                  # explicit
                s = torch.bmm(G, A.transpose(1, 2)).pow(2).sum((1, 2))
        self.sq = s if self.sq is None else self.sq + s

    def __call__(self, x, y):
        self.sq = None
        x = x.clone().requires_grad_(True)   # so the first layer's backward hook fires
        loss = F.cross_entropy(self.model(x), y, reduction="sum")
        torch.autograd.grad(loss, [x], retain_graph=False)
        return self.sq.sqrt()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18", choices=sorted(ARCHITECTURES))
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="timed rounds; the median is reported")
    ap.add_argument("--chunk", type=int, default=32, help="vmap chunk size (memory)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--skip-vmap", action="store_true")
    args = ap.parse_args()
    model, x, y, _ = benchmark_setup(args)
    calibrate_batch_norm(model, x)   # batch-norm statistics from the data, as in a checkpoint
    model.eval()
    ghost = GhostNorms(copy.deepcopy(model))   # hooks on a copy: vmap must see a hook-free model

    def rate(fn, repeats):
        fn()
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            rates.append(args.steps * args.batch / (time.perf_counter() - t0))
        return sorted(rates)[len(rates) // 2]

    result = {"framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
              "model": args.model, "width": args.width, "batch": args.batch, "input": args.input}
    result["ghost_hooks_examples_per_second"] = rate(lambda: ghost(x, y), args.repeats)
    if not args.skip_vmap:   # one round: vmap is slow, and far behind either way
        result["vmap_examples_per_second"] = rate(lambda: vmap_norms(model, x, y, args.chunk), 1)
        a, b = ghost(x, y), vmap_norms(model, x, y, args.chunk)
        result["max_relative_difference_ghost_vs_vmap"] = float(((a - b).abs() / b).max())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
