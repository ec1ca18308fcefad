"""The CFD benchmark end to end, one command: generate the four CFDBench families, train every grid model
on each, and write the report (`cfd_report`).

    python -m surrolab.benchmarks.cfd_benchmark [--quick] [--out out/cfd_benchmark] [--samples 40] [--epochs 15]

Per family (cavity, tube, dam, cylinder; the `demo` preset's meshes and horizon, sized for a 2-core CPU):

1. `<out>/data/<family>.h5`: `--samples` trajectories with every parameter varying (splits train/val/test
   and the held-out top of the driving speed);
2. `<out>/data/<family>_{bc,properties,geometry}.h5`: `--kind-samples` test-only trajectories each, in which
   only the parameters of one CFDBench kind vary (`generate(vary=...)`), from another seed;
3. `<out>/runs/<family>/<label>/`: each model of `MODELS` trained by `train_run` (what `surrolab train` runs)
   for `--epochs` on the training split, all with the same seed, history and batch size;
4. `<out>/report/cfd_report.{md,html,json}`: `cfd_report.build` over all of them.

Every step resumes: finished datasets and runs are reused, so a second call only rewrites the report.
The models are small (10⁴ to 10⁵ parameters) so that the whole benchmark runs in well under an hour here;
their hyperparameters are in `MODELS` and in each run's `model.pt`.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from surrolab.benchmarks import cfd_report
from surrolab.provenance import git_revision, hardware

# label -> (registered model, hyperparameters). Modes 8: the narrowest demo grids have 14 nodes across.
MODELS = {
    "fno": ("fno", dict(modes=8, hidden_channels=16, n_layers=4)),
    "unet": ("unet", dict(hidden_channels=16, channel_multipliers=(1, 2))),
    "sinenet": ("sinenet", dict(n_waves=4, hidden_channels=16, mult=1.611, levels=2)),
    "t1": ("t1", dict(modes=8, width=32, n_layers=4)),
}  # CAPE has its own study (grid_comparisons cape); its curriculum triples the cost of a step
QUICK_MODELS = {
    "fno": ("fno", dict(modes=4, hidden_channels=8, n_layers=2)),
    "unet": ("unet", dict(hidden_channels=8, channel_multipliers=(1, 2))),
}
QUICK_SETTINGS = dict(t_end=0.8, n_frames=5, ramp_time=0.4)


def make_datasets(family: str, out: Path, samples: int, kind_samples: int, quick: bool, log=print) -> None:
    from surrolab.datasets.generate import generate
    from surrolab.datasets.splits import SplitSpec
    from surrolab.registry import get_problem

    problem = get_problem(family)
    config = problem.make_config("demo", **(QUICK_SETTINGS if quick else {}))
    jobs = [(out / f"{family}.h5", samples, 0, SplitSpec(), None)]
    for kind, slug in cfd_report.KIND_FILES.items():
        names = cfd_report.kind_parameters(problem.parameters, kind)
        if names:  # a test-only set, from another seed than the training set
            only = SplitSpec(val_fraction=0.0, test_fraction=1.0, heldout_parameter="")
            jobs.append((out / f"{family}_{slug}.h5", kind_samples, 1, only, tuple(names)))
    for path, n, seed, splits, vary in jobs:
        if path.is_file():
            continue
        tick = time.perf_counter()
        generate(problem, config, n, path, seed=seed, splits=splits, vary=vary)
        log(f"generated {path} ({n} samples{', varying ' + ', '.join(vary) if vary else ''}) "
            f"in {time.perf_counter() - tick:.1f} s")


def train_models(family: str, data: Path, runs: Path, models: dict, epochs: int, batch_size: int, history: int,
                 seed: int, log=print) -> None:
    from surrolab.surrogates.train_run import train_run

    for label, (name, hyper) in models.items():
        result = train_run(name, data, runs / family / label, epochs=epochs, batch_size=batch_size,
                           history=history, seed=seed, device="cpu", hyper=hyper)
        log(f"{family}/{label}: {result['n_parameters']:,} parameters, trained in {result['train_seconds']:.1f} s")


def run(args, command: str) -> dict:
    import torch

    from surrolab.benchmarks.harness import CompareConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    models = QUICK_MODELS if args.quick else MODELS
    start = time.perf_counter()
    for family in args.families:
        make_datasets(family, out / "data", args.samples, args.kind_samples, args.quick)
        train_models(family, out / "data" / f"{family}.h5", out / "runs", models, args.epochs, args.batch_size,
                     args.history, args.seed)
    config = CompareConfig(max_trajectories=args.max_trajectories, coarsen_factors=tuple(args.coarsen))
    report, views = cfd_report.build(out / "runs", out / "data", tuple(args.families), config)
    report["command"] = command
    report.update(wall_seconds=time.perf_counter() - start, hardware=hardware(), revision=git_revision())
    paths = cfd_report.write(report, views, out / "report")
    print(cfd_report.markdown(report))
    print(f"wrote {paths['markdown']}, {paths['html']}, {paths['json']} ({report['wall_seconds']:.0f} s)")
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.cfd_benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="two tiny models on a few short trajectories: a pipeline check")
    p.add_argument("--out", default="out/cfd_benchmark")
    p.add_argument("--families", nargs="+", default=list(cfd_report.FAMILIES), choices=cfd_report.FAMILIES)
    p.add_argument("--samples", type=int, default=None, help="training dataset size (default 40; 6 with --quick)")
    p.add_argument("--kind-samples", type=int, default=None, help="per kind-of-variation test set (default 8; 2)")
    p.add_argument("--epochs", type=int, default=None, help="default 15; 1 with --quick")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--history", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-trajectories", type=int, default=8)
    p.add_argument("--coarsen", type=int, nargs="*", default=[2, 4])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.samples = args.samples or (6 if args.quick else 40)
    args.kind_samples = args.kind_samples or (2 if args.quick else 8)
    args.epochs = args.epochs or (1 if args.quick else 15)
    run(args, "python -m surrolab.benchmarks.cfd_benchmark " + shlex.join(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
