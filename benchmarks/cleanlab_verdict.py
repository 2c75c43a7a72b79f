#!/usr/bin/env python3
"""Sieve's audit verdict next to cleanlab's, on the same examples and noisy labels.

Usage: benchmarks/cleanlab_verdict.py AUDIT_DIR [--folds 5] [--epochs 8]
                                      [--images PATH] [--labels PATH] [--threads 2]

AUDIT_DIR is what `sieve audit --limit N --noise KIND:RATE --epochs E --out AUDIT_DIR`
wrote (data: Fashion-MNIST, model: cnn). Needs torch, numpy, cleanlab and scikit-learn
(benchmarks/setup-python.sh puts them in .venv-bench).

What it does:
  1. cleanlab's way: K-fold (stratified by the noisy label, seeded with the audit's seed)
     out-of-fold class probabilities from Sieve's small CNN rebuilt in PyTorch (CPU):
     conv3x3(32, no bias)-BN-ReLU, conv3x3(64, no bias)-BN-ReLU, max-pool 2, fc 128-ReLU,
     fc classes, unpadded convolutions, Sieve's initialisation; trained --epochs epochs per
     fold with the audit's optimiser from meta.json (SGD, peak lr decayed per step to 0 by
     a cosine, momentum, Nesterov, weight decay on every parameter, batch size, the last
     partial batch kept, no augmentation), inputs scaled to [0,1] and normalised by the
     mean/std of all N training images (as Sieve fits it: pixels only, no labels).
  2. cleanlab.filter.find_label_issues(labels, pred_probs) with its defaults, and
     cleanlab.count.num_label_issues (the estimated number of label issues: its default
     'off_diagonal', plus 'off_diagonal_calibrated'), on (a) those out-of-fold
     probabilities and (b) Sieve's verdict_probs.npy (the class probabilities the audit's
     verdict reads, from its own single training run).
  3. Against flipped.txt (the injected noise): estimated count, flagged count, precision,
     recall and F1 of Sieve's verdict (label_issues.csv, meta.json label_errors.estimated)
     and of cleanlab (a) and (b); AUROC and average precision of cleanlab's self-confidence
     label-quality score (cleanlab.rank.get_label_quality_scores, lower = more suspicious)
     for (a) and (b) and of Sieve's `suspicion` column (higher = more suspicious); wall time
     of cleanlab's route (K trainings with their predictions + find_label_issues) against
     the audit's `seconds` (its whole run: training, scoring passes and verdict).
Prints a table and writes the same to AUDIT_DIR/cleanlab_verdict.json.

Sieve's `cnn` has fixed channel widths (32, 64, 128); meta.json's `width` scales only
resnet18 and is not used here.
"""
import argparse
import csv
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import cleanlab
from cleanlab.count import num_label_issues
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

DATA_DIRS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}


# ---------------------------------------------------------------- audit folder

def read_idx(path):
    """An IDX file (optionally gzip'd) as a numpy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * d:8 + 4 * d], "big") for d in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    return data.reshape(shape)


def load_audit(audit):
    def path(name):
        return os.path.join(audit, name)

    with open(path("meta.json")) as f:
        meta = json.load(f)
    with open(path("scores.csv")) as f:
        rows = list(csv.DictReader(f))
    if [int(r["index"]) for r in rows] != list(range(len(rows))):
        raise ValueError("scores.csv rows are not in index order 0..N-1")
    a = {
        "meta": meta,
        "labels": np.array([int(r["label"]) for r in rows]),
        "original": np.array([int(r["original_label"]) for r in rows]),
        "suspicion": np.array([float(r["suspicion"]) for r in rows]),
        # with --val, scores.csv names each example's position in the data set
        "source": np.array([int(r["source_index"]) for r in rows]) if "source_index" in rows[0] else None,
    }
    n = len(rows)
    flipped = None
    if os.path.exists(path("flipped.txt")):
        flipped = np.zeros(n, dtype=bool)
        with open(path("flipped.txt")) as f:
            for line in f:
                if line.strip():
                    flipped[int(line)] = True
    a["flipped"] = flipped
    sieve_flagged = np.zeros(n, dtype=bool)
    with open(path("label_issues.csv")) as f:
        for r in csv.DictReader(f):
            sieve_flagged[int(r["index"])] = True
    a["sieve_flagged"] = sieve_flagged
    a["verdict_probs"] = np.load(path("verdict_probs.npy"))
    if a["verdict_probs"].shape[0] != n:
        raise ValueError(f"verdict_probs.npy has {a['verdict_probs'].shape[0]} rows, scores.csv {n}")
    return a


def load_images(a, images_path, labels_path):
    """The audit's N training images as float32 [N, 1, H, W] in [0, 1]."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    n = len(a["labels"])
    rows = a["source"] if a["source"] is not None else np.arange(n)
    if rows.max() >= len(images):
        raise ValueError(f"{images_path} has {len(images)} images, the audit needs index {rows.max()}")
    if not np.array_equal(labels[rows], a["original"]):
        raise ValueError("the data set's labels differ from scores.csv original_label: not the audit's images")
    x = images[rows].astype(np.float32) / 255
    return x[:, None, :, :] if x.ndim == 3 else x


