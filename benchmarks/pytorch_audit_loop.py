#!/usr/bin/env python3
"""The PyTorch loop that does what `sieve audit` does with its defaults, timed end to end:
the reference for the audit's wall time (benchmarks/audit_time.sh runs both).

  pytorch_audit_loop.py [--limit 12000] [--epochs 8] [--noise 0.2] [--threads N]

On the first --limit Fashion-MNIST training images (Debian's dataset-fashion-mnist; pixels
/ 255, normalised with their mean and population std), the audit's model and optimiser:
the small CNN of pytorch_resnet18.py, batch 128, SGD lr 0.02 with momentum 0.9, Nesterov,
weight decay 5e-4, cosine schedule over the epochs, no augmentation, symmetric label noise
on --noise of the labels. Per epoch, as the audit:
- the training pass keeps each example's loss, margin and correctness (the stream that
  forgetting, AUM and cartography are built from; reduction='none', no extra pass);
- for the first half of the epochs, an eval-mode pass over the training set keeps the
  class probabilities (the verdict's average);
- at epoch ceil(epochs / 5), an eval-mode scoring pass: EL2N and per-example gradient
  norms by hand-written ghost-norm hooks (pytorch_grand.py's, PyTorch's strongest way);
- an eval-mode pass over the 10,000 test images (test accuracy).
After the last epoch, the penultimate features of the training set (embeddings). Not
included (they would only add to PyTorch's time): Sieve's kNN, the report, file writes.
Prints one JSON line: seconds in all and per part, test accuracy.

Needs numpy and torch (CPU); only for this comparison, never at run time.
"""
import argparse, json, math, os, time

import numpy as np
import torch
import torch.nn.functional as F

from fashion_mnist import normalised, sieve_normalisation, split
from pytorch_grand import GhostNorms
from pytorch_resnet18 import build


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=12000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    t_start = time.perf_counter()
    images, labels = split("train", a.limit)
    test_images, test_labels = split("t10k", None)
    mean, std = sieve_normalisation(images)
    x, xt = torch.from_numpy(normalised(images, mean, std)), torch.from_numpy(normalised(test_images, mean, std))
    y = torch.from_numpy(labels.astype(np.int64)).clone()
    rng = np.random.default_rng(0)
    flip = rng.choice(len(y), int(a.noise * len(y)), replace=False)
    y[flip] = torch.from_numpy((labels[flip] + rng.integers(1, 10, len(flip))) % 10).long()
    yt = torch.from_numpy(test_labels.astype(np.int64))
    n, classes = len(y), 10
    model = build("cnn", 1, x.shape[2], x.shape[3], None, classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = a.epochs * math.ceil(n / a.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    ghost_model = build("cnn", 1, x.shape[2], x.shape[3], None, classes)
    ghost = GhostNorms(ghost_model)
    verdict_epochs = set(range(1, math.ceil(a.epochs / 2) + 1))
    checkpoint = math.ceil(a.epochs / 5)
    parts = {"train": 0.0, "verdict_passes": 0.0, "scoring_pass": 0.0, "test": 0.0, "embeddings": 0.0}
    stream = np.zeros((a.epochs, n, 3), dtype=np.float32)   # loss, margin, correct
    prob_sum = torch.zeros(n, classes, dtype=torch.float64)

    def eval_batches(inputs, fn):
        model.eval()
        with torch.no_grad():
            for k in range(0, len(inputs), a.batch):
                fn(k, model(inputs[k:k + a.batch]))

    accuracy = float("nan")
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n)
        for k in range(0, n, a.batch):
            b = order[k:k + a.batch]
            opt.zero_grad(set_to_none=True)
            z = model(x[b])
            loss = F.cross_entropy(z, y[b], reduction="none")
            loss.mean().backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                given = z.gather(1, y[b][:, None])[:, 0]
                other = z.scatter(1, y[b][:, None], float("-inf")).max(1).values
                stream[epoch - 1, b.numpy()] = torch.stack([loss.detach(), given - other, (z.argmax(1) == y[b]).float()], 1).numpy()
        t1 = time.perf_counter(); parts["train"] += t1 - t0
        if epoch in verdict_epochs:
            eval_batches(x, lambda k, z: prob_sum[k:k + len(z)].add_(torch.softmax(z.double(), 1)))
        t2 = time.perf_counter(); parts["verdict_passes"] += t2 - t1
        if epoch == checkpoint:
            ghost_model.load_state_dict(model.state_dict())
            ghost_model.eval()
            el2n, norms = [], []
            for k in range(0, n, a.batch):
                xb, yb = x[k:k + a.batch], y[k:k + a.batch]
                with torch.no_grad():
                    el2n.append((torch.softmax(ghost_model(xb), 1) - F.one_hot(yb, classes)).norm(dim=1))
                norms.append(ghost(xb, yb))
        t3 = time.perf_counter(); parts["scoring_pass"] += t3 - t2
        correct = [0]
        eval_batches(xt, lambda k, z: correct.__setitem__(0, correct[0] + int((z.argmax(1) == yt[k:k + len(z)]).sum())))
        accuracy = correct[0] / len(yt)
        parts["test"] += time.perf_counter() - t3
    t4 = time.perf_counter()
    features = []
    body = torch.nn.Sequential(model.conv1, model.bn1, torch.nn.ReLU(), model.conv2, model.bn2, torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), model.fc1, torch.nn.ReLU()).eval()
    with torch.no_grad():
        for k in range(0, n, a.batch):
            features.append(body(x[k:k + a.batch]))
    parts["embeddings"] = time.perf_counter() - t4
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(), "examples": n,
                      "epochs": a.epochs, "seconds": time.perf_counter() - t_start,
                      "parts": {k: round(v, 3) for k, v in parts.items()}, "test_accuracy": accuracy}))


if __name__ == "__main__":
    main()
