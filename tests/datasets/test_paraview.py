"""The XDMF sidecars open in real ParaView (`pvpython`), with every value at the node it belongs to.

One pvpython run opens each sidecar with the named readers, fetches the point data of a few frames and
prints it as JSON; the test matches every point to a node of `/geometry/nodes` by its coordinates and
compares the value there with the HDF5 array. The grids of the second and third files are not square and
not uniform, so a swapped axis or a transposed field cannot pass; the sum of the cell areas checks that
the cells join neighbouring nodes. Skipped where `pvpython` is not installed (Debian: `apt-get install
paraview`). The script only reads data, so it needs no X display; rendering would (`xvfb-run -a pvpython`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import h5py
import numpy as np
import pytest

from surrolab.datasets import schema
from surrolab.datasets.dummy import write_tiny
from surrolab.datasets.xdmf import Attribute, write_dataset_xdmf, write_xdmf
from surrolab.solvers.problem import ParameterSpec
from surrolab.solvers.trajectory import FieldSpec, GridGeometry

PVPYTHON = shutil.which("pvpython")
pytestmark = pytest.mark.skipif(PVPYTHON is None, reason="pvpython (ParaView) is not on PATH")

MARK = "PVPROBE-JSON "

# Runs inside pvpython (ParaView's Python: no h5py, no surrolab). Reads a list of jobs
# {file, reader, times} and prints, per job, the time steps, the array names and, per requested time,
# every leaf data set (one per sample) with its points, point arrays and total cell area.
PROBE = textwrap.dedent('''
    import json
    import sys

    import paraview.simple as ps
    from paraview import servermanager
    from vtkmodules.util.numpy_support import vtk_to_numpy


    def leaves(obj):
        if obj is None:
            return []
        if obj.IsA("vtkDataSet"):
            return [obj]
        if obj.IsA("vtkMultiBlockDataSet"):
            return [leaf for i in range(obj.GetNumberOfBlocks()) for leaf in leaves(obj.GetBlock(i))]
        if obj.IsA("vtkMultiPieceDataSet"):
            return [leaf for i in range(obj.GetNumberOfPieces()) for leaf in leaves(obj.GetPiece(i))]
        return []


    def steps(values):  # ParaView gives a lone time step as a number, not a list
        return values if isinstance(values, (list, tuple)) or hasattr(values, "__len__") else [values]


    def cell_area(ds):
        total = 0.0
        for c in range(ds.GetNumberOfCells()):
            xy = vtk_to_numpy(ds.GetCell(c).GetPoints().GetData())[:, :2]
            x, y = xy[:, 0], xy[:, 1]
            total += 0.5 * abs(float((x * (list(y[1:]) + [y[0]])).sum() - (y * (list(x[1:]) + [x[0]])).sum()))
        return total


    results = []
    for job in json.load(open(sys.argv[1])):
        if job["reader"] == "default":
            reader = ps.OpenDataFile(job["file"])
        elif job["reader"] == "XDMFReader":
            reader = ps.XDMFReader(FileNames=[job["file"]])
        else:
            reader = getattr(ps, job["reader"])(FileName=[job["file"]])
        reader.UpdatePipelineInformation()
        out = {"reader": reader.GetXMLName(), "times": [float(t) for t in steps(reader.TimestepValues)], "frames": []}
        for t in job["times"]:
            reader.UpdatePipeline(t)
            frame = {"time": t, "leaves": []}
            for ds in leaves(servermanager.Fetch(reader)):
                pd = ds.GetPointData()
                frame["leaves"].append({
                    "n_points": ds.GetNumberOfPoints(), "n_cells": ds.GetNumberOfCells(), "area": cell_area(ds),
                    "points": vtk_to_numpy(ds.GetPoints().GetData()).tolist(),
                    "arrays": {pd.GetArrayName(i): vtk_to_numpy(pd.GetArray(i)).tolist()
                               for i in range(pd.GetNumberOfArrays())}})
            out["frames"].append(frame)
        out["point_arrays"] = sorted(reader.PointData.keys())
        results.append(out)
        ps.Delete(reader)
    print("%s" + json.dumps(results))
''') % MARK


def _run_pvpython(tmp_path, jobs: list[dict]) -> list[dict]:
    script, spec = tmp_path / "probe.py", tmp_path / "jobs.json"
    script.write_text(PROBE)
    spec.write_text(json.dumps(jobs))
    elsewhere = tmp_path / "cwd"  # not the sidecars' folder: the HDF5 paths must resolve from the .xdmf
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    cmd = [PVPYTHON, "--force-offscreen-rendering", str(script), str(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=elsewhere, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    assert proc.returncode == 0 and lines, \
        f"pvpython failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    # the Xdmf3 readers drop arrays they cannot type with only this line on stderr
    assert "Skipping unrecognized array type" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(lines[0][len(MARK):])


def _node_index(points: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, ...]:
    """The (i, j) of the node at each point's (x, y); every node exactly once."""
    flat = nodes.reshape(-1, nodes.shape[-1])
    dist = ((points[:, None, : flat.shape[1]] - flat[None]) ** 2).sum(-1)
    k = dist.argmin(axis=1)
    assert dist.min(axis=1).max() < 1e-20, "a ParaView point is not at any node of /geometry/nodes"
    assert len(set(k.tolist())) == len(flat), "ParaView's points are not the grid's nodes one to one"
    return np.unravel_index(k, nodes.shape[:-1])


