#!/usr/bin/env python3
"""Feeds the pred_probs.npy of `sieve audit --folds K` to cleanlab, unchanged.

Usage: benchmarks/cleanlab_check.py RUN_DIR
(RUN_DIR from `sieve audit --noise ... --folds K --out RUN_DIR`; needs numpy, cleanlab and
scikit-learn: `.venv-bench/bin/pip install cleanlab scikit-learn`.)

Prints, for the injected noise (flipped.txt): the AUROC of cleanlab's self-confidence and
normalised-margin label-quality scores computed by cleanlab from Sieve's pred_probs, the
same AUROC of Sieve's own self_confidence / normalized_margin columns (they must agree),
and the precision and recall of cleanlab.filter.find_label_issues(labels, pred_probs).
Exits 1 when cleanlab and Sieve disagree.
"""
import csv
import json
import os
import sys

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.metrics import roc_auc_score


def main(run):
    probs = np.load(os.path.join(run, "pred_probs.npy"))
    with open(os.path.join(run, "scores.csv")) as f:
        rows = list(csv.DictReader(f))
    labels = np.array([int(r["label"]) for r in rows])
    flipped = np.zeros(len(labels), dtype=bool)
    with open(os.path.join(run, "flipped.txt")) as f:
        for line in f:
            if line.strip():
                flipped[int(line)] = True
    meta = json.load(open(os.path.join(run, "meta.json")))
    print(f"{run}: pred_probs {probs.shape} {probs.dtype}, {flipped.sum()} flipped of {len(labels)}, "
          f"{meta.get('folds')} folds, {meta.get('noise')}")
    assert probs.shape == (len(labels), probs.shape[1]) and np.allclose(probs.sum(1), 1), "rows must be distributions"
    ok = True
    for method, column in [("self_confidence", "self_confidence"), ("normalized_margin", "normalized_margin")]:
        quality = get_label_quality_scores(labels, probs, method=method)
        ours = np.array([float(r[column]) for r in rows])
        auroc = roc_auc_score(flipped, -quality)
        auroc_ours = roc_auc_score(flipped, -ours)
        agree = np.allclose(quality, ours, atol=1e-6)
        ok &= agree
        print(f"  {method:18s} AUROC cleanlab {auroc:.4f}  sieve column {auroc_ours:.4f}  values agree: {agree}")
    issues = find_label_issues(labels, probs)
    tp = (issues & flipped).sum()
    print(f"  find_label_issues: {issues.sum()} flagged, precision {tp / max(1, issues.sum()):.4f}, "
          f"recall {tp / max(1, flipped.sum()):.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
