#!/usr/bin/env python3
"""A copy of an audit whose label_issues.csv marks as sure only the suggestions that hold
at least THRESHOLD (default 0.5) of the example's averaged class probability
(verdict_probs.npy), for `sieve clean --audit OUT --mode fix`: the experiment behind
docs/performance.md's "majority-suggestion" cleanings (the audit's own `sure` column is
confident learning's per-class threshold).

Usage: benchmarks/majority_fix.py AUDIT OUT [--threshold T]
"""
import argparse
import csv
import os
import shutil

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audit")
    parser.add_argument("out")
    parser.add_argument("--threshold", type=float, default=0.5)
    a = parser.parse_args()
    if os.path.exists(a.out):
        parser.error(f"{a.out} exists; name a new folder")
    shutil.copytree(a.audit, a.out)
    probabilities = np.load(os.path.join(a.audit, "verdict_probs.npy"))
    with open(os.path.join(a.audit, "label_issues.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    sure = 0
    with open(os.path.join(a.out, "label_issues.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            keep = probabilities[int(row["index"]), int(row["suggested_label"])] >= a.threshold
            row["sure"] = "1" if keep else "0"
            sure += keep
            writer.writerow(row)
    print(f"{sure} of {len(rows)} flagged examples sure -> {a.out}/label_issues.csv")


if __name__ == "__main__":
    main()