# ---------------------------------------------------------------- Sieve's cnn in PyTorch

class SieveCNN(nn.Module):
    """Sources/Trainer/Models.swift, case .cnn."""

    def __init__(self, channels, height, width, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(32)          # eps 1e-5, momentum 0.1, as Sieve's
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        pooled = ((height - 4) // 2) * ((width - 4) // 2) * 64
        self.fc1 = nn.Linear(pooled, 128)
        self.fc2 = nn.Linear(128, classes)
        # Sieve: conv He-normal with fan-out std sqrt(2 / (K*3*3)); linear weight and bias
        # uniform in +-1/sqrt(fan_in); batch norm gamma 1, beta 0
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        for fc in (self.fc1, self.fc2):
            bound = 1 / fc.in_features ** 0.5
            nn.init.uniform_(fc.weight, -bound, bound)
            nn.init.uniform_(fc.bias, -bound, bound)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = torch.flatten(F.max_pool2d(x, 2), 1)
        return self.fc2(F.relu(self.fc1(x)))


def train_fold(x, y, held, meta, epochs, seed):
    """Trains on x[train] with Sieve's optimiser; returns float64 probabilities of x[held]."""
    torch.manual_seed(seed)
    model = SieveCNN(x.shape[1], x.shape[2], x.shape[3], int(meta["classes"]))
    peak, batch = float(meta["lr"]), int(meta["batch"])
    opt = torch.optim.SGD(model.parameters(), lr=peak, momentum=float(meta["momentum"]),
                          nesterov=bool(meta["nesterov"]), weight_decay=float(meta["weight_decay"]))
    train = np.setdiff1d(np.arange(len(x)), held)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train]).long()
    steps_per_epoch = -(-len(train) // batch)
    total = steps_per_epoch * epochs
    order_rng = torch.Generator().manual_seed(seed)
    step = 0
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=order_rng)
        for first in range(0, len(train), batch):
            take = order[first:first + batch]
            for g in opt.param_groups:   # Sieve's cosine: set before each step, 0-based step
                g["lr"] = peak * 0.5 * (1 + np.cos(np.pi * min(1.0, step / max(1, total))))
            loss = F.cross_entropy(model(xt[take]), yt[take])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    model.eval()
    out = []
    with torch.no_grad():
        xh = torch.from_numpy(x[held])
        for first in range(0, len(held), 512):
            out.append(torch.softmax(model(xh[first:first + 512]).double(), 1))
    return torch.cat(out).numpy(), loss.item()


# ---------------------------------------------------------------- measures

def detection(flagged, flipped, estimated, calibrated=None):
    r = {"estimated": None if estimated is None else float(estimated),
         "estimated_calibrated": None if calibrated is None else float(calibrated),
         "flagged": int(flagged.sum())}
    if flipped is not None:
        tp = int((flagged & flipped).sum())
        p = tp / flagged.sum() if flagged.sum() else 0.0
        rec = tp / flipped.sum() if flipped.sum() else 0.0
        r.update(true_positives=tp, precision=float(p), recall=float(rec),
                 f1=float(2 * p * rec / (p + rec)) if p + rec else 0.0)
    return r