def _assert_frame(leaf: dict, nodes: np.ndarray, expected: dict[str, np.ndarray], area: float) -> None:
    """`expected`: array name -> the HDF5 frame (*spatial[, components...])."""
    n_nodes = int(np.prod(nodes.shape[:-1]))
    assert leaf["n_points"] == n_nodes
    assert leaf["n_cells"] == int(np.prod(np.array(nodes.shape[:-1]) - 1))
    assert leaf["area"] == pytest.approx(area, rel=1e-9)  # cells join neighbouring nodes
    ij = _node_index(np.array(leaf["points"]), nodes)
    assert sorted(leaf["arrays"]) == sorted(expected)
    for name, frame in expected.items():
        want = frame[ij].reshape(n_nodes, -1)
        got = np.array(leaf["arrays"][name], dtype=np.float64).reshape(n_nodes, -1)
        assert got.shape == want.shape, f"{name}: {got.shape[1]} components, expected {want.shape[1]}"
        np.testing.assert_array_equal(got, want, err_msg=f"{name} is not at its node")


def _write_vector_dataset(path):
    """A dataset on a non-square, non-uniform grid with a scalar, a vector and a tensor field."""
    geometry = GridGeometry(axes=(np.linspace(0.0, 2.0, 7) ** 1.3, np.array([-1.0, -0.4, 0.1, 0.5])))
    times = np.array([0.0, 0.1, 0.3])
    description = schema.DatasetDescription(
        problem="vector", fields=(FieldSpec("p", "1", 0), FieldSpec("vel", "m/s", 1), FieldSpec("sig", "Pa", 2)),
        parameters=(ParameterSpec("a", "1", 0.0, 1.0, 0.5, 0.0, 1.0, "a"),), geometry=geometry, times=times)
    rng = np.random.default_rng(1)
    samples = [schema.Sample(seed=i, parameters={"a": 0.5}, wall_time=0.0,
                             fields={"p": rng.normal(size=(3, 7, 4)), "vel": rng.normal(size=(3, 7, 4, 2)),
                                     "sig": rng.normal(size=(3, 7, 4, 2, 2))}) for i in range(3)]
    schema.write_dataset(path, description, samples, {"test": "paraview"})
    return write_dataset_xdmf(path)


def _write_export(path):
    """The layout of `benchmarks/export.py`: /geometry and /export/<name> of shape (n_times, nx, ny)."""
    geometry = GridGeometry(axes=(np.array([0.0, 0.5, 1.5, 3.0, 5.0]), np.linspace(-1.0, 1.0, 3)))
    times = np.array([0.0, 0.5, 1.0, 2.0])
    rng = np.random.default_rng(2)
    series = {name: rng.normal(size=(4, 5, 3)).astype(np.float32) for name in ("u_truth", "u_fno", "u_fno_error")}
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as g:
        schema.write_geometry(g, geometry)
        g.create_dataset("time", data=times)
        for name, arr in series.items():
            g.create_dataset(f"export/{name}", data=arr)
    frames = [[Attribute(name, f"/export/{name}", arr.shape, (t,)) for name, arr in series.items()]
              for t in range(len(times))]
    return write_xdmf(path.with_suffix(".xdmf"), path, geometry.shape, times, {"sample_0000": frames})


