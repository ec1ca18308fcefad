"""`surrolab train`'s bad settings are refused at the edge, before the dataset is read: every model's `--set`
hyperparameters (their limits: `surrogates/hyperparameters.py`) and the training options fail in one line
that names the field and the value, never as an error from torch, and no run folder is made."""
import subprocess
import sys

import pytest

from surrolab.cli import main

BAD_SETTINGS = {
    "fno": [("modes=-4", "modes=-4 is not allowed: it must be an integer >= 1"), ("modes=0", "modes=0"),
            ("hidden_channels=0", "hidden_channels=0"), ("n_layers=0", "n_layers=0"),
            ("domain_padding=nan", "domain_padding=nan"), ("domain_padding=inf", "domain_padding=inf"),
            ("domain_padding=-0.1", "domain_padding=-0.1 is not allowed: it must be a finite number in [0, 1]"),
            ("positional_embedding=maybe", "positional_embedding='maybe' is not a valid bool")],
    "t1": [("modes=0", "modes=0"), ("width=-1", "width=-1"), ("n_layers=0", "n_layers=0"),
           ("head_width=0", "head_width=0"), ("transform=fft", "transform='fft' is not allowed: use one of dct, rfft")],
    "unet": [("hidden_channels=0", "hidden_channels=0"), ("n_blocks=0", "n_blocks=0"),
             ("channel_multipliers=", "channel_multipliers=() is not allowed: it must be a non-empty list"),
             ("channel_multipliers=1,-2", "channel_multipliers=(1, -2)"),
             ("channel_multipliers=1,nan", "channel_multipliers=(1, nan)"),
             ("channel_multipliers=1,x", "channel_multipliers='1,x' is not a valid comma-separated list"),
             ("channel_multipliers=0.001", "channel_multipliers=(0.001,) is not allowed: every level's width"),
             ("groups=0", "groups=0"), ("groups=3", "groups=3 is not allowed: it must divide every level's width"),
             ("down=unpool", "down='unpool'"), ("up=cubic", "up='cubic'"), ("padding_mode=reflect", "padding_mode=")],
    "sinenet": [("hidden_channels=-1", "hidden_channels=-1"), ("n_waves=0", "n_waves=0"), ("levels=0", "levels=0"),
                ("mult=0", "mult=0.0 is not allowed: it must be a finite number > 0"), ("mult=nan", "mult=nan"),
                ("mult=inf", "mult=inf"), ("mult=0.01", "mult=0.01 is not allowed: every level's width"),
                ("n_blocks=0", "n_blocks=0"), ("groups=5", "groups=5 is not allowed: it must divide")],
    "cape": [("width=3", "width=3 is not allowed: it must be an even integer >= 2"), ("width=0", "width=0"),
             ("kernel_size=4", "kernel_size=4 is not allowed: it must be an odd integer >= 1"),
             ("kernel_size=0", "kernel_size=0"), ("modes=0", "modes=0"), ("pool=0", "pool=0"),
             ("base=gns", "base='gns' is not allowed: CAPE's base is another grid model; available: fno"),
             ("base=cape", "base='cape'"), ("base=nope", "base='nope'"),
             ("base.modes=-4", "base.modes=-4 is not allowed: it must be an integer >= 1"),
             ("base.heads=2", "unknown fno base model setting 'heads'"),
             ("base_hyper=modes:4", "base_hyper='modes:4' is not allowed"),
             (["base=unet", "base.groups=3"], "base.groups=3 is not allowed: it must divide")],
    "spon": [("latent=0", "latent=0"), ("n_layers=-1", "n_layers=-1"),
             ("coarse_layers=2", "unknown spon model setting 'coarse_layers'; allowed:")],
    "gns": [("latent=0", "latent=0"), ("n_layers=-1", "n_layers=-1"), ("type_embedding=0", "type_embedding=0"),
            ("radius=0", "radius=0.0 is not allowed: a connectivity radius"), ("radius=nan", "radius=nan"),
            ("noise=inf", "noise=inf"), ("fraction=0.5", "unknown gns model setting 'fraction'; allowed:")],
    "giorom": [("heads=3", "heads=3 is not allowed: it must divide latent=128"), ("heads=0", "heads=0"),
               ("grid_points=4", "grid_points=4 is not allowed: it must be an integer >= 5"),
               ("gno_channels=0", "gno_channels=0"), ("operator_layers=0", "operator_layers=0"),
               ("latent=-1", "latent=-1"), ("fraction=0", "fraction=0.0 is not allowed: it must be a finite number "
                                                         "in (0, 1]"),
               ("fraction=1.5", "fraction=1.5"), ("sampling=grid", "sampling='grid'"), ("radius=inf", "radius=inf")],
    "mgn": [("latent=0", "latent=0 is not allowed: it must be an integer >= 1"), ("n_layers=-2", "n_layers=-2"),
            ("noise=-0.1", "noise=-0.1 is not allowed"), ("noise=nan", "noise=nan"),
            ("radius=1", "unknown mgn model setting 'radius'; allowed:")],
}
CASES = [(model, [s] if isinstance(s, str) else s, needle) for model, cases in BAD_SETTINGS.items()
         for s, needle in cases]

