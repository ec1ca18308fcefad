"""Helpers the dataset tests share: a file's arrays, and one `surrolab generate` run serially and on two
MPI ranks."""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest


def read_arrays(path) -> dict[str, np.ndarray]:
    """Every dataset in an HDF5 file, by its path."""
    with h5py.File(path) as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture
def h5_arrays():
    return read_arrays


@pytest.fixture
def serial_and_mpi(tmp_path):
    """run(args) -> (serial file, file generated under `mpiexec -n 2`) for `surrolab <args> --out …`."""
    mpiexec = Path(sys.executable).parent / "mpiexec"  # MPICH from the dolfinx wheel

    def run(args: list[str]) -> tuple[Path, Path]:
        serial, parallel = tmp_path / "s.h5", tmp_path / "p.h5"
        done = subprocess.run([sys.executable, "-m", "surrolab.cli", *args, "--out", str(serial)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        done = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-m", "surrolab.cli", *args, "--out",
                               str(parallel)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return serial, parallel

    return run
