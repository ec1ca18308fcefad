"""Dataset generation throughput, the suite's overhead over the bare solve, and the MPI speed-up.

    python -m surrolab.benchmarks.generation_throughput                       # cavity and diffusion_reaction
    python -m surrolab.benchmarks.generation_throughput --family cavity --samples 8 --preset demo

For each family it generates N samples three ways, writing datasets into a temporary folder:

1. `generate()` called in a fresh interpreter (this script, `--worker`) that has imported the CLI and the
   solver before its clock starts, with a timer around each of `generate()`'s phases (drawing and solving
   a sample, writing and reading the part files, normalisation statistics, writing the dataset, the XDMF
   sidecar, provenance), to show where the time outside the solver goes;
2. the command `surrolab generate <family> ...` in a new process (interpreter start and imports included:
   what a user waits for);
3. the same command under `mpiexec -n R` (R = 2 by default): rank r solves samples r, r+R, ...

Figures, for each run, from the wall time T of the run and the dataset it wrote:

* samples/min = 60 N / T;
* DOF·steps/s = Σ_samples (unknowns × time steps) / T, the unknowns being the stored `n_dofs` for a mesh
  family (Taylor–Hood velocity and pressure) and grid nodes × channels for a grid family;
* Σ solve = the sum of the stored per-sample solve times (`samples/wall_time`: the solve alone, timed in
  `datasets.generate.solve_sample`), and overhead = (T − Σ solve) / T, against the 10 % target (issue 3);
* MPI speed-up = T(serial command) / T(mpiexec command). Serial and MPI commands are run alternately,
  `--repeats` times each, and the median is reported: the machine may be shared, so single timings are noisy.

The report (machine: CPU model, core count; the exact command) replaces this script's section of
`benchmarks/results/generation_throughput.md`; `benchmarks/parallel_solve.py` writes its own section there.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

TARGET_OVERHEAD = 0.10
RESULTS = Path(__file__).resolve().parent / "results" / "generation_throughput.md"
DEFAULT_SAMPLES = {"cavity": 16, "diffusion_reaction": 64}  # serial solving: about 30 s and 7 s here
MPIEXEC = Path(sys.executable).parent / "mpiexec"  # MPICH from the dolfinx wheel


@dataclass(frozen=True)
class Run:
    """One generation run: its wall time and what the dataset it wrote says about the solves."""

    label: str
    ranks: int
    seconds: float  # wall time of the whole run
    n_samples: int
    solve_seconds: float  # Σ stored per-sample solve times
    dof_steps: float  # Σ unknowns × time steps
    load: float = float("nan")  # the machine's 1-minute load average when the run started

    @property
    def samples_per_minute(self) -> float:
        return 60.0 * self.n_samples / self.seconds

    @property
    def dof_steps_per_second(self) -> float:
        return self.dof_steps / self.seconds

    @property
    def overhead(self) -> float:
        """(T − Σ solve) / T. Under MPI the ranks solve at the same time, so Σ solve may exceed T."""
        return (self.seconds - self.solve_seconds) / self.seconds


def dataset_cost(path: Path) -> tuple[int, float, float]:
    """(samples, Σ solve seconds, Σ unknowns × steps) of a written dataset."""
    from surrolab.datasets import schema

    with h5py.File(path, "r") as f:
        description = schema.read_description(f)
        wall = f["samples/wall_time"][()]
        steps = f["samples/n_time_steps"][()]
        if description.geometry_type == "mesh":
            unknowns = f["samples/n_dofs"][()]
        else:  # the grid unknowns: every node, every channel
            unknowns = np.full(len(wall), np.prod(description.geometry.shape) * len(description.channel_names))
    return len(wall), float(wall.sum()), float(np.sum(unknowns * steps))


# -- where the time goes --------------------------------------------------------------------------
def _phases() -> dict[str, tuple[object, str]]:
    """Phase label -> (module, attribute) of the function that `generate()` calls for it."""
    from surrolab.datasets import generate, schema

    return {"draw + solve + check a sample (solve_sample)": (generate, "solve_sample"),
            "write part files (_write_part)": (generate, "_write_part"),
            "read part files (_read_part)": (generate, "_read_part"),
            "mesh→grid interpolation, built once per sample (grid_interpolation)": (generate, "grid_interpolation"),
            "normalisation statistics (_normalization)": (generate, "_normalization"),
            "write the dataset (schema.write_dataset)": (schema, "write_dataset"),
            "XDMF sidecar (write_dataset_xdmf)": (generate, "write_dataset_xdmf"),
            "provenance: versions, git, hardware (provenance)": (generate, "provenance")}


@contextlib.contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Time each phase of `generate()` while the block runs: label -> seconds (phases missing from the
    module, renamed by a later version, are left out)."""
    seconds: dict[str, float] = {}
    patched = []
    for label, (module, name) in _phases().items():
        original = getattr(module, name, None)
        if original is None:
            continue

        def timed(*args, _original=original, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                seconds[_label] = seconds.get(_label, 0.0) + time.perf_counter() - start

        setattr(module, name, timed)
        patched.append((module, name, original))
    try:
        yield seconds
    finally:
        for module, name, original in patched:
            setattr(module, name, original)


# -- the runs -------------------------------------------------------------------------------------
def cli_arguments(family: str, n_samples: int, preset: str | None, settings: list[str]) -> list[str]:
    return (["generate", family, "--samples", str(n_samples)] + (["--preset", preset] if preset else [])
            + [arg for pair in settings for arg in ("--set", pair)])


def run_in_process(family: str, n_samples: int, preset: str | None, settings: list[str],
                   out: Path) -> tuple[Run, dict[str, float]]:
    """`generate()` in this process, phases timed; the problem's modules are imported before the clock starts.
    What an earlier call imported or cached would be free here: `run_worker` runs it in a new interpreter."""
    from surrolab.cli import _problem_config
    from surrolab.datasets.generate import generate
    from surrolab.registry import get_problem

    problem = get_problem(family)
    config = _problem_config(problem, None, settings, preset)
    load = os.getloadavg()[0]
    with phase_timers() as phases:
        start = time.perf_counter()
        generate(problem, config, n_samples, out, seed=0)
        seconds = time.perf_counter() - start
    return Run("`generate()` in process", 1, seconds, *dataset_cost(out), load=load), phases


def run_worker(family: str, n_samples: int, preset: str | None, settings: list[str],
               out: Path) -> tuple[Run, dict[str, float]]:
    """`run_in_process` in a new interpreter, so that every family starts from the same imports."""
    command = [sys.executable, "-m", "surrolab.benchmarks.generation_throughput", "--worker", "--family", family,
               "--samples", str(n_samples), "--dataset", str(out), *(["--preset", preset] if preset else []),
               *[arg for pair in settings for arg in ("--set", pair)]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(**answer["run"]), answer["phases"]


def run_command(family: str, n_samples: int, preset: str | None, settings: list[str], out: Path,
                ranks: int = 1) -> Run:
    """The CLI in a new process (under `mpiexec -n ranks` when ranks > 1), timed from launch to exit."""
    launcher = [str(MPIEXEC), "-n", str(ranks)] if ranks > 1 else []
    command = [*launcher, sys.executable, "-m", "surrolab.cli", *cli_arguments(family, n_samples, preset, settings),
               "--out", str(out)]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    label = f"`mpiexec -n {ranks} surrolab generate`" if ranks > 1 else "`surrolab generate`"
    return Run(label, ranks, seconds, *dataset_cost(out), load=load)


def python_seconds(code: str) -> float:
    """Wall time of a new interpreter that runs `code` and exits."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def import_seconds(family: str) -> dict[str, float]:
    """New interpreters: bare, and importing the CLI and the family's solver (dolfinx, gmsh, h5py, scipy)."""
    solver = ("import surrolab.cli, surrolab.datasets.generate; from surrolab.registry import get_problem; "
              f"get_problem({family!r})")
    return {"bare": python_seconds("pass"), "solver": python_seconds(solver)}


@dataclass(frozen=True)
class FamilyReport:
    family: str
    arguments: list[str]
    in_process: Run
    phases: dict[str, float]
    serial: list[Run]
    parallel: list[Run]
    imports: dict[str, float]

    @staticmethod
    def median(runs: list[Run]) -> Run:
        return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]

    @property
    def speed_up(self) -> float:
        return statistics.median(r.seconds for r in self.serial) / statistics.median(r.seconds for r in self.parallel)


def benchmark_family(family: str, n_samples: int, preset: str | None, settings: list[str], ranks: int,
                     repeats: int, workdir: Path) -> FamilyReport:
    serial, parallel = [], []
    for k in range(repeats):  # alternate, so a burst of load elsewhere hits both kinds alike
        serial.append(run_command(family, n_samples, preset, settings, workdir / f"{family}_serial_{k}.h5"))
        parallel.append(run_command(family, n_samples, preset, settings, workdir / f"{family}_mpi_{k}.h5", ranks))
    in_process, phases = run_worker(family, n_samples, preset, settings, workdir / f"{family}_in_process.h5")
    return FamilyReport(family, cli_arguments(family, n_samples, preset, settings), in_process, phases, serial,
                        parallel, import_seconds(family))


# -- the report -----------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} logical cores ({usable} usable), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average at the start {load}")


def _row(run: Run) -> str:
    verdict = "yes" if run.overhead < TARGET_OVERHEAD else "**no**"
    overhead = f"{100 * run.overhead:.1f} %" if run.ranks == 1 else f"({100 * run.overhead:.1f} %)"
    return (f"| {run.label} | {run.ranks} | {run.n_samples} | {run.seconds:.2f} | {run.solve_seconds:.2f} | "
            f"{overhead} | {verdict if run.ranks == 1 else '–'} | {run.samples_per_minute:.1f} | "
            f"{run.dof_steps_per_second:.3g} |")


def _runs(runs: list[Run]) -> str:
    return ", ".join(f"{r.seconds:.1f} s (load {r.load:.1f})" for r in runs)


def family_markdown(report: FamilyReport) -> str:
    serial, parallel = report.median(report.serial), report.median(report.parallel)
    lines = [f"### `{report.family}`", "",
             f"`surrolab {' '.join(report.arguments)} --out ...`; serial and `mpiexec -n {parallel.ranks}` "
             f"commands run alternately {len(report.serial)} times each, medians shown.", "",
             "| run | ranks | samples | wall s | Σ solve s | overhead | < 10 % | samples/min | DOF·steps/s |",
             "|---|---:|---:|---:|---:|---:|:---:|---:|---:|",
             _row(report.in_process), _row(serial), _row(parallel), "",
             f"MPI speed-up of the command, {parallel.ranks} ranks over 1: **{report.speed_up:.2f}×** "
             f"(runs: serial {_runs(report.serial)}; MPI {_runs(report.parallel)}). Under MPI the overhead "
             "column is shown in brackets: the ranks solve at the same time, so it is not the suite's cost.", "",
             f"Where the time of the in-process `generate()` call went ({report.in_process.seconds:.2f} s; "
             f"stored solve times {report.in_process.solve_seconds:.2f} s; load {report.in_process.load:.1f}):", "",
             "| phase | s | % of the call | s per sample |", "|---|---:|---:|---:|"]
    total, n = report.in_process.seconds, report.in_process.n_samples
    rows = dict(report.phases)
    solve_phase = next((k for k in rows if "solve_sample" in k), None)
    if solve_phase is not None:  # split the sample phase into the solve proper and the rest
        rows["  of which the solve (stored per-sample times)"] = report.in_process.solve_seconds
        rows["  of which drawing, initial state, finiteness check"] = (rows[solve_phase]
                                                                       - report.in_process.solve_seconds)
    rows["rest (parts folder, splits, progress, clean-up)"] = total - sum(v for k, v in report.phases.items())
    for label, seconds in rows.items():
        lines.append(f"| {label} | {seconds:.3f} | {100 * seconds / total:.1f} | {seconds / n:.4f} |")
    # fixed costs (once per run) and per-sample costs outside the solve, for the break-even sample count
    run, imports = report.in_process, report.imports
    provenance = next((v for k, v in report.phases.items() if "provenance" in k), 0.0)
    per_sample = (run.seconds - provenance - run.solve_seconds) / n
    fixed = provenance + imports["solver"]  # what a command pays once: imports, then provenance
    solve = run.solve_seconds / n
    margin = TARGET_OVERHEAD / (1 - TARGET_OVERHEAD) * solve - per_sample  # (fixed + N o) / (N s) < 1/9
    break_even = (f"a command reaches the 10 % target from about N = {fixed / margin:.0f} samples of this size"
                  if margin > 0 else "no N reaches the 10 % target at this sample size: the per-sample part alone "
                  "exceeds it")
    lines += ["", f"A new interpreter takes {imports['bare']:.2f} s to start and exit, {imports['solver']:.2f} s "
              "when it imports the CLI and the solver (dolfinx, gmsh, h5py, scipy). "
              f"Per sample the suite adds {per_sample * 1e3:.1f} ms to a {solve:.3f} s solve "
              f"({100 * per_sample / solve:.1f} %); once per command it adds about {fixed:.1f} s (imports and "
              f"provenance), so {break_even} (derived from the figures above)."]
    return "\n".join(lines)


def write_section(path: Path, key: str, text: str) -> None:
    """Replace the section `key` of the Markdown file `path` (between `<!-- begin KEY -->` and
    `<!-- end KEY -->`), or append it; other sections stay as they are."""
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    old = path.read_text() if path.exists() else "# Speed and scale: measured results\n\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        new = head + block + ("\n" + after if after else "")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def markdown(reports: list[FamilyReport], command: str) -> str:
    lines = ["## Dataset generation throughput (`benchmarks/generation_throughput.py`)", "",
             f"Machine: {machine()}.", "", f"Command: `{command}`", "",
             f"Definitions: overhead = (wall − Σ stored solve times) / wall, target < {TARGET_OVERHEAD:.0%}; "
             "DOF·steps/s = Σ unknowns × time steps / wall (mesh families: Taylor–Hood dofs; grid families: "
             "grid nodes × channels); MPI speed-up = serial command wall / MPI command wall. The machine is "
             "shared with other jobs: each run's 1-minute load average is shown; with a load above 1 on 2 cores "
             "the second rank competes for a core and the MPI speed-up understates what an idle machine gives.", ""]
    return "\n".join(lines + [family_markdown(r) + "\n" for r in reports])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m surrolab.benchmarks.generation_throughput",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--family", action="append", help="problem to generate (repeatable; default: cavity "
                        "and diffusion_reaction)")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"samples per run (default per family: {DEFAULT_SAMPLES})")
    parser.add_argument("--preset", default=None, help="problem preset (default: the Config's defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="problem setting")
    parser.add_argument("--ranks", type=int, default=2, help="MPI ranks of the parallel run")
    parser.add_argument("--repeats", type=int, default=2, help="serial/MPI command pairs per family")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file to update")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one in-process run, as JSON
    parser.add_argument("--dataset", type=Path, help=argparse.SUPPRESS)  # the worker's output dataset
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        run, phases = run_in_process(args.family[0], args.samples, args.preset, args.set, args.dataset)
        print(json.dumps({"run": dataclasses.asdict(run), "phases": phases}))
        return 0
    command = "python -m surrolab.benchmarks.generation_throughput" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    reports = []
    with tempfile.TemporaryDirectory(prefix="surrolab_throughput_") as workdir:
        for family in args.family or list(DEFAULT_SAMPLES):
            n_samples = args.samples or DEFAULT_SAMPLES.get(family, 16)
            report = benchmark_family(family, n_samples, args.preset, args.set, args.ranks, args.repeats,
                                      Path(workdir))
            print(family_markdown(report) + "\n", flush=True)
            reports.append(report)
    write_section(args.out, "generation_throughput", markdown(reports, command))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