BAD_OPTIONS = [(["--epochs", "0"], "epochs=0"), (["--lr", "-1"], "learning_rate=-1.0"), (["--lr", "nan"], "nan"),
               (["--batch-size", "0"], "batch_size=0"), (["--warmup-epochs", "20"], "warmup_epochs=20"),
               (["--history", "0"], "history=0"), (["--seed", "-1"], "seed=-1"),
               (["--device", "cuda:x"], "device='cuda:x'")]


def train(tmp_path, data, model, *extra) -> int:
    return main(["train", model, "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", *extra])


@pytest.mark.parametrize("model, settings, needle", CASES,
                         ids=[f"{m}-{'-'.join(s)}" for m, s, _ in CASES])
def test_bad_model_settings_fail_in_one_line_before_training(model, settings, needle, tmp_path, tiny_dataset,
                                                             capsys, one_line_error):
    code = train(tmp_path, tiny_dataset, model, *(a for s in settings for a in ("--set", s)))
    one_line_error(code, capsys.readouterr().err, needle)
    assert not (tmp_path / "run").exists()


def test_every_model_has_bad_settings_tested():
    from surrolab.registry import MODELS

    assert set(BAD_SETTINGS) == set(MODELS)


@pytest.mark.parametrize("options, needle", BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_training_options_fail_in_one_line_before_training(options, needle, tmp_path, tiny_dataset, capsys,
                                                               one_line_error):
    code = train(tmp_path, tiny_dataset, "fno", *options)
    one_line_error(code, capsys.readouterr().err, needle)
    assert not (tmp_path / "run").exists()


def test_a_history_longer_than_the_trajectories_fails_in_one_line(tmp_path, tiny_dataset, capsys, one_line_error):
    code = train(tmp_path, tiny_dataset, "fno", "--history", "5")  # the tiny trajectories have 5 frames
    one_line_error(code, capsys.readouterr().err, "history=5 is not allowed: the 5 frames")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, needle", [
    (["--seed", "-1"], "seed=-1"),
    (["--heldout-parameter", "conductivity"], "heldout_parameter='conductivity' is not a parameter of heat"),
])
def test_bad_generation_options_fail_before_any_solve(args, needle, tmp_path, capsys, one_line_error):
    code = main(["generate", "heat", "--samples", "2", "--out", str(tmp_path / "heat.h5"), *args])
    one_line_error(code, capsys.readouterr().err, needle)
    assert not list(tmp_path.iterdir())


def test_the_reported_commands_end_in_one_line_in_a_real_process(tmp_path, tiny_dataset, one_line_error):
    """The two commands of the report, as a user runs them: no traceback from torch or the file system."""
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for args, needle in ((["train", "fno", "--data", str(tiny_dataset), "--out", str(tmp_path / "r"),
                           "--set", "modes=-4"], "modes=-4"),
                         (["generate", "heat", "--samples", "2", "--out", str(a_file / "x.h5")], str(a_file))):
        proc = subprocess.run([sys.executable, "-m", "surrolab.cli", *args], capture_output=True, text=True,
                              timeout=300)
        one_line_error(proc.returncode, proc.stderr, needle)
