"""T1 against neuraloperator's FNO: training-step and inference time at equal parameter count, side by side.

    python -m surrolab.benchmarks.t1_speed --resolutions 64 128 --repeats 9

The paper (Poli et al., NeurIPS 2022) reports 3× to 10× speed-ups of T1 over FNO that grow with resolution.
Both models get the same batch (8 windows of history 2, 2 channels, 1 PDE parameter) at about 360k
parameters (FNO: 12 modes, width 32, 4 layers; T1: 12 modes, width 24, 4 layers). A training step is each
model's own loss and its backward pass (T1: the spectral relative L2 of its `training_hooks()`, no inverse
transform; FNO: the default mean squared error); inference is the physical-space forward under no_grad.
Calls alternate (FNO, T1, FNO, ...) so the load of a shared machine falls on both alike; two warm-up
rounds, then the median of `--repeats`. Prints milliseconds and the FNO/T1 ratios.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from surrolab.provenance import hardware
from surrolab.surrogates.fno import FNOSurrogate
from surrolab.surrogates.t1 import T1Surrogate
from surrolab.surrogates.training import Hooks


def _milliseconds(call) -> float:
    start = time.perf_counter()
    call()
    return 1e3 * (time.perf_counter() - start)


def measure(resolution: int, repeats: int, batch_size: int = 8, seed: int = 0) -> dict[str, dict[str, float]]:
    """{model: {"parameters", "step_ms", "inference_ms"}} at one resolution (medians)."""
    torch.manual_seed(seed)
    common = dict(n_channels=2, n_parameters=1, history=2, horizon=1, spatial_shape=(resolution, resolution))
    models = {"fno": FNOSurrogate(modes=12, hidden_channels=32, n_layers=4, **common),
              "t1": T1Surrogate(modes=12, width=24, n_layers=4, **common)}
    batch = {"frames": torch.randn(batch_size, 2, 2, resolution, resolution),
             "parameters": torch.randn(batch_size, 1),
             "targets": torch.randn(batch_size, 1, 2, resolution, resolution)}

    def step(model):
        model.zero_grad(set_to_none=True)
        (model.training_hooks() or Hooks()).loss(model, batch, 0).backward()

    def infer(model):
        with torch.no_grad():
            model(batch["frames"], batch["parameters"])

    times = {(name, kind): [] for name in models for kind in ("step", "inference")}
    for round_ in range(repeats + 2):
        for name, model in models.items():
            for kind, call in (("step", step), ("inference", infer)):
                elapsed = _milliseconds(lambda: call(model))
                if round_ >= 2:  # two warm-up rounds
                    times[name, kind].append(elapsed)
    return {name: {"parameters": float(sum(p.numel() for p in model.parameters())),
                   "step_ms": float(np.median(times[name, "step"])),
                   "inference_ms": float(np.median(times[name, "inference"]))} for name, model in models.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.t1_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", default=None, help="also write the table as Markdown here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lines = ["# T1 against FNO: time per training step and per inference, side by side", "",
             "```", "python -m surrolab.benchmarks.t1_speed " + " ".join(argv if argv is not None else sys.argv[1:]),
             "```", "", f"Batch 8, CPU: {hardware()}; medians of "
             f"{args.repeats} alternating calls after 2 warm-up rounds.", "",
             "| grid | model | parameters | training step ms | inference ms | FNO/T1 step | FNO/T1 inference |",
             "|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for n in args.resolutions:
        result = measure(n, args.repeats)
        fno, t1 = result["fno"], result["t1"]
        for name, r in result.items():
            ratios = (f"{fno['step_ms'] / t1['step_ms']:.1f}x | {fno['inference_ms'] / t1['inference_ms']:.1f}x"
                      if name == "t1" else " | ")
            lines.append(f"| {n}² | {name} | {r['parameters']:,.0f} | {r['step_ms']:.1f} | {r['inference_ms']:.1f} | "
                         f"{ratios} |")
            print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
