#!/usr/bin/env python3
"""The verdict's tables (docs/performance.md, "The verdict") from audit folders.

Usage: benchmarks/verdict_table.py [--recompute] AUDIT_DIR [AUDIT_DIR ...]

Each AUDIT_DIR is what `sieve audit --noise KIND:RATE ... --out AUDIT_DIR` wrote (planted
noise: scores.csv has the `original_label` column). Prints two Markdown tables, one row
per folder:
  1. the verdict against the flipped labels: estimated count with its 95% interval and
     error, noise structure, flagged, precision, recall, F1, suggested label right on the
     flagged flipped examples, test accuracy;
  2. AUROC at ranking the flipped labels of the suspicion and of each single score
     (higher = better; each score read toward its suspicious end), the best single score
     that is not the verdict's own (error_probability) in the last column.
--recompute adds a column: the AUROC of the suspicion as this version of Sieve computes it
(docs/scores.md: s x rank(error_probability) + (1 - s) x the mean rank of the
log-probability margin of verdict_probs.npy, aum and confidence), recomputed from the
folder's own columns, for folders an earlier version wrote with another formula.
Needs numpy only.
"""
import csv
import json
import os
import sys

import numpy as np

# score -> True when a higher value is more suspicious
SCORES = [("suspicion", True), ("error_probability", True), ("aum", False), ("confidence", False),
          ("correctness", False), ("first_learned_epoch", True), ("el2n_e2", True), ("prototype_distance", True)]


def fractional_ranks(x, higher):
    """Ranks in [0, 1] toward the suspicious end, ties sharing their mean (Sieve's Suspicion.ranks)."""
    v = x if higher else -x
    order = np.argsort(v, kind="mergesort")
    s = v[order]
    r = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2 / (len(s) - 1)
        i = j + 1
    return r


def auroc(score, positive):
    """Mann-Whitney AUROC of `score` (higher = positive), ties counted half."""
    r = fractional_ranks(score, True) * (len(score) - 1) + 1
    n1 = positive.sum()
    n0 = len(positive) - n1
    return (r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def recomputed_suspicion(folder, given, meta):
    p = np.load(os.path.join(folder, "verdict_probs.npy")).astype(np.float64)
    rows = np.arange(len(given))
    mine = p[rows, given]
    other = p.copy()
    other[rows, given] = -1
    margin = np.log(np.maximum(mine, 1e-12)) - np.log(np.maximum(other.max(1), 1e-12))
    views = [fractional_ranks(margin, False),
             fractional_ranks(np.load(os.path.join(folder, "aum.npy")).astype(np.float64), False),
             fractional_ranks(np.load(os.path.join(folder, "confidence.npy")).astype(np.float64), False)]
    s = meta["label_errors"]["noise_structure"]
    error = fractional_ranks(np.load(os.path.join(folder, "error_probability.npy")).astype(np.float64), True)
    return s * error + (1 - s) * sum(views) / len(views)


def load(folder):
    with open(os.path.join(folder, "scores.csv")) as f:
        rows = list(csv.DictReader(f))
    if not rows or "original_label" not in rows[0]:
        sys.exit(f"{folder}: scores.csv has no original_label column (audit with --noise)")
    given = np.array([int(r["label"]) for r in rows])
    original = np.array([int(r["original_label"]) for r in rows])
    with open(os.path.join(folder, "label_issues.csv")) as f:
        issues = list(csv.DictReader(f))
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    return given, original, issues, meta


def main():
    recompute = "--recompute" in sys.argv[1:]
    folders = [a for a in sys.argv[1:] if a != "--recompute"]
    if not folders:
        sys.exit(__doc__)
    first, second = [], []
    for folder in folders:
        given, original, issues, meta = load(folder)
        flipped = given != original
        flagged = np.array([int(r["index"]) for r in issues], dtype=int)
        suggested = np.array([int(r["suggested_label"]) for r in issues], dtype=int)
        v = meta["label_errors"]
        tp = flipped[flagged]
        precision = tp.mean() if len(flagged) else 0.0
        recall = tp.sum() / flipped.sum()
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        right = (suggested[tp] == original[flagged[tp]]).sum()
        est, (lo, hi) = v["estimated"], v["interval_95"]
        name = f"{meta.get('noise', '?')} ({len(given):,})"
        first.append(f"| {name} | {flipped.sum():,} | {est:,.0f} ({lo:,.0f}-{hi:,.0f}) | {100 * (est / flipped.sum() - 1):+.1f}% "
                     f"| {v['noise_structure']:.2f} | {len(flagged):,} | {precision:.3f} | {recall:.3f} | {f1:.3f} "
                     f"| {right:,} of {tp.sum():,} ({100 * right / max(1, tp.sum()):.1f}%) | {100 * meta['test_accuracy']:.2f}% |")
        values = {}
        for score, higher in SCORES:
            path = os.path.join(folder, score + ".npy")
            if os.path.exists(path):
                x = np.load(path).astype(np.float64)
                x = np.where(np.isnan(x), np.nanmedian(x), x)
                values[score] = auroc(x if higher else -x, flipped)
        singles = {k: a for k, a in values.items() if k not in ("suspicion", "error_probability")}
        best = max(singles, key=singles.get)
        top = max(values, key=values.get)
        cells = " | ".join(("**%.4f**" if k == top else "%.4f") % values[k] if k in values else "-" for k, _ in SCORES)
        extra = f" {auroc(recomputed_suspicion(folder, given, meta), flipped):.4f} |" if recompute else ""
        second.append(f"| {name} | {cells} | {best} {singles[best]:.4f} |{extra}")
    print("| noise (examples) | flipped | estimated (95% interval) | error | noise structure | flagged | precision "
          "| recall | F1 | suggested label right (flagged flipped) | test accuracy |")
    print("|---" * 11 + "|")
    print("\n".join(first))
    print()
    print("| noise (examples) | " + " | ".join(k for k, _ in SCORES) + " | best single (not the verdict's) |"
          + (" suspicion, recomputed |" if recompute else ""))
    print("|---" * (len(SCORES) + 2 + recompute) + "|")
    print("\n".join(second))


if __name__ == "__main__":
    main()
