"""NCLaw against GNS out of distribution (issue 6; Ma et al., ICML 2023, §5: "generalisation").

For each material (jelly, plasticine, sand, water) one trajectory of a falling box, computed by the warp
MPM solver with the analytic law, is all the training data:
- NCLaw: the elastic and plastic networks learn through the differentiable MPM (`nclaw.fit`, the paper's
  teacher-forcing schedule) from every step of it;
- GNS: the learned simulator learns the frames' accelerations (every `frame_every`-th step) in the one
  training loop (`surrogates.training.train`, GNS's hooks, its random-walk noise).
Both are then run on cases neither saw and compared with the MPM run of the analytic law:
- shape: an ellipse of similar size instead of the box;
- velocity: a new initial velocity, with spin;
- horizon: the training scene run twice as long (the second half never observed);
- multi-material: the four materials side by side. NCLaw puts each material's networks in the solver's
  slot for its particles; GNS, which takes the material as a node type, is trained once more on the four
  training trajectories together (each NCLaw still saw one).
Error: the mean distance of the particles to their reference positions, averaged over the stored frames
from the (history + 1)-th on (GNS takes the first history + 1 frames from the reference), and at the last
frame, in mm (the box is 300 mm wide).

Each model trains in its own process (two at a time with --jobs 2, one torch thread each), which reports
its training wall time and peak resident memory (before and during training).

    python -m surrolab.benchmarks.nclaw_generalisation --out benchmarks/results/nclaw_generalisation.md
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from surrolab.benchmarks.study_tools import (errors_mm, load_state_arrays, peak_rss_mib, ratio, state_arrays,
                                             write_results)

MATERIAL_NAMES = ("jelly", "plasticine", "sand", "water")
CASES = ("training", "shape", "velocity", "horizon")


@dataclass(frozen=True)
class StudySettings:
    n_grid: int = 20  # 2D, the unit box: Δx = 50 mm, particles Δx/2 apart (NCLaw's data: 20³ and Δt 5e-4 s)
    dt: float = 5.0e-4  # s, the paper's; stable for the stiffest law here (sand, 37 m/s)
    train_steps: int = 300  # 0.15 s: the box hits the floor after 0.02 s
    frame_every: int = 5  # GNS's frame interval, in solver steps (2.5 ms)
    nclaw_epochs: int = 120
    nclaw_lr_plastic: float = 0.1  # the paper's (NCLawTraining's default)
    stress_scale: float = 1.0e5  # Pa, the elastic network's output unit (`ElasticNetwork`)
    gns_steps: int = 3000  # optimiser steps, batch 2
    gns_latent: int = 64
    gns_layers: int = 5
    gns_history: int = 5
    gns_noise: float = 1.0e-4  # m per frame, about the std of the frame accelerations (GNS: noise ≈ 1.4× that std on WaterDrop)
    gns_learning_rate: float = 1.0e-3
    seed: int = 0


QUICK = StudySettings(train_steps=60, nclaw_epochs=2, gns_steps=8, gns_latent=16, gns_layers=2)


def materials():
    from surrolab.solvers.mpm.materials import DruckerPrager, FixedCorotated, NewtonianFluid, VonMises

    # the paper's materials (Ma et al. 2023, appendix; REFERENCES.md): jelly E 1e5 Pa, ν 0.2; plasticine
    # E 3e5, ν 0.25, σ_y 5e3; sand E 1e6, friction 25°; water (ours: K 2e5 Pa, η 1e-3 Pa·s)
    return {"jelly": FixedCorotated(youngs_modulus=1.0e5, poisson_ratio=0.2),
            "plasticine": VonMises(youngs_modulus=3.0e5, poisson_ratio=0.25, yield_stress=5.0e3),
            "sand": DruckerPrager(youngs_modulus=1.0e6, poisson_ratio=0.3, friction_angle=25.0),
            "water": NewtonianFluid()}


# -- scenes: (positions, velocities, material ids) ----------------------------------------------------------
def scene(case: str, settings: StudySettings, n_materials: int = 4):
    from surrolab.solvers.mpm.shapes import fill, lattice

    h = 1.0 / settings.n_grid / 2
    if case in ("training", "horizon"):
        x = lattice([0.30, 0.16], [0.60, 0.46], h)
        return x, np.tile([1.0, -1.5], (len(x), 1)), np.zeros(len(x), dtype=int)
    if case == "shape":
        angle = np.radians(25.0)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        x = fill("ellipsoid", [0.45, 0.30], [0.20, 0.11], rotation, h)
        return x, np.tile([1.0, -1.5], (len(x), 1)), np.zeros(len(x), dtype=int)
    if case == "velocity":
        x = lattice([0.40, 0.16], [0.70, 0.46], h)
        centre = x.mean(axis=0)
        spin = 4.0 * np.stack([-(x[:, 1] - centre[1]), x[:, 0] - centre[0]], axis=1)  # ω = 4 rad/s
        return x, np.array([-1.5, 0.5]) + spin, np.zeros(len(x), dtype=int)
    if case == "multi":
        # one box per material, side by side (0.18 m wide, 0.18 or 0.28 m tall)
        boxes = [lattice([0.08 + 0.22 * k, 0.16], [0.26 + 0.22 * k, 0.34 + 0.1 * (k % 2)], h)
                 for k in range(n_materials)]
        x = np.concatenate(boxes)
        ids = np.concatenate([np.full(len(b), k) for k, b in enumerate(boxes)])
        return x, np.tile([0.0, -1.0], (len(x), 1)), ids
    raise ValueError(f"unknown case {case!r}")


def steps_of(case: str, settings: StudySettings) -> int:
    return 2 * settings.train_steps if case == "horizon" else settings.train_steps


def run_scene(laws, case: str, settings: StudySettings, every: int = 1) -> list[dict]:
    """An MPM run of `case` with `laws` in the material slot: the state (x, v, C, F) every `every` steps,
    from step 0. A learned law may diverge (its F no longer finite): the run then ends early."""
    import torch

    from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver

    x, v, ids = scene(case, settings, len(laws))
    config = MPMConfig(dim=2, n_grid=settings.n_grid, walls="slip")
    solver = MPMSolver(config, laws, ids, (config.dx / 2) ** 2)
    solver.check_dt(settings.dt, v)
    state, states = solver.initial_state(x, v), []
    with torch.no_grad():  # a NeuralLaw's networks run forward only
        for step in range(steps_of(case, settings) + 1):
            if step % every == 0:
                states.append(state.numpy())
            if step < steps_of(case, settings):
                try:
                    state = solver.step(state, settings.dt, step * settings.dt)
                except torch.linalg.LinAlgError:  # the SVD of a non-finite F: the learned law diverged
                    break
    return states


# -- training, one model per process --------------------------------------------------------------------------
def gns_statistics(trajectories):
    """Per-component mean and std of the frame velocities and accelerations (position units per frame)."""
    velocity = np.concatenate([np.diff(t, axis=0).reshape(-1, t.shape[-1]) for t in trajectories])
    acceleration = np.concatenate([np.diff(t, 2, axis=0).reshape(-1, t.shape[-1]) for t in trajectories])
    return (velocity.mean(0), velocity.std(0)), (acceleration.mean(0), acceleration.std(0))


def build_gns(n_types: int, settings: StudySettings, trajectories):
    from surrolab.solvers.mpm.kernels import WALL_CELLS
    from surrolab.surrogates.gns import GNS

    dx = 1.0 / settings.n_grid
    velocity_stats, acceleration_stats = gns_statistics(trajectories)
    wall = WALL_CELLS * dx
    return GNS(2, n_types, radius=2.5 * dx / 2, bounds=(np.full(2, wall), np.full(2, 1.0 - wall)),
               velocity_stats=velocity_stats, acceleration_stats=acceleration_stats, history=settings.gns_history,
               latent=settings.gns_latent, n_layers=settings.gns_layers)


def train_job(job):
    """One model in its own process: ("nclaw", material, states) or ("gns", name, [(frames, types)])."""
    import torch
    import warp as wp

    wp.config.quiet = True
    torch.set_num_threads(1)
    kind, name, data, settings = job
    torch.manual_seed(settings.seed)
    rss_before = peak_rss_mib()
    tick = time.perf_counter()
    if kind == "nclaw":
        from surrolab.solvers.mpm.solver import MPMConfig, MPMSolver
        from surrolab.surrogates.nclaw import ElasticNetwork, NCLawTraining, PlasticNetwork, fit, init_weights

        elastic, plastic = ElasticNetwork(2, stress_scale=settings.stress_scale), PlasticNetwork(2)
        init_weights(elastic, plastic)
        config = MPMConfig(dim=2, n_grid=settings.n_grid, walls="slip")
        solver = MPMSolver(config, [materials()[name]], np.zeros(len(data[0]["x"]), dtype=int), (config.dx / 2) ** 2,
                           requires_grad=True)
        # the paper's schedule, our elastic rate (see NCLawTraining's docstring)
        training = NCLawTraining(epochs=settings.nclaw_epochs, lr_plastic=settings.nclaw_lr_plastic)
        losses = fit(solver, elastic, plastic, data, settings.dt, training)
        weights = {"elastic": state_arrays(elastic), "plastic": state_arrays(plastic)}
        finite = [x for x in losses if np.isfinite(x)]
        log = {"first_loss": finite[0], "last_loss": finite[-1], "rejected_epochs": len(losses) - len(finite)}
    else:
        from surrolab.datasets.particle_data import ParticleWindows
        from surrolab.surrogates.training import TrainConfig, train

        frames, types = [d[0] for d in data], [d[1] for d in data]
        model = build_gns(max(int(t.max()) for t in types) + 1, settings, frames)
        windows = ParticleWindows(frames, types, settings.gns_history, settings.gns_noise, settings.seed)
        batches_per_epoch = -(-len(windows) // 2)
        config = TrainConfig(epochs=max(1, round(settings.gns_steps / batches_per_epoch)), batch_size=2,
                             learning_rate=settings.gns_learning_rate, weight_decay=0.0, seed=settings.seed, device="cpu")
        with tempfile.TemporaryDirectory() as out:
            row = train(model, None, windows, [], config, out, signature={"study": "nclaw_generalisation", "name": name},
                        hooks=model.training_hooks())
        weights = {"constructor": model.constructor, "state_dict": state_arrays(model)}
        log = {"last_loss": row["train_loss"], "epochs": config.epochs, "steps": config.epochs * batches_per_epoch}
    return {"kind": kind, "name": name, "weights": weights, "seconds": time.perf_counter() - tick,
            "rss_before_mib": rss_before, "rss_peak_mib": peak_rss_mib(), **log}


# -- evaluation -----------------------------------------------------------------------------------------------
def nclaw_rollout(trained: dict, law_names, case: str, settings: StudySettings) -> np.ndarray:
    """The networks in the solver's material slot (`NeuralLaw`): positions every `frame_every` steps, NaN
    after a divergence."""
    from surrolab.surrogates.nclaw import ElasticNetwork, NeuralLaw, PlasticNetwork

    laws = []
    for name in law_names:
        elastic, plastic = ElasticNetwork(2, stress_scale=settings.stress_scale), PlasticNetwork(2)
        load_state_arrays(elastic, trained[name]["elastic"])
        load_state_arrays(plastic, trained[name]["plastic"])
        laws.append(NeuralLaw(elastic=elastic, plastic=plastic, wave_speed_bound=materials()[name].wave_speed()))
    frames = [state["x"] for state in run_scene(laws, case, settings, settings.frame_every)]
    n_frames = steps_of(case, settings) // settings.frame_every + 1
    frames += [np.full_like(frames[0], np.nan)] * (n_frames - len(frames))
    return np.stack(frames)


def gns_rollout(trained: dict, truth: np.ndarray, types: np.ndarray, settings: StudySettings) -> np.ndarray:
    import torch

    from surrolab.surrogates.gns import GNS, rollout

    model = load_state_arrays(GNS(**trained["constructor"]), trained["state_dict"]).eval()
    start = torch.as_tensor(truth[:settings.gns_history + 1], dtype=torch.float32).transpose(0, 1)
    types = torch.as_tensor(types, dtype=torch.long)
    with torch.no_grad():
        new = rollout(lambda window: model.predict(window, types), start, len(truth) - settings.gns_history - 1)
    return np.concatenate([truth[:settings.gns_history + 1], new.numpy()])


def run(settings: StudySettings, jobs: int = 2, material_names=MATERIAL_NAMES) -> dict:
    laws = materials()
    every = settings.frame_every
    training = {name: run_scene([laws[name]], "training", settings) for name in material_names}
    frames = {name: np.stack([s["x"] for s in states[::every]]) for name, states in training.items()}
    work = [("gns", "all", [(frames[n], np.full(len(frames[n][0]), k)) for k, n in enumerate(material_names)],
             settings)]
    work += [("gns", n, [(frames[n], np.zeros(len(frames[n][0]), dtype=int))], settings) for n in material_names]
    work += [("nclaw", n, training[n], settings) for n in material_names]
    with multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        results = pool.map(train_job, work, chunksize=1)
    trained = {(r["kind"], r["name"]): r for r in results}

    rows, first = [], settings.gns_history + 1
    for name in material_names:
        for case in CASES:
            truth = np.stack([s["x"] for s in run_scene([laws[name]], case, settings, every)])
            nclaw = nclaw_rollout({name: trained[("nclaw", name)]["weights"]}, [name], case, settings)
            gns = gns_rollout(trained[("gns", name)]["weights"], truth, np.zeros(len(truth[0]), dtype=int), settings)
            rows.append({"material": name, "case": case, "particles": len(truth[0]), "frames": len(truth),
                         "nclaw": errors_mm(nclaw, truth, first), "gns": errors_mm(gns, truth, first)})
    truth = np.stack([s["x"] for s in run_scene([laws[n] for n in material_names], "multi", settings, every)])
    ids = scene("multi", settings, len(material_names))[2]
    nclaw = nclaw_rollout({n: trained[("nclaw", n)]["weights"] for n in material_names}, material_names, "multi",
                          settings)
    gns = gns_rollout(trained[("gns", "all")]["weights"], truth, ids, settings)
    rows.append({"material": "all four" if len(material_names) == 4 else ", ".join(material_names), "case": "multi-material", "particles": len(truth[0]), "frames": len(truth),
                 "nclaw": errors_mm(nclaw, truth, first), "gns": errors_mm(gns, truth, first)})
    costs = [{key: r[key] for key in r if key != "weights"} for r in results]
    return {"settings": dataclasses.asdict(settings), "rows": rows, "training": costs}


def report(result: dict, command: str) -> str:
    s = result["settings"]
    lines = ["# NCLaw against GNS out of distribution", "",
             f"Command: `{command}`. 2D, {s['n_grid']}² grid, Δt {s['dt']} s, trained on {s['train_steps']} steps "
             f"of one falling box per material; GNS frames every {s['frame_every']} steps. Errors: mean particle "
             f"distance to the analytic law's MPM run, in mm, over frames {s['gns_history'] + 1}… (mean) and at the "
             "last frame (final). Ratio: GNS / NCLaw.", "",
             "| material | case | particles | frames | NCLaw mean | GNS mean | ratio | NCLaw final | GNS final | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        n, g = r["nclaw"], r["gns"]
        lines.append(f"| {r['material']} | {r['case']} | {r['particles']} | {r['frames']} | {n['mean']:.2f} | "
                     f"{g['mean']:.2f} | {ratio(g['mean'], n['mean'])} | {n['final']:.2f} | {g['final']:.2f} | "
                     f"{ratio(g['final'], n['final'])} |")
    lines += ["", "Training (each model in its own process, one torch thread; resident memory in MiB):", "",
              "| model | trained on | wall time (s) | peak RSS before training | peak RSS | first → last loss |",
              "|---|---|---|---|---|---|"]
    for c in sorted(result["training"], key=lambda c: (c["kind"], c["name"])):
        loss = (f"{c['first_loss']:.3g} → {c['last_loss']:.3g} ({c['rejected_epochs']} epochs rejected)"
                if "first_loss" in c
                else f"{c['last_loss']:.3g} ({c['steps']} steps)")
        lines.append(f"| {c['kind']} | {c['name']} | {c['seconds']:.0f} | {c['rss_before_mib']:.0f} | "
                     f"{c['rss_peak_mib']:.0f} | {loss} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/nclaw_generalisation.md"))
    parser.add_argument("--jobs", type=int, default=2, help="models trained at once, one process each")
    parser.add_argument("--quick", action="store_true", help="a few seconds per model: checks the pipeline only")
    parser.add_argument("--materials", nargs="+", choices=MATERIAL_NAMES, default=list(MATERIAL_NAMES),
                        help="a subset (the multi-material scene then holds these)")
    parser.add_argument("--lr-plastic", type=float, default=StudySettings.nclaw_lr_plastic,
                        help="NCLaw's plastic learning rate")
    args = parser.parse_args(argv)
    settings = dataclasses.replace(QUICK if args.quick else StudySettings(), nclaw_lr_plastic=args.lr_plastic)
    result = run(settings, args.jobs, tuple(args.materials))
    command = " ".join(["python -m surrolab.benchmarks.nclaw_generalisation"] + (argv if argv is not None else sys.argv[1:]))
    write_results(args.out, report(result, command), result)


if __name__ == "__main__":
    main()
