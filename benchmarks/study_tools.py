"""What the particle studies (`nclaw_generalisation`, `giorom_vs_gns`) share: the position error they score,
weights handed between worker processes, peak memory, ratios in tables, and writing the report beside its
JSON. Kept out of the numerics: the studies' models and solvers know nothing of it."""
from __future__ import annotations

import json
import resource
from pathlib import Path

import numpy as np


def errors_mm(prediction: np.ndarray, truth: np.ndarray, first: int) -> dict:
    """Mean particle distance in mm over frames first… and at the last; a rollout that diverged (NaN
    frames) scores inf, with the first frame it lost."""
    distance = np.linalg.norm(prediction[first:] - truth[first:], axis=-1).mean(axis=1) * 1e3
    lost = np.flatnonzero(~np.isfinite(distance))
    if lost.size:
        return {"mean": float("inf"), "final": float("inf"), "diverged_at_frame": int(lost[0] + first)}
    return {"mean": float(distance.mean()), "final": float(distance[-1])}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def state_arrays(module) -> dict:
    # numpy, not tensors: torch sends tensors between processes as shared-memory handles, which die with
    # the worker that made them
    return {key: value.detach().cpu().numpy() for key, value in module.state_dict().items()}


def load_state_arrays(module, arrays: dict):
    import torch

    module.load_state_dict({key: torch.as_tensor(value) for key, value in arrays.items()})
    return module


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}" if b > 0 and np.isfinite(a) and np.isfinite(b) else "n/a"


def write_results(out: Path, text: str, result: dict) -> None:
    """The report at `out` (Markdown) and everything it was made from beside it (`.json`); prints the report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    print(text)
