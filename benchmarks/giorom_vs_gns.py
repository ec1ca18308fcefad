"""GIOROM against GNS on MPM particle datasets (issue 7; Viswanath et al., arXiv 2407.03925).

For each material (water, sand, jelly, plasticine, goop: the registered `mpm_blob_<law>` problems, 2D,
blobs of random size, shape, speed and spin) the warp MPM solver writes an HDF5 dataset through the one
generator (`datasets.generate`); its train split teaches both models, its test split scores them.
- GNS (`surrogates.gns`) learns the accelerations of all the particles;
- GIOROM (`surrogates.giorom`) learns them on sparse subsets of `fraction` of the particles (farthest-point
  sampled), and its kernel interpolation (`KernelInterpolation`) learns to carry the sparse displacement to
  every particle (a second, separate fit on the same trajectories).
Same budget: the same windows, noise, batch size, learning rate and number of optimiser steps, in the one
training loop; each model trains in its own process (one torch thread, two at a time) and reports its time.

Scores on each test trajectory, from the first `history` + 1 frames of the reference to its last frame:
mean particle distance (mm, all particles, all predicted frames) and at the last frame; GIOROM's floor is
the error of its dense reconstruction from the true sparse trajectory (the interpolation alone).
Speed, one torch thread, side by side in one process, fastest of `repeats`:
- per step at each test trajectory's particle count: GNS (radius graph + network) and GIOROM (sparse graph +
  network + the weighted sum that evaluates every particle);
- against the number of query points, 10³ to 10⁵, in a square body at the datasets' particle density
  scaled so that each particle keeps ~20 neighbours (GNS's radius follows the spacing), GIOROM on a
  `timing_sparse`-node graph (the paper: ~10⁵ points from ~10³ nodes); untrained networks of the study's sizes
  (the time does not depend on the weights); GIOROM's one-off set-up (FPS, the interpolation weights) apart.

    python -m surrolab.benchmarks.giorom_vs_gns --out benchmarks/results/giorom_vs_gns.md
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from surrolab.benchmarks.study_tools import (errors_mm, load_state_arrays, peak_rss_mib, ratio, state_arrays,
                                             write_results)

MATERIAL_NAMES = ("water", "sand", "jelly", "plasticine", "goop")


@dataclass(frozen=True)
class StudySettings:
    n_grid: int = 64  # 2D unit box, particles 1/128 m apart (2 per cell per axis)
    t_end: float = 0.4  # s
    n_frames: int = 161  # 2.5 ms between frames: a particle moves well under the connectivity radius per frame
    n_train: int = 6  # trajectories per material
    n_test: int = 2
    history: int = 5
    noise: float = 1.0e-4  # m per frame: GNS's random-walk training noise
    latent: int = 64
    gns_layers: int = 5
    giorom_layers: int = 2  # the reference's n_mp_layers (2 before, 2 after the operator)
    grid_points: int = 16  # the reference's 32 points span [−1, 1]: 16 over a unit box
    fraction: float = 0.125  # sparse nodes / particles (the paper: 1/3 to 1/30)
    radius_spacings: float = 2.5  # connectivity radius in particle spacings (of the dense or the sparse set)
    steps: int = 3000  # optimiser steps of each model, batch 2
    learning_rate: float = 1.0e-3
    kernel_steps: int = 400
    timing_counts: tuple[int, ...] = (1_000, 10_000, 100_000)
    timing_sparse: int = 1_000
    repeats: int = 3
    seed: int = 0


QUICK = StudySettings(n_grid=32, t_end=0.2, n_frames=16, n_train=1, n_test=1, latent=16, gns_layers=2, giorom_layers=1,
                      grid_points=8, fraction=0.25, steps=6, kernel_steps=5, timing_counts=(300, 1_000),
                      timing_sparse=100, repeats=1)


def spacing(settings: StudySettings) -> float:
    return 1.0 / settings.n_grid / 2


def sparse_radius(settings: StudySettings) -> float:
    """The sparse set's spacing is the dense one over √fraction (2D)."""
    return settings.radius_spacings * spacing(settings) / math.sqrt(settings.fraction)


