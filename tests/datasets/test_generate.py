"""Crash-safe, resumable generation: a run killed with SIGKILL and started again equals a clean run."""
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from surrolab.datasets import schema

ARGS = ["generate", "heat", "--samples", "12", "--resolution", "16", "--set", "n_frames=6", "--set", "substeps=64"]


def surrolab(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "surrolab.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_killed_generation_resumes_to_the_same_dataset(tmp_path, h5_arrays):
    clean, crashed = tmp_path / "clean.h5", tmp_path / "crashed.h5"
    assert surrolab(*ARGS, "--out", str(clean)).wait(timeout=300) == 0

    parts = tmp_path / "crashed.h5.parts"
    proc = surrolab(*ARGS, "--out", str(crashed))
    deadline = time.time() + 120
    while len(list(parts.glob("sample_*.h5"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_parts = len(list(parts.glob("sample_*.h5")))
    assert 3 <= n_parts < 12, "the kill must land part-way for this test to mean anything"
    assert not crashed.exists() and schema.validate(crashed)  # nothing that reads as a dataset

    assert surrolab(*ARGS, "--out", str(crashed)).wait(timeout=300) == 0
    assert schema.validate(crashed) == [] and not parts.exists()
    a, b = h5_arrays(clean), h5_arrays(crashed)
    assert a.keys() == b.keys()
    for key in a:
        if key in ("samples/wall_time",):  # measured, so it differs; everything else is equal
            continue
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_changed_settings_do_not_mix_with_an_interrupted_run(tmp_path):
    out = tmp_path / "d.h5"
    parts = tmp_path / "d.h5.parts"
    parts.mkdir()
    (parts / "request.json").write_text('{"problem": "heat", "samples": 3}')
    proc = surrolab(*ARGS, "--out", str(out))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "other settings" in err and "Traceback" not in err
    assert not out.exists()


def test_generation_over_two_mpi_ranks_equals_the_serial_run(serial_and_mpi, h5_arrays):
    serial, parallel = serial_and_mpi(["generate", "heat", "--samples", "4", "--resolution", "8", "--set", "n_frames=4"])
    a, b = h5_arrays(serial), h5_arrays(parallel)
    with h5py.File(parallel) as f:
        assert f["provenance"].attrs["n_ranks"] == 2
    for key in a:
        if key != "samples/wall_time":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_diverging_sample_stops_with_its_name_and_parameters_and_writes_nothing(tmp_path):
    """A solver that blows up (here: made to return NaN, or to fail inside) names the sample and its parameters;
    no part and no dataset hold its NaN fields."""
    import pytest

    from surrolab.datasets.generate import generate
    from surrolab.errors import SurrolabError
    from surrolab.solvers.fem.diffusion_reaction import HeatProblem

    class Diverging(HeatProblem):
        def solve(self, config, params, initial_state):
            trajectory = super().solve(config, params, initial_state)
            trajectory.fields["temperature"][-1, 0, 0] = np.nan
            return trajectory

    class Failing(HeatProblem):
        def solve(self, config, params, initial_state):
            raise ArithmeticError("Newton did not converge")

    config = HeatProblem.make_config(resolution=4, n_frames=3, substeps=1)
    for problem, needles in ((Diverging(), ["non-finite", "['temperature']"]),
                             (Failing(), ["ArithmeticError: Newton did not converge"])):
        out = tmp_path / f"{type(problem).__name__}.h5"
        with pytest.raises(SurrolabError) as error:
            generate(problem, config, 2, out, seed=3)
        message = str(error.value)
        for needle in ["sample 0", "'heat'", "seed 3", "diffusivity=", *needles]:
            assert needle in message, message
        assert not out.exists() and not list(out.with_name(out.name + ".parts").glob("sample_*"))


def test_varying_one_parameter_holds_the_others_at_their_defaults_and_keeps_the_draws(tmp_path):
    """CFDBench's kind-of-variation subsets: `vary` draws only the named parameters; sample i keeps the initial
    state and the draw of the varied parameter it has when everything varies (same seed)."""
    import pytest

    from surrolab.datasets.generate import generate
    from surrolab.datasets.splits import SplitSpec
    from surrolab.errors import SurrolabError
    from surrolab.registry import get_problem

    problem = get_problem("diffusion_reaction")
    config = problem.make_config(resolution=4, n_frames=3, substeps=2)
    first, *others = problem.parameters
    every, only = tmp_path / "every.h5", tmp_path / "only.h5"
    generate(problem, config, 3, every, seed=5)
    generate(problem, config, 3, only, seed=5, vary=(first.name,),
             splits=SplitSpec(val_fraction=0.0, test_fraction=1.0, heldout_parameter=""))
    with schema.open_dataset(every) as f:
        d = schema.read_description(f)
        p_every, u_every = schema.read_parameters(f, d, range(3)), schema.read_fields(f, d, range(3))
    with schema.open_dataset(only) as f:
        p_only, u_only = schema.read_parameters(f, d, range(3)), schema.read_fields(f, d, range(3))
        assert list(schema.read_split(f, "test")) == [0, 1, 2] and len(schema.read_split(f, "train")) == 0
    np.testing.assert_array_equal(p_only[:, 0], p_every[:, 0])
    assert np.ptp(p_only[:, 0]) > 0
    np.testing.assert_array_equal(p_only[:, 1:], np.tile([p.default for p in others], (3, 1)))
    np.testing.assert_array_equal(u_only[:, 0], u_every[:, 0])  # the same initial states
    from surrolab.datasets.info import summary

    text = summary(only)  # `surrolab info` says which parameters were held, and at what
    for p in others:
        assert f"{p.name} [{p.units}]: held at its default {p.default:g}" in text
    assert f"{first.name} [{first.units}]: sampled in" in text
    with pytest.raises(SurrolabError, match="allowed: .*" + first.name):
        generate(problem, config, 1, tmp_path / "bad.h5", vary=("lid_speed",))
    with pytest.raises(SurrolabError, match="exceeds 1"):
        SplitSpec(val_fraction=0.2, test_fraction=0.9)
