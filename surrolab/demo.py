"""`surrolab demo`: the whole pipeline, small: solve -> dataset -> train FNO -> compare -> ParaView files.

The same verbs a user types (generate, train, compare, export), called in order on the embedded default:
the FitzHugh–Nagumo diffusion–reaction family on a 32 x 32 P1 mesh.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from surrolab import cli


@dataclass(frozen=True)
class DemoConfig:
    problem: str = "diffusion_reaction"
    samples: int = 40
    resolution: int = 32
    problem_settings: tuple[str, ...] = ()
    model: str = "fno"
    epochs: int = 20
    history: int = 2
    model_settings: tuple[str, ...] = ("modes=10", "hidden_channels=16")
    max_trajectories: int = 4

    @classmethod
    def quick(cls) -> "DemoConfig":
        """The tiny setting the tests run: a pipeline check, not a result."""
        return cls(samples=10, resolution=16, problem_settings=("n_frames=8",), epochs=2,
                   model_settings=("modes=6", "hidden_channels=8", "n_layers=2"), max_trajectories=1)


def run_demo(config: DemoConfig, out: Path) -> None:
    data, run, report, viz = out / "data" / f"{config.problem}.h5", out / "runs" / config.model, out / "report", out / "viz"
    settings = [a for s in config.problem_settings for a in ("--set", s)]
    model_settings = [a for s in config.model_settings for a in ("--set", s)]
    steps = [
        ["generate", config.problem, "--samples", str(config.samples), "--resolution", str(config.resolution),
         "--out", str(data), *settings],
        ["train", config.model, "--data", str(data), "--out", str(run), "--epochs", str(config.epochs),
         "--history", str(config.history), *model_settings],
        ["compare", str(run), "--data", str(data), "--out", str(report),
         "--max-trajectories", str(config.max_trajectories)],
        # the same model on parameters outside its training range (the top of the first parameter's range)
        ["compare", str(run), "--data", str(data), "--out", str(report) + "_heldout", "--split", "test_heldout",
         "--max-trajectories", str(config.max_trajectories)],
        ["export", str(data), "--sample", "0", "--run", str(run), "--out", str(viz)],
    ]
    start = time.perf_counter()
    for argv in steps:
        print(f"\n$ surrolab {' '.join(argv)}", flush=True)
        if cli.main(argv) != 0:
            raise SystemExit(2)
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s; everything is under {out}/")
