"""`surrolab`: the command line. Parses and validates input at the edge, shows progress, and calls the
pure parts (solvers, schema, training loop, harness). Any `SurrolabError` ends as one line on stderr and
exit code 2, never a traceback. Output paths are checked before any work (`_output`); a file system that
still refuses a write on a named path (a full disk) ends the same way.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from surrolab.errors import SurrolabError

# Under mpiexec every rank is one process per core: OpenBLAS (inside MUMPS) would start a thread per core in
# each rank and oversubscribe them; one thread per rank made a 2-rank DFG solve 1.66x faster instead of 1.0x
# (benchmarks/results/generation_throughput.md). Set before numpy/petsc4py load OpenBLAS.
if int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))) > 1:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


# -- helpers ----------------------------------------------------------------------------------------
def _parse_settings(pairs: list[str], allowed: dict[str, object], what: str) -> dict:
    """`key=value` strings -> typed dict, typed by the default value of each allowed key."""
    out = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep:
            raise SurrolabError(f"--set {pair!r}: expected KEY=VALUE")
        if key not in allowed:
            raise SurrolabError(f"unknown {what} setting {key!r}; allowed: {', '.join(sorted(allowed))}")
        default = allowed[key]
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                out[key] = text.lower() in ("true", "1")
            elif isinstance(default, (int, float)):
                out[key] = type(default)(text)  # int("2.5") fails, as it should for an integer setting
            elif isinstance(default, tuple):  # numbers, comma-separated: channel_multipliers=1,2,2,4
                out[key] = tuple(_number(x) for x in text.split(",")) if text.strip() else ()
            else:
                out[key] = text
        except ValueError:
            kind = "comma-separated list of numbers" if isinstance(default, tuple) else type(default).__name__
            raise SurrolabError(f"{what} setting {key}={text!r} is not a valid {kind}") from None
    return out


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _model_settings(model: str, pairs: list[str] | None) -> dict:
    """`--set` pairs of `model` -> typed hyperparameters (`train_run.model_settings` types them); CAPE's
    `base.KEY=VALUE` pairs are its base model's (`base_hyper`), typed by the base's own settings. Their
    limits are checked by `train_run`, before it reads the dataset."""
    from surrolab.registry import get_model_class
    from surrolab.surrogates.train_run import model_settings

    settings = model_settings(get_model_class(model))
    own = [p for p in pairs or [] if not p.startswith("base.")]
    nested = [p.removeprefix("base.") for p in pairs or [] if p.startswith("base.")]
    hyper = _parse_settings(own, settings, f"{model} model")
    if nested:
        if "base_hyper" not in settings:
            raise SurrolabError(f"--set base.{nested[0]}: {model} has no base model (base.KEY=VALUE is for cape)")
        base = hyper.get("base", settings["base"])
        hyper["base_hyper"] = _parse_settings(nested, model_settings(get_model_class(base)), f"{base} base model")
    return hyper


def _output(option: str, path: str | os.PathLike, *, folder: bool) -> Path:
    """`path` if a verb can write it, checked before any work: an existing path is of the right kind (a file,
    or a `folder`), and the nearest folder that exists on the way to it is one we may write in. Missing
    folders are fine: the writers make them (mkdir -p). Otherwise one line names the path and what is wrong."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise SurrolabError(f"{option} {str(path)!r} is a {'file' if folder else 'folder'}; give a path for "
                            f"{'a folder' if folder else 'a file'}")
    nearest = path if folder else path.parent
    while not nearest.exists():  # also false below a file: a/b does not exist when a is a file
        nearest = nearest.parent
    if not nearest.is_dir():
        raise SurrolabError(f"{option} {str(path)!r} cannot be written: {str(nearest)!r} is a file, not a folder")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise SurrolabError(f"{option} {str(path)!r} cannot be written: no permission to write in {str(nearest)!r}")
    return path


def _config_defaults(config_type) -> dict:
    return {f.name: f.default for f in dataclasses.fields(config_type)}


def _comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def _problem_config(problem, resolution: int | None, settings: list[str], preset: str | None = None):
    overrides = _parse_settings(settings, _config_defaults(problem.Config), f"{problem.name} problem")
    if resolution is not None:
        overrides = {**problem.resolution_settings(resolution), **overrides}
    return problem.make_config(preset, **overrides)


