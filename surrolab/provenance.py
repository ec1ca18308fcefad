"""Where a file came from: package versions, git revision, machine, command line."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

PACKAGES = ("surrolab", "numpy", "scipy", "h5py", "torch", "neuraloperator", "dolfinx-solver-real", "petsc4py")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_revision() -> str:
    """The checkout's HEAD, with `+dirty` if it has uncommitted changes; `unknown` outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def hardware() -> str:
    """One line naming the CPU (and GPU, when torch sees one) that the timings were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    line = f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"
    # torch is asked only when something has imported it already: importing it here cost 2.4 s per
    # `surrolab generate` (benchmarks/results/generation_throughput.md); the driver's files name a GPU as well
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name(0)}"
    elif gpus := _nvidia_gpus():
        line += f", GPU {gpus[0]}"
    if torch is not None:
        line += f", torch threads {torch.get_num_threads()}"
    return line


def _nvidia_gpus() -> list[str]:
    """GPU models from the NVIDIA driver's /proc files (empty without the driver)."""
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            names += [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                      if line.startswith("Model:")]
        except OSError:
            pass
    return names


def provenance(**extra) -> dict:
    return {"packages": package_versions(), "git_revision": git_revision(), "hardware": hardware(),
            "command": " ".join(sys.argv), **extra}