# -- data ---------------------------------------------------------------------------------------------------
def make_dataset(material: str, settings: StudySettings, out_dir: Path) -> Path:
    from surrolab.datasets.generate import generate
    from surrolab.datasets.splits import SplitSpec
    from surrolab.registry import get_problem

    problem = get_problem(f"mpm_blob_{material}")
    frames = dict(dim=2, n_grid=settings.n_grid, t_end=settings.t_end, n_frames=settings.n_frames)
    config = problem.Config(**frames, substeps=problem.stable_substeps(**frames))
    n = settings.n_train + settings.n_test
    splits = SplitSpec(val_fraction=0.0, test_fraction=settings.n_test / n, heldout_parameter="")
    return generate(problem, config, n, out_dir / f"{material}.h5", seed=settings.seed, splits=splits,
                    vary=("speed", "angular_speed"))  # random shapes of the default size, thrown and spun at random


def read_split(path: Path, split: str) -> list[np.ndarray]:
    return [positions for positions, _ in read_samples(path, split)]


def read_samples(path: Path, split: str) -> list[tuple[np.ndarray, float]]:
    """The positions (T, N, 2) of the split's samples and the seconds the MPM solver took for each."""
    from surrolab.datasets import schema
    from surrolab.surrogates.particle_run import read_trajectories

    with schema.open_dataset(path) as f:
        samples = schema.read_split(f, split)
        positions, _ = read_trajectories(f, samples)
        wall_time = f["samples/wall_time"][()][samples]
    return [(p.astype(np.float64), float(t)) for p, t in zip(positions, wall_time)]


def statistics(trajectories: list[np.ndarray], frame_interval: float):
    """(mean, std) of the velocities and accelerations per frame (`splits.frame_differences` × Δt, × Δt²)."""
    from surrolab.datasets.splits import frame_differences

    v, a = zip(*(frame_differences(t, np.arange(len(t)) * frame_interval) for t in trajectories))
    v = np.concatenate([x.reshape(-1, 2) for x in v]) * frame_interval
    a = np.concatenate([x.reshape(-1, 2) for x in a]) * frame_interval**2
    return (v.mean(0), v.std(0)), (a.mean(0), a.std(0))


def build(kind: str, settings: StudySettings, stats):
    from surrolab.solvers.mpm.kernels import WALL_CELLS
    from surrolab.surrogates.giorom import GIOROM
    from surrolab.surrogates.gns import GNS

    wall = WALL_CELLS / settings.n_grid
    common = dict(bounds=(np.full(2, wall), np.full(2, 1.0 - wall)), velocity_stats=stats[0],
                  acceleration_stats=stats[1], history=settings.history, latent=settings.latent)
    if kind == "gns":
        return GNS(2, 1, radius=settings.radius_spacings * spacing(settings), n_layers=settings.gns_layers, **common)
    return GIOROM(2, 1, radius=sparse_radius(settings), n_layers=settings.giorom_layers,
                  grid_points=settings.grid_points, **common)


