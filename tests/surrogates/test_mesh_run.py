"""MeshGraphNets through the one training loop on a generated mesh dataset (`surrogates/mesh_run.py`,
`datasets/mesh_data.py`): transitions on each sample's own mesh, the loss falls, the checkpoint rebuilds the
model, and wrong pairings fail in one line."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from surrolab.benchmarks.export import export_sample
from surrolab.cli import main
from surrolab.datasets import schema
from surrolab.datasets.generate import generate
from surrolab.datasets.mesh_data import MeshTransitions
from surrolab.registry import get_problem
from surrolab.surrogates.base import load_checkpoint, model_from_checkpoint
from surrolab.surrogates.meshgraphnets import dirichlet_mask, rollout
from surrolab.surrogates.train_run import train_run


@pytest.fixture(scope="module")
def cavity_data(tmp_path_factory):
    """Six demo cavities (Re 10–360 drawn), 2 s in 11 frames: 4 train, 1 val, 1 test."""
    problem = get_problem("cavity")
    config = problem.make_config(preset="demo", t_end=2.0, n_frames=11)
    return generate(problem, config, 6, tmp_path_factory.mktemp("mesh") / "cavity.h5", seed=1)


def test_transitions_are_the_samples_frames_on_their_own_meshes(cavity_data):
    with schema.open_dataset(cavity_data) as f:
        train = schema.read_split(f, "train")
        transitions = MeshTransitions.from_dataset(f, train)
        description = schema.read_description(f)
        stored = schema.read_mesh_fields(f, description, int(train[1]))  # (T, channels, N)
        mesh = schema.read_mesh(f, int(train[1]))
    assert len(transitions) == len(train) * 10
    item = transitions[10 + 3]  # sample train[1], frame 3 -> 4
    channels = list(description.channel_names)
    np.testing.assert_array_equal(item.velocity.numpy(), stored[3, [channels.index("velocity_x"),
                                                                     channels.index("velocity_y")]].T)
    np.testing.assert_array_equal(item.next_pressure.numpy(), stored[4, channels.index("pressure")])
    assert item.num_nodes == mesh.n_points and item.parameters.shape == (mesh.n_points, 5)


def test_mgn_trains_in_the_one_loop_and_its_checkpoint_rebuilds_it(cavity_data, tmp_path):
    """400 steps (40 epochs of 10 batches of 4 transitions), latent 32, 4 blocks. Measured: the training
    loss (normalised, noisy inputs) falls from 2.96 to 0.66; asserted below 40 % of the first epoch's."""
    out = tmp_path / "mgn"
    train_run("mgn", cavity_data, out, epochs=40, batch_size=4, hyper={"latent": 32, "n_layers": 4})
    log = np.genfromtxt(out / "log.csv", delimiter=",", names=True)
    print(f"train loss {log['train_loss'][0]:.3f} -> {log['train_loss'][-1]:.3f}")
    assert log["train_loss"][-1] < 0.4 * log["train_loss"][0]
    payload = load_checkpoint(out / "model.pt")
    model, normalizer = model_from_checkpoint(payload)
    assert normalizer is None and model.constructor["latent"] == 32
    assert torch.any(model.node_normalizer.count > 0)  # the online statistics travel with the weights
    with schema.open_dataset(cavity_data) as f:
        item = MeshTransitions.from_dataset(f, schema.read_split(f, "test"))[0]
    inputs = (item.velocity, item.node_type, item.edge_index, item.edge_attr, item.parameters)
    state = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    again = type(model)(**payload["constructor"])
    again.load_state_dict(state)
    torch.testing.assert_close(again.eval()(*inputs), model(*inputs))