# -- verbs ------------------------------------------------------------------------------------------
def cmd_generate(args) -> None:
    from tqdm import tqdm

    from surrolab.datasets.generate import generate
    from surrolab.datasets.splits import SplitSpec
    from surrolab.registry import get_problem

    out = _output("--out", args.out or f"data/{args.problem}.h5", folder=False)
    _output("--out", out.with_suffix(".xdmf"), folder=False)  # the ParaView sidecar beside it
    problem = get_problem(args.problem)
    config = _problem_config(problem, args.resolution, args.set, args.preset)
    splits = SplitSpec(val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                       heldout_parameter=args.heldout_parameter, heldout_fraction=args.heldout_fraction,
                       seed=args.seed)
    names = list(problem.parameter_names())
    if args.heldout_parameter and args.heldout_parameter not in names:  # else found only after every solve
        raise SurrolabError(f"heldout_parameter={args.heldout_parameter!r} is not a parameter of {args.problem}; "
                            f"allowed: {', '.join(names)}, or '' for none")
    comm = _comm()
    bars = []  # made at the first report, so an early error prints one line and no bar

    def progress(done, total):
        if not bars:
            bars.append(tqdm(total=total, desc=f"generate {args.problem}", unit="sample"))
        bars[0].update(done - bars[0].n)

    def warn(line: str) -> None:  # one line on stderr, above the bar
        tqdm.write(f"surrolab generate: warning: {line}", file=sys.stderr)

    path = generate(problem, config, args.samples, out, seed=args.seed, splits=splits, progress=progress, comm=comm,
                    vary=tuple(args.vary) if args.vary else None, warn=warn)
    for bar in bars:
        bar.close()
    if path is not None:
        print(f"wrote {path} and {path.with_suffix('.xdmf')}")


def cmd_train(args) -> None:
    from tqdm import tqdm

    from surrolab.surrogates.train_run import train_run

    out = _output("--out", args.out or f"runs/{args.model}", folder=True)
    hyper = _model_settings(args.model, args.set)
    bars = []

    def announce(n_params, n_train, n_val):
        print(f"{args.model}: {n_params:,} parameters; {n_train} training windows, {n_val} validation")
        bars.append(tqdm(total=args.epochs, desc=f"train {args.model}", unit="epoch"))

    def progress(epoch, epochs, train_loss, val_loss):
        bars[0].update(epoch - bars[0].n)
        bars[0].set_postfix(train=f"{train_loss:.3e}", val=f"{val_loss:.3e}")

    train_run(args.model, args.data, out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
              history=args.history, seed=args.seed, device=args.device, hyper=hyper, curriculum=args.curriculum,
              warmup_epochs=args.warmup_epochs, select_on=args.select_on, progress=progress, announce=announce)
    for bar in bars:
        bar.close()
    print(f"wrote {out / 'model.pt'} (best validation epoch), {out / 'log.csv'}")


def cmd_compare(args) -> None:
    from surrolab.benchmarks.harness import CompareConfig, compare
    from surrolab.benchmarks.report import markdown, write_report

    _output("--out", args.out, folder=True)
    config = CompareConfig(split=args.split, max_trajectories=args.max_trajectories, device=args.device)
    report = compare(args.data, args.runs, config)
    paths = write_report(report, args.out)
    print(markdown(report))
    print(f"wrote {paths['markdown']}, {paths['json']}, {paths['plot']}")


def cmd_export(args) -> None:
    from surrolab.benchmarks.export import export_sample

    path = export_sample(args.data, args.sample, args.run or [], _output("--out", args.out, folder=True))
    print(f"wrote {path} (open it in ParaView)")


def cmd_info(args) -> None:
    from surrolab.datasets.info import summary

    print(summary(args.data))


def cmd_validate(args) -> None:
    from surrolab.datasets.schema import validate

    problems = validate(args.data)
    if problems:
        raise SurrolabError(f"{args.data} is not valid: " + "; ".join(problems))
    print(f"{args.data}: valid surrolab dataset")


def cmd_demo(args) -> None:
    from surrolab.demo import DemoConfig, run_demo

    run_demo(DemoConfig.quick() if args.quick else DemoConfig(), _output("--out", args.out, folder=True))


