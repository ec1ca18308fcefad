"""Steady operator pairs (schema 1.3): a `poisson` dataset written through the one generator, read back with
its roles, alike serially and on two MPI ranks; the validator keeps roles and kinds apart; time-stepping
models refuse it in one line."""
import h5py
import numpy as np
import pytest

from surrolab.datasets import schema
from surrolab.errors import SurrolabError


def test_a_steady_dataset_is_written_and_read_as_operator_pairs(tmp_path, serial_and_mpi, h5_arrays):
    serial, parallel = serial_and_mpi(["generate", "poisson", "--preset", "demo", "--samples", "3"])
    assert schema.validate(serial) == []
    with schema.open_dataset(serial) as f:
        d = schema.read_description(f)
        assert f.attrs["schema_version"] == "1.3" and bool(f.attrs["steady"])
        assert d.steady and set(d.input_fields) == {"source", "conductivity", "boundary_data"}
        assert d.output_fields == ("solution",) and len(d.times) == 1
        assert str(f["fields/t0_fields/solution"].attrs["role"]) == "output"
        mesh, values = schema.read_mesh(f, 0), schema.read_mesh_fields(f, d, 0)
    channel = {name: i for i, name in enumerate(d.channel_names)}
    outer = mesh.boundary_nodes("outer")
    np.testing.assert_array_equal(values[0, channel["solution"], outer], values[0, channel["boundary_data"], outer])
    a, b = h5_arrays(serial), h5_arrays(parallel)
    for key in a:
        if key.startswith(("fields/", "mesh/", "parameters/", "splits/", "normalization/")):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_the_validator_keeps_roles_and_kinds_apart(tmp_path, serial_and_mpi):
    import h5py

    serial, _ = serial_and_mpi(["generate", "poisson", "--preset", "demo", "--samples", "2"])
    with h5py.File(serial, "a") as f:
        f.attrs["steady"] = False
    assert any("not steady" in p for p in schema.validate(serial))
    with h5py.File(serial, "a") as f:
        f.attrs["steady"] = True
        f["fields/t0_fields/solution"].attrs["role"] = "target"
    assert any("role 'target'" in p for p in schema.validate(serial))




def test_time_stepping_models_refuse_steady_pairs_in_one_line(serial_and_mpi, tmp_path):
    from surrolab.surrogates.train_run import train_run

    serial, _ = serial_and_mpi(["generate", "poisson", "--preset", "demo", "--samples", "3"])
    for model in ("fno", "mgn"):
        with pytest.raises(SurrolabError, match="holds steady operator pairs .* cannot learn it"):
            train_run(model, serial, tmp_path / model, epochs=1)