def test_sidecars_open_in_paraview_with_values_at_their_nodes(tmp_path):
    data = tmp_path / "data"
    tiny = write_tiny(data / "tiny.h5")
    tiny_xdmf = write_dataset_xdmf(tiny)
    vector_xdmf = _write_vector_dataset(data / "vector.h5")
    export_xdmf = _write_export(tmp_path / "export" / "tiny_sample0000.h5")

    with h5py.File(tiny) as f:
        times = f["time"][()]
        nodes = f["geometry/nodes"][()]
        u, v = f["fields/t0_fields/u"][()], f["fields/t0_fields/v"][()]
    pick = [1, 4]  # time indices checked value by value
    jobs = [{"file": str(tiny_xdmf), "reader": r, "times": [float(times[t]) for t in pick]}
            for r in ("default", "Xdmf3ReaderS", "Xdmf3ReaderT")]
    jobs += [{"file": str(vector_xdmf), "reader": "Xdmf3ReaderT", "times": [0.1, 0.3]},
             {"file": str(export_xdmf), "reader": "Xdmf3ReaderT", "times": [0.0, 2.0]}]
    results = _run_pvpython(tmp_path, jobs)

    assert results[0]["reader"] == "Xdmf3ReaderS"  # what `OpenDataFile` / a plain open picks for .xdmf
    for result in results[:3]:
        assert result["times"] == pytest.approx(times.tolist(), abs=1e-12)  # all 5 steps, right values
        assert len(result["times"]) == 5
        assert result["point_arrays"] == ["u", "v"]
        for t, frame in zip(pick, result["frames"]):
            assert len(frame["leaves"]) == u.shape[0]  # one grid per sample (6 <= max_samples)
            for s, leaf in enumerate(frame["leaves"]):
                _assert_frame(leaf, nodes, {"u": u[s, t], "v": v[s, t]}, area=1.0)

    vector, export = results[3], results[4]
    with h5py.File(data / "vector.h5") as f:
        nodes = f["geometry/nodes"][()]
        assert vector["times"] == pytest.approx(f["time"][()].tolist(), abs=1e-12)
        assert vector["point_arrays"] == ["p", "sig", "vel"]
        area = float(np.ptp(nodes[..., 0]) * np.ptp(nodes[..., 1]))
        for t, frame in zip([1, 2], vector["frames"]):
            assert len(frame["leaves"]) == 3
            for s, leaf in enumerate(frame["leaves"]):
                _assert_frame(leaf, nodes, {"p": f["fields/t0_fields/p"][s, t], "vel": f["fields/t1_fields/vel"][s, t],
                                            "sig": f["fields/t2_fields/sig"][s, t]}, area)
    with h5py.File(export_xdmf.with_suffix(".h5")) as f:
        nodes = f["geometry/nodes"][()]
        assert export["times"] == pytest.approx([0.0, 0.5, 1.0, 2.0], abs=1e-12)
        assert export["point_arrays"] == ["u_fno", "u_fno_error", "u_truth"]
        for t, frame in zip([0, 3], export["frames"]):
            assert len(frame["leaves"]) == 1
            _assert_frame(frame["leaves"][0], nodes, {k: f[f"export/{k}"][t] for k in f["export"]}, area=5.0 * 2.0)


