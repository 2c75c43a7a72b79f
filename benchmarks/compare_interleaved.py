#!/usr/bin/env python3
"""Sieve against PyTorch on this CPU with the two sides interleaved round by round.

benchmarks/compare_pytorch_cpu.sh measures Sieve's passes, then PyTorch's, minutes
apart; on a machine shared with other tenants one side can get the quiet minutes and the
other the busy ones (PyTorch's own eval forward moved 2,204-3,103 examples/s between such
runs here). This script alternates: per round and pass, one `sieve bench --pass P
--repeats 1` (its warm-up batch, then STEPS timed batches) and, in this process, one
warm-up call and STEPS timed calls of PyTorch's pass, so both sides sample the same
minutes. It reports each side's median rate and the median and range of the per-round
ratios.

PyTorch at its strongest, as in compare_pytorch_cpu.sh: a process that has trained,
batch-norm statistics from the data (`calibrate_batch_norm`; the training rounds keep
updating them from the same data), denormals flushed, GraNd by hand-written ghost-norm
hooks (`pytorch_grand.GhostNorms`).

Usage (from the repository root, after benchmarks/setup-python.sh):
  .venv-bench/bin/python benchmarks/compare_interleaved.py --width 16 --input 1x28x28 --rounds 5
  .venv-bench/bin/python benchmarks/compare_interleaved.py --model cnn --input 1x28x28 --steps 5
"""
import argparse, copy, json, os, statistics, subprocess, sys, tempfile, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_resnet18 import ARCHITECTURES, benchmark_setup, calibrate_batch_norm  # noqa: E402
from pytorch_grand import GhostNorms  # noqa: E402

PASSES = {"train": "train_step_examples_per_second", "eval": "eval_forward_examples_per_second",
          "grand": "grand_examples_per_second"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sieve", default=".build/release/sieve", help="the sieve binary (default: this build)")
    ap.add_argument("--model", default="resnet18", choices=sorted(ARCHITECTURES))
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--steps", type=int, default=3, help="timed batches per round and side")
    ap.add_argument("--rounds", type=int, default=5, help="alternations per pass")
    ap.add_argument("--passes", default="train,eval,grand")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write every round's figures here")
    args = ap.parse_args()
    passes = args.passes.split(",")
    if not all(p in PASSES for p in passes):
        ap.error(f"--passes: choose from {', '.join(PASSES)}")
    if not os.access(args.sieve, os.X_OK):
        ap.error(f"no sieve binary at {args.sieve}: swift build -c release --product sieve")

    model, x, y, opt = benchmark_setup(args)

    def train_step():
        model.train(True)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):   # a process that has trained
        train_step()
    calibrate_batch_norm(model, x)
    ghost = GhostNorms(copy.deepcopy(model).eval())

    def eval_forward():
        model.eval()
        with torch.no_grad():
            F.cross_entropy(model(x), y, reduction="none")

    torch_pass = {"train": train_step, "eval": eval_forward, "grand": lambda: ghost(x, y)}

    def torch_rate(name):
        fn = torch_pass[name]
        fn()   # warm-up, as sieve bench's warm-up batch
        t0 = time.perf_counter()
        for _ in range(args.steps):
            fn()
        return args.steps * args.batch / (time.perf_counter() - t0)

    def sieve_rate(name, folder):
        out = os.path.join(folder, "bench.json")
        if os.path.exists(out):
            os.remove(out)
        cmd = [args.sieve, "bench", "--device", "cpu", "--model", args.model, "--width", str(args.width),
               "--batch", str(args.batch), "--input", args.input, "--pass", name, "--repeats", "1",
               "--steps", str(args.steps), "--json", out]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"sieve bench failed ({run.returncode}): {run.stderr.strip()}")
        with open(out) as f:
            return json.load(f)[PASSES[name]]

    figures = {p: {"sieve": [], "pytorch": []} for p in passes}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.rounds):
            for p in passes:
                # alternate which side goes first, so neither always follows the other
                order = ["sieve", "pytorch"] if r % 2 == 0 else ["pytorch", "sieve"]
                for side in order:
                    rate = sieve_rate(p, folder) if side == "sieve" else torch_rate(p)
                    figures[p][side].append(rate)
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{p} {figures[p]['sieve'][-1]:.0f}/{figures[p]['pytorch'][-1]:.0f}" for p in passes), file=sys.stderr)

    print(f"\n{args.model}{' width ' + str(args.width) if args.model != 'cnn' else ''}, batch {args.batch}, {args.input},"
          f" {args.rounds} interleaved rounds of {args.steps} batches, {torch.get_num_threads()} threads (pytorch {torch.__version__})")
    print(f"{'pass':8s} {'sieve':>9s} {'pytorch':>9s}  {'ratio (median of rounds)':>25s}  range")
    summary = {}
    for p in passes:
        s, t = figures[p]["sieve"], figures[p]["pytorch"]
        ratios = [a / b for a, b in zip(s, t)]
        name = p if p != "grand" else "grand*"
        print(f"{name:8s} {statistics.median(s):9.1f} {statistics.median(t):9.1f}  {statistics.median(ratios):24.2f}x"
              f"  {min(ratios):.2f}-{max(ratios):.2f}")
        summary[p] = {"sieve": s, "pytorch": t, "ratios": ratios, "median_ratio": statistics.median(ratios)}
    if "grand" in passes:
        print("* GraNd against PyTorch's hand-written ghost-norm hooks")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "width": args.width, "batch": args.batch, "input": args.input,
                       "steps": args.steps, "rounds": args.rounds, "pytorch": torch.__version__, "passes": summary}, f, indent=1)


if __name__ == "__main__":
    main()