# -- training (one process per model) -----------------------------------------------------------------------
def train_job(job) -> dict:
    import torch

    from surrolab.datasets.particle_data import ParticleWindows
    from surrolab.surrogates.training import TrainConfig, train

    torch.set_num_threads(1)
    kind, material, path, settings = job
    torch.manual_seed(settings.seed)
    trajectories = read_split(path, "train")
    stats = statistics(trajectories, settings.t_end / (settings.n_frames - 1))
    model = build(kind, settings, stats)
    types = [np.zeros(t.shape[1], dtype=int) for t in trajectories]
    windows = ParticleWindows(trajectories, types, settings.history, settings.noise, settings.seed)
    batches = -(-len(windows) // 2)
    config = TrainConfig(epochs=max(1, round(settings.steps / batches)), batch_size=2,
                         learning_rate=settings.learning_rate, weight_decay=0.0, seed=settings.seed, device="cpu")
    hooks = model.training_hooks() if kind == "gns" else model.training_hooks(settings.fraction, "fps", settings.seed)
    rss_before, tick = peak_rss_mib(), time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        row = train(model, None, windows, [], config, out, hooks=hooks,
                    signature={"study": "giorom_vs_gns", "material": material, "model": kind})
    result = {"kind": kind, "material": material, "seconds": time.perf_counter() - tick, "loss": row["train_loss"],
              "steps": config.epochs * batches, "weights": {"constructor": model.constructor,
                                                             "state_dict": state_arrays(model)}}
    if kind == "giorom":
        tick = time.perf_counter()
        interpolation, loss = fit_interpolation(trajectories, settings)
        result.update(kernel_seconds=time.perf_counter() - tick, kernel_loss=loss, kernel=state_arrays(interpolation))
    result.update(rss_before_mib=rss_before, rss_peak_mib=peak_rss_mib())
    return result


def fit_interpolation(trajectories: list[np.ndarray], settings: StudySettings):
    """The kernel learns x_q(t) − x_q(r) from the sparse nodes' x_j(t) − x_j(r), the sparse set chosen by FPS
    at a random frame r < t, over the training trajectories; loss: MSE in particle spacings."""
    import torch

    from surrolab.surrogates.giorom import sparse_subset
    from surrolab.surrogates.kernel_interpolation import KernelInterpolation

    rng = np.random.default_rng(settings.seed)
    interpolation = KernelInterpolation(2).double()
    optimiser = torch.optim.Adam(interpolation.parameters(), lr=1e-3)
    loss = torch.tensor(float("nan"))
    for _ in range(settings.kernel_steps):
        frames = torch.as_tensor(trajectories[rng.integers(len(trajectories))])
        r = int(rng.integers(len(frames) - 1))
        t = int(rng.integers(r + 1, len(frames)))
        sparse = sparse_subset(frames[r].numpy(), math.ceil(settings.fraction * frames.shape[1]), "fps", rng)
        displacement = frames[t] - frames[r]
        prediction = interpolation(frames[r][sparse], displacement[sparse], frames[r])
        loss = torch.mean((prediction - displacement) ** 2) / spacing(settings) ** 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return interpolation, loss.item()


# -- evaluation ----------------------------------------------------------------------------------------------
def restore(result: dict):
    from surrolab.surrogates.giorom import GIOROM
    from surrolab.surrogates.gns import GNS

    model = (GNS if result["kind"] == "gns" else GIOROM)(**result["weights"]["constructor"])
    return load_state_arrays(model, result["weights"]["state_dict"]).eval()


def rollouts(gns, giorom, interpolation, truth: np.ndarray, settings: StudySettings) -> dict:
    import torch

    from surrolab.surrogates.giorom import dense_rollout, sparse_subset
    from surrolab.surrogates.gns import rollout

    h, steps = settings.history, len(truth) - settings.history - 1
    window = torch.as_tensor(truth[:h + 1], dtype=torch.float32).transpose(0, 1)
    types = torch.zeros(truth.shape[1], dtype=torch.long)
    sparse = sparse_subset(truth[h], math.ceil(settings.fraction * truth.shape[1]), "fps",
                           np.random.default_rng(settings.seed))
    sparse_types = types[torch.as_tensor(sparse, dtype=torch.long)]
    with torch.no_grad():
        tick = time.perf_counter()
        gns_frames = rollout(lambda w: gns.predict(w, types), window, steps)
        gns_seconds = time.perf_counter() - tick
        tick = time.perf_counter()
        giorom_frames = dense_rollout(lambda w: giorom.predict(w, sparse_types), interpolation.float(), window,
                                      sparse, steps)
        giorom_seconds = time.perf_counter() - tick
        exact = torch.as_tensor(truth, dtype=torch.float32)
        oracle = dense_rollout(lambda w, k=iter(range(h + 1, len(truth))): _true_acceleration(exact, sparse, next(k)),
                               interpolation, window, sparse, steps)
    frames = lambda f: np.concatenate([truth[:h + 1], f.numpy()])  # noqa: E731
    at_rest = torch.as_tensor(truth[h]).expand(steps, -1, -1)  # the trivial prediction: nothing moves
    return {"particles": truth.shape[1], "sparse_nodes": len(sparse), "frames": len(truth),
            "at_rest": errors_mm(frames(at_rest), truth, h + 1),
            "gns": errors_mm(frames(gns_frames), truth, h + 1),
            "giorom": errors_mm(frames(giorom_frames), truth, h + 1),
            "giorom_floor": errors_mm(frames(oracle), truth, h + 1),
            "gns_ms_per_step": 1e3 * gns_seconds / steps, "giorom_ms_per_step": 1e3 * giorom_seconds / steps}


def _true_acceleration(truth, sparse, frame: int):
    """The acceleration that brings the sparse nodes from frame − 1 to `frame` exactly (the oracle)."""
    return (truth[frame] - 2 * truth[frame - 1] + truth[frame - 2])[sparse]


def query_scaling(settings: StudySettings, stats) -> list[dict]:
    """Time per step of GNS and of GIOROM against the number of particles (query points)."""
    import torch

    from surrolab.surrogates.giorom import dense_rollout, sparse_subset
    from surrolab.surrogates.gns import rollout
    from surrolab.surrogates.kernel_interpolation import KernelInterpolation

    torch.manual_seed(settings.seed)
    gns, giorom = build("gns", settings, stats).eval(), build("giorom", settings, stats).eval()
    interpolation = KernelInterpolation(2)
    rows, rng = [], np.random.default_rng(settings.seed)
    for count in settings.timing_counts:
        side = int(round(math.sqrt(count)))
        gap = 0.4 / side  # a 0.4 m square body; GNS's radius follows the spacing (~20 neighbours)
        axis = np.arange(side) * gap + 0.3
        body = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
        body += rng.normal(scale=0.05 * gap, size=body.shape)
        moves = rng.normal(scale=0.1 * gap, size=(settings.history, len(body), 2)).cumsum(0)
        window = torch.as_tensor(np.stack([body] + [body + m for m in moves], 1), dtype=torch.float32)
        types = torch.zeros(len(body), dtype=torch.long)
        n_sparse = min(settings.timing_sparse, len(body))
        gns.radius = settings.radius_spacings * gap
        giorom.radius = settings.radius_spacings * gap * math.sqrt(len(body) / n_sparse)
        tick = time.perf_counter()
        sparse = sparse_subset(body, n_sparse, "fps", rng)
        with torch.no_grad():
            index, weight = interpolation.weights(window[sparse, -1], window[:, -1])
        setup = time.perf_counter() - tick
        best_gns = best_giorom = float("inf")
        with torch.no_grad():
            for _ in range(settings.repeats):
                tick = time.perf_counter()
                rollout(lambda w: gns.predict(w, types), window, 1)
                best_gns = min(best_gns, time.perf_counter() - tick)
                tick = time.perf_counter()
                dense_rollout(lambda w: giorom.predict(w, types[:n_sparse]), interpolation, window, sparse, 1,
                              weights=(index, weight))
                best_giorom = min(best_giorom, time.perf_counter() - tick)
        rows.append({"particles": len(body), "sparse_nodes": n_sparse, "gns_ms": 1e3 * best_gns,
                     "giorom_ms": 1e3 * best_giorom, "giorom_setup_ms": 1e3 * setup})
    return rows


def run(settings: StudySettings, data_dir: Path, jobs: int = 2, material_names=MATERIAL_NAMES) -> dict:
    import torch

    from surrolab.surrogates.kernel_interpolation import KernelInterpolation

    torch.set_num_threads(1)
    paths = {m: make_dataset(m, settings, data_dir) for m in material_names}
    work = [(kind, m, paths[m], settings) for m in material_names for kind in ("gns", "giorom")]
    with multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        results = pool.map(train_job, work, chunksize=1)
    trained = {(r["kind"], r["material"]): r for r in results}
    rows = []
    for m in material_names:
        gns, giorom = restore(trained[("gns", m)]), restore(trained[("giorom", m)])
        interpolation = load_state_arrays(KernelInterpolation(2).double(), trained[("giorom", m)]["kernel"])
        for k, (truth, solver_seconds) in enumerate(read_samples(paths[m], "test")):
            rows.append({"material": m, "test_sample": k, "mpm_ms_per_frame": 1e3 * solver_seconds / (len(truth) - 1),
                         **rollouts(gns, giorom, interpolation, truth, settings)})
    frame_interval = settings.t_end / (settings.n_frames - 1)
    scaling = query_scaling(settings, statistics(read_split(paths[material_names[0]], "train"), frame_interval))
    costs = [{key: r[key] for key in r if key not in ("weights", "kernel")} for r in results]
    return {"settings": dataclasses.asdict(settings), "rows": rows, "scaling": scaling, "training": costs}


def report(result: dict, command: str) -> str:
    s = result["settings"]
    lines = ["# GIOROM against GNS on MPM particle datasets", "",
             f"Command: `{command}`. 2D `mpm_blob_<material>` datasets, {s['n_grid']}² grid, particles "
             f"{1e3 * 0.5 / s['n_grid']:.2f} mm apart, {s['n_frames']} frames over {s['t_end']} s; {s['n_train']} "
             f"training and {s['n_test']} test trajectories per material. GIOROM on {s['fraction']:.3g} of the "
             f"particles (FPS). Both: {s['steps']} optimiser steps of batch 2, latent {s['latent']}, noise "
             f"{s['noise']} m. Errors: mean particle distance in mm over frames {s['history'] + 1}… (mean) and at "
             "the last frame (final), over all particles; floor: GIOROM's dense reconstruction from the true "
             "sparse trajectory; at rest: the particles left where they were at the last input frame. Times: one "
             "torch thread, the rollouts of the table, per step (one frame); the MPM solver's per frame (one "
             "thread, its substeps, measured when the dataset was generated).", "",
             "| material | test | particles | sparse nodes | at rest | GNS mean | GIOROM mean | floor | GNS final | "
             "GIOROM final | MPM ms/frame | GNS ms/step | GIOROM ms/step | speed-up over GNS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        g, o, f = r["gns"], r["giorom"], r["giorom_floor"]
        lines.append(f"| {r['material']} | {r['test_sample']} | {r['particles']} | {r['sparse_nodes']} | "
                     f"{r['at_rest']['mean']:.1f} | {g['mean']:.2f} | {o['mean']:.2f} | {f['mean']:.2f} | "
                     f"{g['final']:.2f} | {o['final']:.2f} | {r['mpm_ms_per_frame']:.1f} | "
                     f"{r['gns_ms_per_step']:.1f} | {r['giorom_ms_per_step']:.1f} | "
                     f"{ratio(r['gns_ms_per_step'], r['giorom_ms_per_step'])} |")
    lines += ["", "Time per step against the number of particles (query points), untrained networks of the same "
              f"sizes, fastest of {s['repeats']}; GIOROM's set-up (FPS and interpolation weights, once per rollout) "
              "apart:", "",
              "| particles | GIOROM sparse nodes | GNS ms/step | GIOROM ms/step | speed-up | GIOROM set-up ms |",
              "|---|---|---|---|---|---|"]
    for r in result["scaling"]:
        lines.append(f"| {r['particles']} | {r['sparse_nodes']} | {r['gns_ms']:.1f} | {r['giorom_ms']:.1f} | "
                     f"{ratio(r['gns_ms'], r['giorom_ms'])} | {r['giorom_setup_ms']:.0f} |")
    lines += ["", "Training (own process, one torch thread, two at a time; MiB):", "",
              "| model | material | steps | wall time (s) | last loss | kernel fit (s, loss) | peak RSS |",
              "|---|---|---|---|---|---|---|"]
    for c in sorted(result["training"], key=lambda c: (c["kind"], c["material"])):
        kernel = f"{c['kernel_seconds']:.0f}, {c['kernel_loss']:.3g}" if "kernel_seconds" in c else "—"
        lines.append(f"| {c['kind']} | {c['material']} | {c['steps']} | {c['seconds']:.0f} | {c['loss']:.3g} | "
                     f"{kernel} | {c['rss_peak_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/giorom_vs_gns.md"))
    parser.add_argument("--data", type=Path, default=None, help="where the datasets go (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=2, help="models trained at once, one process each")
    parser.add_argument("--quick", action="store_true", help="a few seconds per model: checks the pipeline only")
    parser.add_argument("--materials", nargs="+", choices=MATERIAL_NAMES, default=list(MATERIAL_NAMES))
    parser.add_argument("--steps", type=int, default=None,
                        help=f"optimiser steps of each model (default {StudySettings.steps}): the training budget")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else StudySettings()
    if args.steps is not None:
        if args.steps < 1:
            parser.error(f"--steps {args.steps}: a positive number of optimiser steps")
        settings = dataclasses.replace(settings, steps=args.steps)
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or Path(scratch)
        data.mkdir(parents=True, exist_ok=True)
        result = run(settings, data, args.jobs, tuple(args.materials))
    command = " ".join(["python -m surrolab.benchmarks.giorom_vs_gns"] + (argv if argv is not None else sys.argv[1:]))
    write_results(args.out, report(result, command), result)


if __name__ == "__main__":
    main()
