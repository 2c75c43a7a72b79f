#!/usr/bin/env python3
"""Draws examples/s by pass for Sieve and PyTorch as an SVG bar chart (no dependencies).

Input: JSON files written by benchmarks/compare_pytorch_cpu.sh with SIEVE_COMPARE_OUT set,
one panel per file (its own scale), e.g.
  SIEVE_COMPARE_OUT=w64.json benchmarks/compare_pytorch_cpu.sh 64 128 3 3x32x32 3
  SIEVE_COMPARE_OUT=w16.json benchmarks/compare_pytorch_cpu.sh 16 128 3 1x28x28 3
  python3 benchmarks/plot_passes.py w64.json w16.json -o docs/passes.svg
"""
import argparse, json, sys
from html import escape

PASSES = [  # (label, sieve key, [(pytorch label, file, key)])
    ("training step", "train_step_examples_per_second", [("PyTorch", "pytorch", "train_step_examples_per_second")]),
    ("eval forward", "eval_forward_examples_per_second", [("PyTorch", "pytorch", "eval_forward_examples_per_second")]),
    ("GraNd", "grand_examples_per_second", [("ghost hooks", "pytorch_grand", "ghost_hooks_examples_per_second"),
                                            ("vmap(grad)", "pytorch_grand", "vmap_examples_per_second")]),
]
COLORS = {"Sieve": "#1f6feb", "PyTorch": "#d29922", "ghost hooks": "#d29922", "vmap(grad)": "#e3b341"}


def panel(data, x0, width, height, top):
    s = data["sieve"]
    title = f"ResNet-18 width {s['width']}, {s['input']}, batch {s['batch']}"
    bars = []   # (group, label, value)
    for group, key, refs in PASSES:
        bars.append((group, "Sieve", s[key]))
        for label, source, rkey in refs:
            if rkey in data[source]:
                bars.append((group, label, data[source][rkey]))
    peak = max(v for _, _, v in bars) * 1.15
    plot_h = height - 70
    out = [f'<text x="{x0 + width / 2}" y="{top - 24}" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    groups = [g for g, _, _ in PASSES]
    group_w = width / len(groups)
    for gi, group in enumerate(groups):
        members = [b for b in bars if b[0] == group]
        bar_w = min(34, (group_w - 20) / len(members))
        start = x0 + gi * group_w + (group_w - bar_w * len(members)) / 2
        sieve = next(v for _, label, v in members if label == "Sieve")
        for bi, (_, label, value) in enumerate(members):
            h = plot_h * value / peak
            x, y = start + bi * bar_w, top + plot_h - h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 3:.1f}" height="{h:.1f}" fill="{COLORS[label]}">'
                       f'<title>{escape(label)}: {value:.1f} examples/s</title></rect>')
            text = f"{value:.0f}" if label == "Sieve" else f"{sieve / value:.2f}x"
            out.append(f'<text x="{x + (bar_w - 3) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="10">{text}</text>')
        out.append(f'<text x="{x0 + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{group}</text>')
    out.append(f'<line x1="{x0}" y1="{top + plot_h}" x2="{x0 + width}" y2="{top + plot_h}" stroke="#555"/>')
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="compare_pytorch_cpu.sh JSON (SIEVE_COMPARE_OUT)")
    ap.add_argument("-o", "--out", required=True, help="SVG to write")
    args = ap.parse_args()
    runs = []
    for path in args.files:
        try:
            with open(path) as f:
                runs.append(json.load(f))
        except (OSError, ValueError) as e:
            sys.exit(f"{path}: {e}")
        if not all(k in runs[-1] for k in ("sieve", "pytorch", "pytorch_grand")):
            sys.exit(f"{path}: not a compare_pytorch_cpu.sh result (keys sieve, pytorch, pytorch_grand)")
    panel_w, panel_h, top = 360, 300, 76
    width = panel_w * len(runs) + 40
    height = panel_h + top + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="20" y="20" font-size="14" font-weight="bold">Examples/s by pass, Sieve and PyTorch (same machine, same run);'
             f' above PyTorch bars: Sieve / PyTorch</text>']
    for i, run in enumerate(runs):
        parts += panel(run, 20 + i * panel_w, panel_w - 30, panel_h, top)
    lx = 20
    for label in ["Sieve", "PyTorch", "vmap(grad)"]:
        parts.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{COLORS[label]}"/>')
        name = "PyTorch (GraNd: hand-written ghost-norm hooks)" if label == "PyTorch" else label
        parts.append(f'<text x="{lx + 16}" y="{height - 12}">{escape(name)}</text>')
        lx += 60 + 7 * len(name)
    sieve = runs[0]["sieve"]
    parts.append(f'<text x="{width - 20}" y="{height - 12}" text-anchor="end" font-size="10" fill="#555">'
                 f'{escape(sieve["device"])}; torch threads {runs[0]["pytorch"]["threads"]}</text>')
    parts.append("</svg>")
    with open(args.out, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
