"""The hyperparameter limits: every `--set` key of every model has one, the defaults keep them, the
constructors enforce them (so a study that builds a model directly is refused as the command line is),
and the messages name the field, the value and what is allowed."""
import math

import numpy as np
import pytest

from surrolab.errors import SurrolabError
from surrolab.registry import MODELS, get_model_class
from surrolab.surrogates.hyperparameters import Integer, Number, Numbers, Rule, check_hyperparameters
from surrolab.surrogates.particle_run import PARTICLE_LIMITS, is_particle_model
from surrolab.surrogates.train_run import check_settings, model_settings


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_setting_of_every_model_has_a_limit_and_its_default_keeps_it(name):
    cls = get_model_class(name)
    limits = {**cls.limits, **(PARTICLE_LIMITS if is_particle_model(cls) else {})}
    unlimited = set(model_settings(cls)) - set(limits) - {"base_hyper"}  # CAPE's base checks its base_hyper
    assert not unlimited, f"{name}: declare the limits of {sorted(unlimited)} in {cls.__name__}.limits"
    assert check_settings(cls, {}) == {}


@pytest.mark.parametrize("build, message", [
    (lambda: get_model_class("unet")(n_channels=1, n_parameters=0, spatial_shape=(8, 8), hidden_channels=4,
                                     groups=3), "groups=3"),
    (lambda: get_model_class("fno")(n_channels=1, n_parameters=0, spatial_shape=(8, 8), modes=-4), "modes=-4"),
    (lambda: get_model_class("giorom")(2, 1, 0.1, ([0, 0], [1, 1]), ([0, 0], [1, 1]), ([0, 0], [1, 1]), latent=8,
                                       heads=3), "heads=3 is not allowed: it must divide latent=8"),
    (lambda: get_model_class("gns")(2, 1, -0.1, ([0, 0], [1, 1]), ([0, 0], [1, 1]), ([0, 0], [1, 1])),
     "radius=-0.1 is not allowed: it must be a finite number > 0"),
    (lambda: get_model_class("cape")(n_channels=1, n_parameters=1, spatial_shape=(8, 8),
                                     base_hyper={"hidden_channels": 0}), "base.hidden_channels=0"),
])
def test_the_constructors_enforce_the_limits(build, message):
    with pytest.raises(SurrolabError, match=message):
        build()


def test_the_limits_say_what_is_allowed():
    limits = {"n": Integer(), "k": Integer(1, "odd"), "share": Number(0, 1, low_open=True),
              "sizes": Numbers(Number(0, low_open=True)),
              "heads": (Integer(), Rule(lambda v: v["n"] % v["heads"] == 0, "it must divide n={n}"))}
    check_hyperparameters(limits, {"n": np.int64(8), "k": 3, "share": 1.0, "sizes": (1, 2.5), "heads": 4})
    for values, message in [({"n": True}, "n=True is not allowed: it must be an integer >= 1"),
                            ({"n": 2.0}, "n=2.0"), ({"k": 2}, "k=2 is not allowed: it must be an odd integer >= 1"),
                            ({"share": math.nan}, r"share=nan is not allowed: it must be a finite number in \(0, 1\]"),
                            ({"sizes": "1,2"}, "sizes='1,2' is not allowed: it must be a non-empty list"),
                            ({"sizes": (1, 0)}, r"sizes=\(1, 0\)"),
                            ({"n": 8, "heads": 0}, "heads=0 is not allowed: it must be an integer >= 1"),
                            ({"n": 8, "heads": 3}, "heads=3 is not allowed: it must divide n=8")]:
        with pytest.raises(SurrolabError, match=message):
            check_hyperparameters(limits, values)
    with pytest.raises(SurrolabError, match="base.n=0"):
        check_hyperparameters(limits, {"n": 0}, prefix="base.")