def cmd_report(args) -> None:
    from surrolab.benchmarks.cfd_report import FAMILIES, run

    _output("--out", args.out, folder=True)
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        raise SurrolabError(f"families={unknown} is not allowed: use some of {', '.join(FAMILIES)}")
    run(args)


# -- parser -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from surrolab.registry import MODELS, PROBLEMS

    parser = argparse.ArgumentParser(prog="surrolab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("generate", help="solve a problem family and write an HDF5 dataset (resumable)")
    p.add_argument("problem", help=f"one of: {', '.join(sorted(PROBLEMS))}")
    p.add_argument("--samples", type=int, default=8, help="number of trajectories (default 8)")
    p.add_argument("--out", help="output .h5 (default data/<problem>.h5); an .xdmf is written beside it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=int,
                   help="cells per side of the grid (grid problems) or per metre of the mesh (flow families)")
    p.add_argument("--preset", help="a named set of settings: demo (small), default, large")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="other problem settings (t_end=...); they override the preset")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--heldout-parameter", default=None,
                   help="parameter whose top range is held out as split test_heldout (default: the first; '' off)")
    p.add_argument("--heldout-fraction", type=float, default=0.2)
    p.add_argument("--vary", nargs="+", metavar="PARAMETER",
                   help="draw only these parameters; the others stay at their defaults (CFDBench's subsets)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("train", help="train a surrogate on a dataset's training split")
    p.add_argument("model", help=f"one of: {', '.join(sorted(MODELS))}")
    p.add_argument("--data", required=True, help="dataset .h5")
    p.add_argument("--out", help="run folder (default runs/<model>); an existing one is resumed")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-epochs", type=int, default=0,
                   help="linear learning-rate warm-up over the first epochs, then the cosine (SineNet's schedule)")
    p.add_argument("--select-on", default="val_loss",
                   help="which epoch model.pt keeps: val_loss (one step, the default) or val_rollout (grid models: the "
                        "validation trajectories rolled out, SineNet's reference choice)")
    p.add_argument("--history", type=int, default=None,
                   help="input frames per prediction (default: 2 for grid models, 5 for gns and giorom)")
    p.add_argument("--curriculum", action="store_true",
                   help="train from teacher forcing to fully autoregressive (CAPE's curriculum; on for cape)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="model hyperparameters (modes=16, channel_multipliers=1,2,2, ...); cape's base model's as "
                        "base.KEY=VALUE; particle models also radius=M (default 2.5 particle spacings), noise=M per "
                        "frame (default 0.4 x the acceleration std), giorom fraction=F")
    p.set_defaults(func=cmd_train)

    for name, help_text in (("compare", "surrogates against the solver: error, speed-up, report"),
                            ("evaluate", "same as compare")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("runs", nargs="+", help="run folders or checkpoints")
        p.add_argument("--data", required=True, help="dataset .h5 with a test split")
        p.add_argument("--split", default="test", help="test (default), test_heldout, val, train")
        p.add_argument("--max-trajectories", type=int, default=8)
        p.add_argument("--out", default="reports/compare", help="report folder")
        p.add_argument("--device", default="cpu")
        p.set_defaults(func=cmd_compare)

    p = sub.add_parser("export", help="write one trajectory (truth, predictions, errors) for ParaView")
    p.add_argument("data")
    p.add_argument("--sample", type=int, default=0)
    p.add_argument("--run", action="append", help="run folder (repeatable)")
    p.add_argument("--out", default="viz")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("info", help="summary of a dataset")
    p.add_argument("data")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("validate", help="check a file against the dataset schema")
    p.add_argument("data")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("demo", help="generate, train, compare and export, small, in minutes")
    p.add_argument("--out", default="out/demo", help="folder for everything the demo writes")
    p.add_argument("--quick", action="store_true", help="the tiny setting the tests run")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("report", help="benchmark reports over datasets and trained runs")
    reports = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    from surrolab.benchmarks import cfd_report

    r = reports.add_parser("cfd", help="CFDBench-style report (cavity, tube, dam, cylinder): Markdown and HTML")
    cfd_report.add_arguments(r)
    r.set_defaults(func=cmd_report)

    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SurrolabError as err:
        print(f"surrolab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `surrolab info data.h5 | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a file system that refuses a write the checks allowed (full disk, a race)
        if err.filename is None:
            raise
        print(f"surrolab {args.command}: error: {err.filename}: {err.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"surrolab {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