def test_mesh_sidecar_opens_in_paraview_with_values_at_their_vertices(tmp_path):
    """A mesh dataset: each sample on its own triangle mesh (two sizes), and its grid companion."""
    from surrolab.datasets.dummy import write_tiny_mesh

    path = write_tiny_mesh(tmp_path / "data" / "mesh.h5")
    mesh_xdmf = write_dataset_xdmf(path)
    grid_xdmf = path.with_name("mesh_grid.xdmf")
    jobs = [{"file": str(mesh_xdmf), "reader": r, "times": [0.5, 1.0]}
            for r in ("default", "Xdmf3ReaderS", "Xdmf3ReaderT")]
    jobs.append({"file": str(grid_xdmf), "reader": "Xdmf3ReaderT", "times": [1.0]})
    results = _run_pvpython(tmp_path, jobs)

    with h5py.File(path) as f:
        times = f["time"][()]
        for result in results[:3]:
            assert result["times"] == pytest.approx(times.tolist(), abs=1e-12)
            assert result["point_arrays"] == ["p", "vel"]
            for t, frame in zip([1, 2], result["frames"]):
                assert len(frame["leaves"]) == 2  # one mesh per sample
                for s, leaf in enumerate(frame["leaves"]):
                    g = f[f"mesh/{s}"]
                    points, cells = g["points"][()], g["cells"][()]
                    assert leaf["n_points"] == len(points) and leaf["n_cells"] == len(cells)
                    corners = points[cells]  # (M, 3, 2): the triangles' total area, the hole left out
                    edges = corners[:, 1:] - corners[:, :1]
                    area = 0.5 * np.abs(edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]).sum()
                    assert leaf["area"] == pytest.approx(area, rel=1e-9)
                    (k,) = _node_index(np.array(leaf["points"]), points)
                    for name, dataset in (("p", "fields/t0_fields/p"), ("vel", "fields/t1_fields/vel")):
                        want = g[dataset][t][k].reshape(len(points), -1)
                        got = np.array(leaf["arrays"][name], dtype=np.float64).reshape(len(points), -1)
                        np.testing.assert_array_equal(got, want, err_msg=f"{name} is not at its vertex")
        grid = results[3]
        assert grid["point_arrays"] == ["p", "vel"]
        nodes = f["geometry/nodes"][()]
        for s, leaf in enumerate(grid["frames"][0]["leaves"]):
            _assert_frame(leaf, nodes, {"p": f["fields/t0_fields/p"][s, 2], "vel": f["fields/t1_fields/vel"][s, 2]},
                          area=1.0 * 0.41)


def test_steady_pairs_open_in_paraview_with_inputs_and_output_at_their_vertices(tmp_path):
    """A steady `poisson` dataset (schema 1.3): one frame, the three inputs and the solution on each holed mesh."""
    from surrolab.datasets.generate import generate
    from surrolab.registry import get_problem

    problem = get_problem("poisson")
    path = generate(problem, problem.make_config("demo"), 2, tmp_path / "data" / "poisson.h5")
    (result,) = _run_pvpython(tmp_path, [{"file": str(path.with_suffix(".xdmf")), "reader": "default",
                                          "times": [0.0]}])
    assert result["times"] == [0.0]
    assert result["point_arrays"] == ["boundary_data", "conductivity", "solution", "source"]
    with h5py.File(path) as f:
        for s, leaf in enumerate(result["frames"][0]["leaves"]):
            points = f[f"mesh/{s}/points"][()]
            (k,) = _node_index(np.array(leaf["points"]), points)
            for name in result["point_arrays"]:
                got = np.array(leaf["arrays"][name], dtype=np.float64).ravel()
                np.testing.assert_array_equal(got, f[f"mesh/{s}/fields/t0_fields/{name}"][0][k], err_msg=name)


