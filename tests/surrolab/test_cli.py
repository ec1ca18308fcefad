"""The command line at its edge: every verb has --help; bad input gives one line, exit 2, no file."""
import subprocess
import sys

import h5py
import numpy as np
import pytest

from surrolab.cli import main

VERBS = ["generate", "train", "compare", "evaluate", "export", "info", "validate", "demo"]


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "surrolab.cli", *args], capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    assert "usage: surrolab " + verb in capsys.readouterr().out


@pytest.mark.parametrize("args, needles", [
    (["generate", "wave"], ["unknown problem 'wave'", "diffusion_reaction, heat"]),
    (["generate", "heat", "--resolution", "0"], ["resolution=0"]),
    (["generate", "heat", "--samples", "0"], ["samples=0"]),
    (["generate", "heat", "--set", "t_end=-1"], ["t_end=-1"]),
    (["generate", "heat", "--set", "viscosity=2"], ["unknown heat problem setting 'viscosity'", "resolution"]),
    (["train", "transformer", "--data", "x.h5"], ["unknown model 'transformer'", "fno"]),
    (["generate", "cavity", "--preset", "huge"], ["preset='huge'", "default", "demo", "large"]),
    (["generate", "cavity", "--resolution", "0"], ["resolution=0"]),
])
def test_bad_arguments_fail_in_one_line_and_write_nothing(tmp_path, args, needles, monkeypatch, capsys,
                                                          one_line_error):
    monkeypatch.chdir(tmp_path)
    code = main(args)
    one_line_error(code, capsys.readouterr().err, *needles)
    assert not list(tmp_path.rglob("*.h5"))


def test_presets_and_resolution_build_the_config_and_settings_override_them():
    from surrolab.cli import _problem_config
    from surrolab.registry import get_problem

    cavity = get_problem("cavity")
    assert _problem_config(cavity, None, [], "demo") == cavity.Config(**cavity.presets["demo"])
    assert _problem_config(cavity, 40, [], None).h == 1 / 40  # flow families: cells per metre
    config = _problem_config(cavity, 40, ["h=0.2", "n_frames=3"], "demo")
    assert (config.h, config.n_frames, config.t_end) == (0.2, 3, cavity.presets["demo"]["t_end"])
    assert _problem_config(get_problem("heat"), 16, [], None).resolution == 16


def test_parameters_outside_their_physical_range_are_refused():
    from surrolab.errors import SurrolabError
    from surrolab.registry import get_problem

    problem = get_problem("diffusion_reaction")
    with pytest.raises(SurrolabError, match="activator_diffusivity=-0.001"):
        problem.check_parameters({"activator_diffusivity": -1e-3})


def test_broken_files_fail_in_one_line(tmp_path, tiny_dataset, capsys, one_line_error):
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(tiny_dataset.read_bytes()[:2000])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    old = tmp_path / "old.h5"
    old.write_bytes(tiny_dataset.read_bytes())
    with h5py.File(old, "a") as f:
        f.attrs["schema_version"] = "0.1"
    for path, needle in ((truncated, "not a readable HDF5 file"), (foreign, "not a surrolab dataset"),
                         (old, "schema_version '0.1' is not supported")):
        for verb in ("info", "validate"):
            code = main([verb, str(path)])
            one_line_error(code, capsys.readouterr().err, needle)


def test_checkpoint_for_another_dataset_fails_in_one_line(tmp_path, tiny_dataset, one_line_error):
    from surrolab.datasets.dummy import write_tiny

    run_dir = tmp_path / "run"
    code, _, err = run("train", "fno", "--data", str(tiny_dataset), "--out", str(run_dir), "--epochs", "1",
                       "--set", "modes=4", "--set", "hidden_channels=4", "--set", "n_layers=1")
    assert code == 0, err
    other = write_tiny(tmp_path / "other.h5", n=10)
    code, _, err = run("export", str(other), "--run", str(run_dir), "--out", str(tmp_path / "viz"))
    one_line_error(code, err, "spatial_shape=[8, 8]", "[10, 10]")
    assert not (tmp_path / "viz").exists() or not list((tmp_path / "viz").iterdir())
    code, _, err = run("export", str(tiny_dataset), "--run", str(tmp_path / "nothing"))
    one_line_error(code, err, "no checkpoint")