def ranking(suspicious, flipped):
    """AUROC and AP of a score where higher = more suspicious."""
    if flipped is None or flipped.all() or not flipped.any():
        return {"auroc": None, "ap": None}
    return {"auroc": float(roc_auc_score(flipped, suspicious)),
            "ap": float(average_precision_score(flipped, suspicious))}


def cleanlab_verdict(labels, probs, flipped):
    t0 = time.perf_counter()
    issues = find_label_issues(labels, probs)
    seconds = time.perf_counter() - t0
    estimate = num_label_issues(labels, probs)
    calibrated = num_label_issues(labels, probs, estimation_method="off_diagonal_calibrated")
    r = detection(issues, flipped, estimate, calibrated)
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    r["self_confidence"] = ranking(-quality, flipped)
    r["find_label_issues_seconds"] = seconds
    r["accuracy_vs_given_labels"] = float((probs.argmax(1) == labels).mean())
    return r, issues


def fmt(v, spec):
    """format(v, spec), or a dash of the same width for a missing value."""
    width = int(spec.split(".")[0] or 0)
    return format("-", f">{width}") if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("audit")
    ap.add_argument("--folds", type=int, default=5,
                    help="folds of cleanlab's own training; 0 = none (cleanlab on Sieve's probabilities only, "
                         "e.g. on the full training set, where 5 PyTorch trainings take hours on 2 cores)")
    ap.add_argument("--epochs", type=int, default=8, help="epochs per fold")
    ap.add_argument("--images", help="train-images IDX(.gz) (default: the audit's data set)")
    ap.add_argument("--labels", help="train-labels IDX(.gz), to check the images line up")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    a = load_audit(args.audit)
    meta = a["meta"]
    if meta.get("model") != "cnn":
        sys.exit(f"{args.audit}: the audit trained {meta.get('model')!r}; only Sieve's cnn is rebuilt here")
    if meta.get("augment", "none") != "none":
        print(f"note: the audit used augmentation {meta['augment']!r}; these trainings use none", file=sys.stderr)
    data_dir = DATA_DIRS.get(meta.get("data"), meta.get("data", ""))
    images_path = args.images or os.path.join(data_dir, "train-images-idx3-ubyte.gz")
    labels_path = args.labels or os.path.join(data_dir, "train-labels-idx1-ubyte.gz")
    labels, flipped = a["labels"], a["flipped"]
    n = len(labels)
    x = load_images(a, images_path, labels_path)
    mean, std = float(x.mean(dtype=np.float64)), float(x.std(dtype=np.float64))
    x = ((x - mean) / std).astype(np.float32)
    seed = int(meta.get("seed", 0))

    # 1. out-of-fold probabilities, cleanlab's way
    t0 = time.perf_counter()
    probs = np.full((n, int(meta["classes"])), np.nan)
    fold_seconds, fold_losses = [], []
    if args.folds == 1 or args.folds < 0:
        sys.exit("--folds: 0 (no training of cleanlab's own) or at least 2")
    splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=seed) if args.folds else None
    for k, (_, held) in enumerate(splitter.split(np.zeros(n), labels) if splitter else []):
        f0 = time.perf_counter()
        probs[held], last_loss = train_fold(x, labels, held, meta, args.epochs, seed + k)
        fold_seconds.append(time.perf_counter() - f0)
        fold_losses.append(last_loss)
        print(f"fold {k + 1}/{args.folds}: {len(held)} held out, {fold_seconds[-1]:.1f} s, "
              f"last training loss {last_loss:.3f}", file=sys.stderr, flush=True)
    train_seconds = time.perf_counter() - t0

    # 2. cleanlab on (a) its own probabilities and (b) Sieve's verdict_probs
    own, own_issues = cleanlab_verdict(labels, probs, flipped) if args.folds else (None, None)
    on_sieve, sieve_probs_issues = cleanlab_verdict(labels, a["verdict_probs"], flipped)
    sieve = detection(a["sieve_flagged"], flipped, meta.get("label_errors", {}).get("estimated"))
    sieve["suspicion"] = ranking(a["suspicion"], flipped)
    if own is not None:
        own["accuracy_vs_original_labels"] = float((probs.argmax(1) == a["original"]).mean())

    result = {
        "audit": os.path.abspath(args.audit),
        "examples": n, "flipped": None if flipped is None else int(flipped.sum()), "noise": meta.get("noise"),
        "audit_epochs": meta.get("epochs"), "verdict_epochs": meta.get("verdict_epochs"),
        "sieve": sieve,
        "cleanlab_own_cv": own,
        "cleanlab_on_sieve_probs": on_sieve,
        "flagged_by_both": {"sieve_and_cleanlab_own_cv": None if own is None else int((a["sieve_flagged"] & own_issues).sum()),
                            "sieve_and_cleanlab_on_sieve_probs": int((a["sieve_flagged"] & sieve_probs_issues).sum())},
        "seconds": {"sieve_audit": meta.get("seconds"),
                    "cleanlab_trainings": train_seconds,
                    "cleanlab_total": None if own is None else train_seconds + own["find_label_issues_seconds"],
                    "per_fold": fold_seconds},
        "cross_validation": {"folds": args.folds, "epochs_per_fold": args.epochs, "seed": seed,
                             "model": "Sieve cnn in PyTorch", "lr": meta["lr"], "batch": meta["batch"],
                             "momentum": meta["momentum"], "nesterov": meta["nesterov"],
                             "weight_decay": meta["weight_decay"], "schedule": "cosine per step to 0",
                             "normalization": {"mean": mean, "std": std}, "threads": torch.get_num_threads(),
                             "last_training_loss_per_fold": fold_losses},
        "versions": {"cleanlab": cleanlab.__version__, "torch": torch.__version__, "numpy": np.__version__},
    }
    with open(os.path.join(args.audit, "cleanlab_verdict.json"), "w") as f:
        json.dump(result, f, indent=2)

    # 3. the table
    print(f"{args.audit}: {n} examples, {result['flipped']} flipped ({meta.get('noise')}); "
          f"audit {meta.get('epochs')} epochs, cleanlab {args.folds} folds x {args.epochs} epochs")
    head = f"{'':34s} {'estimated':>9s} {'est.cal':>7s} {'flagged':>7s} {'prec':>6s} {'recall':>6s} {'F1':>6s} " \
           f"{'AUROC':>6s} {'AP':>6s} {'seconds':>8s}"
    print(head)
    lines = [("Sieve verdict (suspicion)", sieve, sieve["suspicion"], meta.get("seconds"))]
    if own is not None:
        lines.append((f"cleanlab, own {args.folds}-fold CV", own, own["self_confidence"], result["seconds"]["cleanlab_total"]))
    lines.append(("cleanlab on Sieve verdict_probs", on_sieve, on_sieve["self_confidence"], on_sieve["find_label_issues_seconds"]))
    for name, r, rank, secs in lines:
        print(f"{name:34s} {fmt(r['estimated'], '9.1f')} {fmt(r['estimated_calibrated'], '7.1f')} {r['flagged']:7d} "
              f"{fmt(r.get('precision'), '6.3f')} {fmt(r.get('recall'), '6.3f')} {fmt(r.get('f1'), '6.3f')} "
              f"{fmt(rank['auroc'], '6.4f')} {fmt(rank['ap'], '6.4f')} {fmt(secs, '8.1f')}")
    print(f"(AUROC/AP: Sieve's suspicion column; cleanlab's self-confidence score. estimated: Sieve's "
          f"label_errors.estimated, cleanlab's num_label_issues; est.cal: 'off_diagonal_calibrated'. seconds: "
          f"the whole audit; {args.folds} trainings + find_label_issues "
          f"({np.mean(fold_seconds) if fold_seconds else 0:.1f} s per fold); find_label_issues alone)")
    if own is not None:
        print(f"out-of-fold accuracy: {own['accuracy_vs_given_labels']:.4f} vs the given labels, "
              f"{own['accuracy_vs_original_labels']:.4f} vs the original ones; flagged by both Sieve and cleanlab (a): "
              f"{result['flagged_by_both']['sieve_and_cleanlab_own_cv']}")
    print(f"-> {os.path.join(args.audit, 'cleanlab_verdict.json')}")


if __name__ == "__main__":
    main()