def test_wrong_pairings_fail_in_one_line(cavity_data, tiny_dataset, tmp_path, capsys):
    for args, needle in ((["--data", str(tiny_dataset)], "mgn is a mesh model and"),
                         (["--data", str(cavity_data), "--history", "3"], "history=3 is not allowed"),
                         (["--data", str(cavity_data), "--set", "noise=-1"], "noise=-1.0 is not allowed")):
        code = main(["train", "mgn", "--out", str(tmp_path / "run"), *args])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_oracle_rollout_through_the_mesh_path_reproduces_the_stored_trajectory(cavity_data):
    """The stored transitions as the step: the rollout (Dirichlet nodes from the next frame's data) gives back
    the sample's stored velocities exactly, bit for bit."""
    with schema.open_dataset(cavity_data) as f:
        transitions = MeshTransitions.from_dataset(f, [0])
    graph, truth = transitions.graphs[0], transitions.velocities[0].double()  # float32 differences: exact here
    free = ~dirichlet_mask(graph.node_type)
    steps = iter(range(1, len(truth)))

    def oracle(velocity, boundary):
        n = next(steps)
        return torch.where(free[:, None], velocity + (truth[n] - truth[n - 1]), boundary), transitions.pressures[0][n]

    velocities, pressures = rollout(oracle, truth[0], truth[1:])
    assert torch.equal(velocities[:, ~free], truth[:, ~free])  # the data's own boundary values
    assert torch.equal(velocities, truth)
    assert torch.equal(pressures, transitions.pressures[0][1:])


def test_export_writes_the_mesh_and_compare_refuses_datasets_without_meshes(cavity_data, tiny_dataset,
                                                                             tiny_particles, tmp_path, capsys):
    """A mesh model is exported on the sample's mesh (`tests/datasets/test_paraview.py` opens it in ParaView);
    `compare` given a grid or a particle dataset for it says so in one line before any solver runs."""
    out = tmp_path / "mgn"
    train_run("mgn", cavity_data, out, epochs=1, hyper={"latent": 8, "n_layers": 1})
    xdmf = export_sample(cavity_data, 0, [out], tmp_path / "viz")
    with h5py.File(xdmf.with_suffix(".h5")) as g, schema.open_dataset(cavity_data) as f:
        mesh = schema.read_mesh(f, 0)
        assert g["export/velocity_mgn"].shape == (11, mesh.n_points, 2)
        assert g["export/pressure_mgn"].shape == (11, mesh.n_points)
        np.testing.assert_array_equal(g["mesh/cells"][()], mesh.cells)
    for data, needle in ((tiny_dataset, "mgn, a mesh model, but"), (tiny_particles, "is a particle dataset")):
        code = main(["compare", str(out), "--data", str(data)])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, err


def test_interrupted_mgn_training_resumes_to_identical_weights(cavity_data, tmp_path):
    """Killed after epoch 2 of 3 and started again: the same weights, online statistics and noise draws as an
    uninterrupted run (the hooks reseed the input noise per epoch; the normalisers' sums are buffers)."""
    from surrolab.surrogates.base import dataset_signature
    from surrolab.surrogates.meshgraphnets import MeshGraphNets, MeshGraphNetsHooks
    from surrolab.surrogates.training import TrainConfig, train

    class StopAfter(MeshGraphNetsHooks):
        def on_epoch_end(self, epoch, row):
            if epoch == 2:
                raise KeyboardInterrupt  # a run killed after this epoch

    with schema.open_dataset(cavity_data) as f:
        description = schema.read_description(f)
        data = MeshTransitions.from_dataset(f, schema.read_split(f, "train"))
    config = TrainConfig(epochs=3, batch_size=8, seed=3, device="cpu")

    def model():
        torch.manual_seed(0)
        return MeshGraphNets(n_parameters=5, latent=16, n_layers=2)

    train(model(), None, data, [], config, tmp_path / "a", signature=dataset_signature(description),
          hooks=MeshGraphNetsHooks(seed=3))
    with pytest.raises(KeyboardInterrupt):
        train(model(), None, data, [], config, tmp_path / "b", signature=dataset_signature(description),
              hooks=StopAfter(seed=3))
    train(model(), None, data, [], config, tmp_path / "b", signature=dataset_signature(description),
          hooks=MeshGraphNetsHooks(seed=3))
    straight, resumed = (torch.load(tmp_path / run / "state.pt", weights_only=True)["model"] for run in "ab")
    assert straight.keys() == resumed.keys() and any("normalizer.total" in key for key in straight)
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
