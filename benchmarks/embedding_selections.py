#!/usr/bin/env python3
"""Subsets chosen from an audit's embeddings, to train with `sieve train --subset`.

The selections of the literature that use the network's features rather than a score,
each per class in proportion to the class's size (as `sieve prune --coverage` does):

  moderate   Moderate-DS (Xia et al., ICLR 2023): the examples whose distance to their
             class's mean embedding is nearest the class's median distance.
  kcenter    k-center greedy (Sener & Savarese, ICLR 2018): from a random first example,
             repeatedly the example farthest from those chosen (diversity).
  ccs-kcenter CCS's strata (the hardest --hard-cut of the class by el2n_e2 cut, 50
             equal-width strata of the rest, the budget spread from the smallest stratum
             up) with k-center greedy inside each stratum instead of a uniform sample.

Usage: benchmarks/embedding_selections.py AUDIT FRACTION OUTDIR [--seed S] [--hard-cut B]
writes OUTDIR/{moderate,kcenter,ccs-kcenter}-FRACTION.txt (one index per line, data-set
order); then, for the same optimiser steps as E epochs of all N examples,
`sieve train --model cnn --limit N --epochs ceil(E / FRACTION) --seed S --subset FILE`.
"""
import argparse
import csv
import os

import numpy as np


def load(audit):
    embeddings = np.load(os.path.join(audit, "embeddings.npy")).astype(np.float64)
    el2n = np.load(os.path.join(audit, "el2n_e2.npy"))
    with open(os.path.join(audit, "scores.csv")) as f:
        rows = csv.reader(f)
        header = next(rows)
        column = header.index("label")
        labels = np.array([int(r[column]) for r in rows])
    return embeddings, el2n, labels


def kcenter_greedy(points, k, rng):
    """Indices (into points) of k examples chosen farthest-first from a random one."""
    chosen = [int(rng.integers(len(points)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(k - 1):
        j = int(np.argmax(distance))
        chosen.append(j)
        distance = np.minimum(distance, np.linalg.norm(points - points[j], axis=1))
    return np.array(chosen, dtype=np.int64)


def moderate(embeddings, members, k, rng):
    e = embeddings[members]
    distance = np.linalg.norm(e - e.mean(axis=0), axis=1)
    return members[np.argsort(np.abs(distance - np.median(distance)))[:k]]


def kcenter(embeddings, members, k, rng):
    return members[kcenter_greedy(embeddings[members], k, rng)]


def ccs_kcenter(embeddings, members, k, rng, el2n, hard_cut, strata=50):
    score = el2n[members]
    rest = members[np.argsort(-score)][int(hard_cut * len(members)):]
    values = el2n[rest]
    edges = np.linspace(values.min(), values.max(), strata + 1)
    bins = np.clip(np.digitize(values, edges[1:-1]), 0, strata - 1)
    groups = sorted((rest[bins == b] for b in range(strata) if np.any(bins == b)), key=len)
    chosen, budget = [], k
    for g, group in enumerate(groups):
        take = min(len(group), budget // (len(groups) - g))
        budget -= take
        if take > 0:
            chosen.extend(group[kcenter_greedy(embeddings[group], take, rng)])
    return np.array(chosen, dtype=np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audit")
    parser.add_argument("fraction", type=float)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hard-cut", type=float, default=0.1)
    a = parser.parse_args()
    if not 0 < a.fraction < 1:
        parser.error("FRACTION must lie strictly between 0 and 1")
    embeddings, el2n, labels = load(a.audit)
    os.makedirs(a.out, exist_ok=True)
    selections = {
        "moderate": moderate,
        "kcenter": kcenter,
        "ccs-kcenter": lambda e, m, k, r: ccs_kcenter(e, m, k, r, el2n, a.hard_cut),
    }
    for name, select in selections.items():
        rng = np.random.default_rng(a.seed)
        kept = []
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            kept.extend(select(embeddings, members, int(round(a.fraction * len(members))), rng))
        path = os.path.join(a.out, f"{name}-{a.fraction}.txt")
        np.savetxt(path, np.sort(np.array(kept)), fmt="%d")
        print(f"{name}: {len(kept)} examples -> {path}")


if __name__ == "__main__":
    main()
