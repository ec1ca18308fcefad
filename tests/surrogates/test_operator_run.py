"""`surrolab train spon` on steady pairs: the one loop trains it (its loss falls), the checkpoint restores it,
and after training the output's Dirichlet DOFs are the data exactly, on meshes it was not trained on."""
import csv

import numpy as np
import pytest
import torch

from surrolab.datasets import schema
from surrolab.datasets.dummy import write_tiny_mesh
from surrolab.datasets.generate import generate
from surrolab.datasets.operator_data import OperatorPairs
from surrolab.errors import SurrolabError
from surrolab.registry import get_problem
from surrolab.surrogates.base import load_checkpoint, model_from_checkpoint
from surrolab.surrogates.train_run import train_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("spon")
    problem = get_problem("poisson")
    data = generate(problem, problem.make_config("demo"), 16, root / "poisson.h5")
    train_run("spon", data, root / "run", epochs=20, batch_size=2, hyper=dict(latent=16, n_layers=2), seed=0)
    return data, root / "run"


def test_training_lowers_the_loss_and_keeps_the_dirichlet_data_exact_on_unseen_meshes(trained):
    data, run = trained
    with open(run / "log.csv") as f:
        losses = [float(row["train_loss"]) for row in csv.DictReader(f)]
    print(f"training loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[-1] < 0.7 * losses[0]
    model, normalizer = model_from_checkpoint(load_checkpoint(run))
    assert normalizer is None  # its statistics are its own buffers
    with schema.open_dataset(data) as f:
        test = schema.read_split(f, "test_heldout")
        assert len(test) and not set(test) & set(schema.read_split(f, "train"))
        items = OperatorPairs.from_dataset(f, test)
    with torch.no_grad():
        for item in items:
            out = model(item.inputs, item.edge_index, item.pos, item.dirichlet, item.dirichlet_values, item.parameters)
            assert item.dirichlet.sum() > 0
            assert torch.equal(out[item.dirichlet], item.outputs[item.dirichlet])  # bit for bit, float32
            assert torch.isfinite(out).all()


def test_operator_and_time_stepping_data_do_not_mix(tmp_path):
    path = write_tiny_mesh(tmp_path / "flow.h5")
    with pytest.raises(SurrolabError, match="trajectory mesh dataset; an operator model learns steady"):
        train_run("spon", path, tmp_path / "run", epochs=1)
    with pytest.raises(SurrolabError, match="history=2 is not allowed for spon"):
        train_run("spon", path, tmp_path / "run", epochs=1, history=2)