def test_particle_sidecar_opens_in_paraview_with_values_at_their_particles(tmp_path):
    """A particle dataset: each sample's particles (5, 9 and 7 of them) as vertices at the frame's positions, in
    2D (XY geometry, z = 0 in ParaView) and 3D, with the other fields and the material id at each particle."""
    from surrolab.datasets.dummy import PARTICLE_COUNTS, write_tiny_particles

    flat = write_tiny_particles(tmp_path / "data" / "particles.h5")
    solid = write_tiny_particles(tmp_path / "data" / "particles3d.h5", counts=(4, 6), n_times=3, dim=3)
    files = {path: write_dataset_xdmf(path) for path in (flat, solid)}
    jobs = [{"file": str(files[flat]), "reader": r, "times": [0.0, 0.1]}
            for r in ("default", "Xdmf3ReaderS", "Xdmf3ReaderT")]
    jobs.append({"file": str(files[solid]), "reader": "Xdmf3ReaderT", "times": [0.05, 0.1]})
    results = _run_pvpython(tmp_path, jobs)

    for result, path in zip(results, [flat] * 3 + [solid]):
        with h5py.File(path) as f:
            times = f["time"][()]
            assert result["times"] == pytest.approx(times.tolist(), rel=1e-8)  # the sidecar's 9 digits
            assert result["point_arrays"] == ["deformation_gradient", "material_id", "stress", "velocity"]
            for frame in result["frames"]:
                t = int(np.argmin(np.abs(times - frame["time"])))
                assert len(frame["leaves"]) == int(f.attrs["n_samples"])  # one particle set per sample
                for s, leaf in enumerate(frame["leaves"]):
                    g = f[f"particles/{s}"]
                    position = g["fields/t1_fields/position"][t]  # (N, dim) float32
                    n, dim = position.shape
                    assert n == (PARTICLE_COUNTS[s] if path == flat else (4, 6)[s])
                    assert leaf["n_points"] == n and leaf["n_cells"] == n  # a vertex cell per particle
                    points = np.array(leaf["points"])
                    np.testing.assert_array_equal(points[:, :dim], position)  # in order: particle k is point k
                    assert np.all(points[:, dim:] == 0.0)
                    for name in ("velocity", "deformation_gradient", "stress"):
                        group = "t1_fields" if name == "velocity" else "t2_fields"
                        want = g[f"fields/{group}/{name}"][t].reshape(n, -1)
                        got = np.array(leaf["arrays"][name], dtype=np.float64).reshape(n, -1)
                        np.testing.assert_array_equal(got, want, err_msg=f"{name} is not at its particle")
                    np.testing.assert_array_equal(leaf["arrays"]["material_id"], g["material_id"][()])


def test_mesh_model_export_opens_in_paraview_on_the_samples_own_mesh(tmp_path):
    """`surrolab export --run <mgn run>`: truth, MeshGraphNets' rollout and its error on the sample's triangles
    (not the grid), each value at its vertex, read by ParaView 5.11's default reader."""
    from surrolab.benchmarks.export import export_sample
    from surrolab.datasets.generate import generate
    from surrolab.registry import get_problem
    from surrolab.surrogates.train_run import train_run

    problem = get_problem("cavity")
    data = generate(problem, problem.make_config(preset="demo", t_end=1.0, n_frames=5), 3, tmp_path / "cavity.h5",
                    seed=2)
    run = tmp_path / "mgn"
    train_run("mgn", data, run, epochs=1, hyper={"latent": 8, "n_layers": 1})
    xdmf = export_sample(data, 0, [run], tmp_path / "viz")
    assert xdmf.name == "cavity_sample0000_mesh.xdmf"
    (result,) = _run_pvpython(tmp_path, [{"file": str(xdmf), "reader": "default", "times": [0.5]}])
    names = ["pressure_mgn", "pressure_mgn_error", "pressure_truth", "velocity_mgn", "velocity_mgn_error",
             "velocity_truth"]
    assert result["point_arrays"] == names
    with h5py.File(xdmf.with_suffix(".h5")) as g, schema.open_dataset(data) as f:
        points, cells = g["mesh/points"][()], g["mesh/cells"][()]
        np.testing.assert_array_equal(points, schema.read_mesh(f, 0).points)
        (leaf,) = result["frames"][0]["leaves"]
        assert leaf["n_points"] == len(points) and leaf["n_cells"] == len(cells)
        (k,) = _node_index(np.array(leaf["points"]), points)
        t = list(g["time"][()]).index(0.5)
        for name in names:
            want = g[f"export/{name}"][t][k].reshape(len(points), -1)
            got = np.array(leaf["arrays"][name], dtype=np.float64).reshape(len(points), -1)
            np.testing.assert_array_equal(got, want, err_msg=f"{name} is not at its vertex")
        np.testing.assert_allclose(g["export/velocity_mgn_error"][t], g["export/velocity_mgn"][t]
                                   - g["export/velocity_truth"][t], atol=1e-6)
