"""A flow family's dataset generated over two MPI ranks is the serial one (DESIGN.md, Scale-out), and every
sample carries what the throughput benchmark divides by: its solve time, its unknowns and its steps.

Under `mpiexec -n 2` rank r solves samples r, r+2, ... on a mesh of its own (each sample's gmsh mesh lives on
one process, MPI_COMM_SELF), so the arrays must be equal bit for bit, not just to rounding: the same
parameters, the same meshes, the same LU solves. Only the measured wall times and the provenance (command
line, rank count) may differ.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from surrolab.benchmarks.generation_throughput import dataset_cost, write_section
from surrolab.datasets import schema

MPIEXEC = Path(sys.executable).parent / "mpiexec"  # MPICH from the dolfinx wheel
# the demo preset cut to 0.5 s: 2 frames after t = 0, 4 BDF2 steps each (Δt = 1/16 s), lid ramped over 0.25 s
ARGS = ["generate", "cavity", "--preset", "demo", "--samples", "3", "--seed", "7", "--set", "t_end=0.5",
        "--set", "n_frames=3", "--set", "ramp_time=0.25"]
N_STEPS = (3 - 1) * 4


def _generate(out: Path, *launcher: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([*launcher, sys.executable, "-m", "surrolab.cli", *ARGS, "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return time.perf_counter() - start


def _contents(path: Path) -> tuple[dict, dict]:
    """(every dataset's array, every attribute outside /provenance), by path."""
    arrays, attributes = {}, {}

    def visit(name, obj):
        if name.startswith("provenance"):
            return
        if isinstance(obj, h5py.Dataset):
            arrays[name] = obj[()]
        attributes.update({f"{name}@{key}": value for key, value in obj.attrs.items()})

    with h5py.File(path) as f:
        attributes.update({f"@{key}": value for key, value in f.attrs.items()})
        f.visititems(visit)
    return arrays, attributes


def test_cavity_over_two_ranks_equals_the_serial_dataset(tmp_path):
    serial, parallel = tmp_path / "serial.h5", tmp_path / "parallel.h5"
    serial_seconds = _generate(serial)
    _generate(parallel, str(MPIEXEC), "-n", "2")
    assert schema.validate(serial) == [] and schema.validate(parallel) == []
    assert not (tmp_path / "parallel.h5.parts").exists()  # assembled once, parts removed

    (a, a_attrs), (b, b_attrs) = _contents(serial), _contents(parallel)
    assert a.keys() == b.keys() and a_attrs.keys() == b_attrs.keys()
    assert {f"mesh/{i}/points" for i in range(3)} <= a.keys()  # three meshes, one per sample
    for key in a:
        if key != "samples/wall_time":  # measured; everything else is computed and must be equal
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for key in a_attrs:
        np.testing.assert_array_equal(a_attrs[key], b_attrs[key], err_msg=key)
    with h5py.File(serial) as f, h5py.File(parallel) as g:
        assert (f["provenance"].attrs["n_ranks"], g["provenance"].attrs["n_ranks"]) == (1, 2)
        assert f["provenance"].attrs["seed"] == g["provenance"].attrs["seed"] == 7

    # the samples differ from each other (the seed draws their geometry), so equality above means something
    widths = a["parameters/width"]
    assert len(np.unique(widths)) == 3 and len({a[f"mesh/{i}/points"].shape for i in range(3)}) > 1

    # per-sample cost, stored: solve seconds, Taylor–Hood unknowns and BDF2 steps
    wall = a["samples/wall_time"]
    assert np.all(wall > 0) and wall.sum() < serial_seconds
    np.testing.assert_array_equal(a["samples/n_time_steps"], np.full(3, N_STEPS))
    for i in range(3):
        # P2 velocity (2 per vertex and per edge) + P1 pressure (1 per vertex); a simply connected
        # triangulation has E = V + C − 1 edges (Euler)
        vertices, cells = len(a[f"mesh/{i}/points"]), len(a[f"mesh/{i}/cells"])
        edges = vertices + cells - 1
        assert a["samples/n_dofs"][i] == 2 * (vertices + edges) + vertices

    # what the throughput benchmark reads back: samples, Σ solve seconds, Σ unknowns × steps
    n, solve, dof_steps = dataset_cost(serial)
    assert (n, solve) == (3, wall.sum()) and dof_steps == N_STEPS * a["samples/n_dofs"].sum()


def test_throughput_of_a_grid_dataset_counts_grid_nodes_times_channels(tmp_path):
    """diffusion_reaction: two species on a 9×9 grid; 2 frames after t = 0, 3 steps each (Δt = 0.01)."""
    from surrolab.datasets.generate import generate
    from surrolab.solvers.fem.diffusion_reaction import DiffusionReactionProblem

    problem = DiffusionReactionProblem()
    generate(problem, problem.make_config(resolution=8, t_end=0.06, n_frames=3, substeps=3), 2, tmp_path / "dr.h5")
    n, solve, dof_steps = dataset_cost(tmp_path / "dr.h5")
    assert n == 2 and solve > 0 and dof_steps == 2 * (9 * 9 * 2) * 6


def test_a_benchmark_rewrites_only_its_own_section_of_the_results(tmp_path):
    path = tmp_path / "results.md"
    write_section(path, "a", "first A")
    write_section(path, "b", "B")
    write_section(path, "a", "second A")
    text = path.read_text()
    assert text.count("<!-- begin a -->") == 1 and "second A" in text and "first A" not in text
    assert text.index("second A") < text.index("B\n")  # replaced in place, not appended
    assert text.startswith("# ") and "<!-- end a -->\n\n<!-- begin b -->" in text  # still one blank line apart


def test_samples_record_their_cell_reynolds_number_and_unresolved_ones_warn(tmp_path):
    """The demo cavity cut short (seed 7: Re = 48 and 79 on the demo mesh): each sample stores its largest
    cell Reynolds number and whether SUPG/grad-div were on; `surrolab info` prints their range. With
    `stabilization=none` the sample past the limit of 10 (measured 12.8) gives one warning line naming it;
    with the default `auto` that sample is stabilised instead and nothing is printed."""
    lines = {}
    for stabilization in ("none", "auto"):
        out = tmp_path / f"{stabilization}.h5"
        done = subprocess.run([sys.executable, "-m", "surrolab.cli", *ARGS[:5], "2", *ARGS[6:],
                               "--set", f"stabilization={stabilization}", "--out", str(out)],
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        lines[stabilization] = [line for line in done.stderr.replace("\r", "\n").splitlines() if "warning" in line]
        with h5py.File(out, "r") as f:
            cell_reynolds, stabilized = f["samples/cell_reynolds"][:], f["samples/stabilized"][:]
        assert np.all(cell_reynolds > 0)
        if stabilization == "none":
            assert np.all(stabilized == 0) and cell_reynolds.max() > 10
            unresolved = np.flatnonzero(cell_reynolds > 10)
            assert len(lines["none"]) == len(unresolved) == 1
            assert f"sample {unresolved[0]}: cell Reynolds number {cell_reynolds.max():.3g} exceeds 10" in lines["none"][0]
        else:
            assert lines["auto"] == [] and stabilized.max() == 1.0
    info = subprocess.run([sys.executable, "-m", "surrolab.cli", "info", str(tmp_path / "none.h5")],
                          capture_output=True, text=True, timeout=60)
    assert "cell_reynolds" in info.stdout and "stabilized" in info.stdout
