"""The normaliser a model trains with: each statistic belongs to its parameter, whatever order the file lists them in."""
import h5py
import numpy as np
import torch

from surrolab.datasets import schema
from surrolab.datasets.generate import generate
from surrolab.registry import get_problem
from surrolab.surrogates.base import Normalizer


def normalised_training_parameters(path):
    with schema.open_dataset(path) as f:
        d = schema.read_description(f)
        params = schema.read_parameters(f, d, schema.read_split(f, "train"))
        normalizer = Normalizer.from_dataset(f, d)
    return d, normalizer.encode_parameters(torch.as_tensor(params, dtype=torch.float32)).numpy()


def test_the_training_parameters_normalise_to_zero_mean_and_unit_std_per_parameter(tmp_path):
    """The cavity declares lid_speed, density, viscosity, width, height; HDF5 lists them alphabetically. Each
    column must be scaled by its own statistics (a mix-up scaled the viscosity, ~1e-2, by the width's and gave
    inputs of 10³). Files written before the statistics were named are read in the problem's declared order."""
    problem = get_problem("cavity")
    assert list(problem.parameter_names()) != sorted(problem.parameter_names())  # the case that matters
    config = problem.make_config("demo", t_end=0.2, n_frames=2, substeps=1, ramp_time=0.1, h=0.25, grid_resolution=4)
    path = generate(problem, config, 10, tmp_path / "cavity.h5")
    d, z = normalised_training_parameters(path)
    assert list(d.parameter_names) == sorted(problem.parameter_names())
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-5)
    assert schema.validate(path) == []
    with h5py.File(path, "r+") as f:  # as written before `names` existed
        del f["normalization/parameters"].attrs["names"]
    _, z_old = normalised_training_parameters(path)
    np.testing.assert_allclose(z_old, z)
