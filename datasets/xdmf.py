"""XDMF sidecars: small XML files that let ParaView open fields stored in our HDF5 files directly.

The grid is written as a structured mesh (`2DSMesh`/`3DSMesh`) whose node coordinates are read from
`/geometry/nodes`, stored in the same `ij` order as the fields, so no transposition is needed and the
picture in ParaView is the data. Each frame is a hyperslab of the field dataset: nothing is copied.

The hyperslab is written in the Xdmf3 form, `file.h5:/dataset|start:stride:count:dataset_shape` on one
HDF DataItem with its NumberType: ParaView's Xdmf3 readers (`Xdmf3ReaderS`, the one `OpenDataFile` picks
for `.xdmf`, and `Xdmf3ReaderT`) read it. They silently drop arrays written in the XDMF-2 form
(`ItemType="HyperSlab"` around two DataItems: "Skipping unrecognized array type [None]"), which only the
legacy "XDMF Reader" reads, and that reader in turn fails on the Xdmf3 form: no one form serves both.
Open the `.xdmf` in ParaView with "Xdmf3 Reader T" (one block per sample) or "Xdmf3 Reader S", not with
"XDMF Reader". Checked with ParaView 5.11 by `tests/datasets/test_paraview.py`.

A mesh dataset's sidecar shows each sample on its own mesh: `Triangle` topology from `/mesh/<i>/cells`,
`XY` geometry from `/mesh/<i>/points`, fields as node attributes (hyperslabs of
`/mesh/<i>/fields/...`). Its grid companion gets a second sidecar, `<name>_grid.xdmf`.

A particle dataset's sidecar shows each sample's particles moving: every frame a `Polyvertex` topology
(one vertex cell per particle; ParaView draws a point set without cells as nothing, so the connectivity
is the first N_i entries of `/particles/vertices`, 0, 1, ...), `XY` (`XYZ` in 3D) geometry that is the
frame's hyperslab of `/particles/<i>/fields/t1_fields/position`, the other fields as node attributes
(hyperslabs) and `material_id` as a constant integer attribute. Checked with ParaView 5.11 too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import h5py
import numpy as np


@dataclass(frozen=True)
class Attribute:
    """One field shown on the grid: `dataset[index]` must have shape (*spatial[, components])."""

    name: str
    dataset: str  # path inside the HDF5 file
    dataset_shape: tuple[int, ...]
    index: tuple[int, ...]  # leading indices (sample, time) selecting one frame
    number_type: str = "Float"  # XDMF NumberType and Precision (bytes) of the dataset
    precision: int = 4


def _dims(shape) -> str:
    return " ".join(str(int(s)) for s in shape)


def _attribute_xml(h5_name: str, attr: Attribute, spatial: tuple[int, ...]) -> str:
    lead = len(attr.index)
    tail = attr.dataset_shape[lead:]
    components = int(np.prod(tail[len(spatial):])) if len(tail) > len(spatial) else 1
    kind = "Scalar" if components == 1 else "Matrix"  # Matrix: ParaView takes the components from the last dim
    rank = len(attr.dataset_shape)
    start = list(attr.index) + [0] * (rank - lead)
    count = [1] * lead + list(tail)
    out_dims = list(spatial) + ([components] if components > 1 else [])
    slab = f"{_dims(start)}:{_dims([1] * rank)}:{_dims(count)}:{_dims(attr.dataset_shape)}"
    return (
        f'<Attribute Name={quoteattr(attr.name)} AttributeType="{kind}" Center="Node">'
        f'<DataItem Dimensions="{_dims(out_dims)}" NumberType="{attr.number_type}" Precision="{attr.precision}" '
        f'Format="HDF">'
        f"{escape(h5_name)}:{escape(attr.dataset)}|{slab}</DataItem></Attribute>"
    )


def _data_item(h5_name: str, dataset: str, shape, number_type: str = "Float") -> str:
    return (f'<DataItem Dimensions="{_dims(shape)}" NumberType="{number_type}" Precision="8" Format="HDF">'
            f"{escape(h5_name)}:{escape(dataset)}</DataItem>")


def _grid_shape_xml(h5_name: str, spatial: tuple[int, ...]) -> str:
    """Topology and geometry of the regular grid: a structured mesh on `/geometry/nodes`."""
    nd = len(spatial)
    return (f'<Topology TopologyType="{nd}DSMesh" Dimensions="{_dims(spatial)}"/>'
            f'<Geometry GeometryType="{"XY" if nd == 2 else "XYZ"}">'
            f'{_data_item(h5_name, "/geometry/nodes", [*spatial, nd])}</Geometry>')


XDMF_CELLS = {"triangle": "Triangle"}  # our cell type -> XDMF TopologyType


def _mesh_shape_xml(h5_name: str, group: str, points_shape, cells_shape, cell_type: str) -> str:
    """Topology and geometry of one sample's mesh: cells and points of the group `/mesh/<i>`."""
    return (f'<Topology TopologyType="{XDMF_CELLS[cell_type]}" NumberOfElements="{cells_shape[0]}">'
            f'{_data_item(h5_name, f"{group}/cells", cells_shape, "Int")}</Topology>'
            f'<Geometry GeometryType="{"XY" if points_shape[1] == 2 else "XYZ"}">'
            f'{_data_item(h5_name, f"{group}/points", points_shape)}</Geometry>')


def _particle_shape_xml(h5_name: str, group: str, time_index: int, position_shape: tuple[int, ...],
                        n_vertices: int) -> str:
    """Topology and geometry of one frame of one sample's particles: a vertex per particle (the first N of
    the `n_vertices` entries of `/particles/vertices`), at the frame's positions (a hyperslab of
    `/particles/<i>/fields/t1_fields/position`, shape (n_times, N, dim))."""
    _, n, dim = position_shape
    slab = f"{time_index} 0 0:1 1 1:1 {n} {dim}:{_dims(position_shape)}"
    return (f'<Topology TopologyType="Polyvertex" NumberOfElements="{n}" NodesPerElement="1">'
            f'<DataItem Dimensions="{n}" NumberType="Int" Precision="8" Format="HDF">'
            f"{escape(h5_name)}:/particles/vertices|0:1:{n}:{n_vertices}</DataItem></Topology>"
            f'<Geometry GeometryType="{"XY" if dim == 2 else "XYZ"}">'
            f'<DataItem Dimensions="{n} {dim}" NumberType="Float" Precision="4" Format="HDF">'
            f"{escape(h5_name)}:{escape(group)}/fields/t1_fields/position|{slab}</DataItem></Geometry>")


def _write_document(xdmf_path: Path, h5_name: str, times: np.ndarray,
                    collections: list[tuple[str, str | list[str], tuple[int, ...], list[list[Attribute]]]]) -> Path:
    """collections: (name, topology and geometry XML (one for all frames, or one per frame), the shape the
    attributes are shown on, frames)."""
    lines = ['<?xml version="1.0" ?>', '<Xdmf Version="3.0">', "<Domain>"]
    for grid_name, shape_xml, spatial, frames in collections:
        lines.append(f'<Grid Name={quoteattr(grid_name)} GridType="Collection" CollectionType="Temporal">')
        shapes = [shape_xml] * len(frames) if isinstance(shape_xml, str) else shape_xml
        for t, attrs, frame_shape_xml in zip(times, frames, shapes):
            lines.append(f'<Grid Name={quoteattr(f"{grid_name}_t{t:.6g}")} GridType="Uniform">'
                         f'<Time Value="{float(t):.9g}"/>{frame_shape_xml}')
            lines.extend(_attribute_xml(h5_name, a, spatial) for a in attrs)
            lines.append("</Grid>")
        lines.append("</Grid>")
    lines += ["</Domain>", "</Xdmf>", ""]
    tmp = xdmf_path.with_suffix(".xdmf.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, xdmf_path)
    return xdmf_path


def _h5_name(xdmf_path: Path, h5_path: str | os.PathLike) -> str:
    """The HDF5 file's name relative to the XDMF file, so both can be moved together."""
    return os.path.relpath(Path(h5_path).resolve(), xdmf_path.resolve().parent)


def write_xdmf(xdmf_path: str | os.PathLike, h5_path: str | os.PathLike, spatial: tuple[int, ...],
               times: np.ndarray, series: dict[str, list[list[Attribute]]]) -> Path:
    """Write an XDMF file with one temporal collection on the grid `/geometry/nodes` per entry of `series`.

    series: grid name -> per time step, the list of attributes shown at that step.
    """
    xdmf_path = Path(xdmf_path)
    h5_name = _h5_name(xdmf_path, h5_path)
    shape_xml = _grid_shape_xml(h5_name, spatial)
    return _write_document(xdmf_path, h5_name, times,
                           [(name, shape_xml, spatial, frames) for name, frames in series.items()])


def write_mesh_xdmf(xdmf_path: str | os.PathLike, h5_path: str | os.PathLike, group: str, points_shape,
                    cells_shape, cell_type: str, times: np.ndarray, frames: list[list[Attribute]],
                    name: str = "mesh") -> Path:
    """An XDMF file with one temporal collection on the mesh `<group>/points`, `<group>/cells` of the HDF5
    file (the sidecar layout of a mesh sample); `frames`: per time step, the node attributes shown."""
    xdmf_path = Path(xdmf_path)
    h5_name = _h5_name(xdmf_path, h5_path)
    shape_xml = _mesh_shape_xml(h5_name, group, points_shape, cells_shape, cell_type)
    return _write_document(xdmf_path, h5_name, times, [(name, shape_xml, tuple(points_shape[:1]), frames)])


def _datasets(group: h5py.Group) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, absolute path, shape) of every dataset below `group`."""
    out = []
    group.visititems(lambda name, obj: out.append((name.rsplit("/", 1)[-1], f"{group.name}/{name}", obj.shape))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def write_dataset_xdmf(h5_path: str | os.PathLike, max_samples: int = 8) -> Path:
    """The sidecar of a dataset: `<name>.xdmf` beside `<name>.h5`, one temporal grid per sample.

    A mesh dataset's sidecar shows the samples on their meshes, and its grid companion gets a second
    sidecar, `<name>_grid.xdmf`. A particle dataset's shows each sample's particles at their positions
    (it has no grid fields, so no grid sidecar). Only the first `max_samples` samples are listed, to keep
    the files small; the HDF5 holds them all.
    """
    h5_path = Path(h5_path)
    with h5py.File(h5_path, "r") as f:
        spatial = f["geometry/boundary_mask"].shape
        times = f["time"][()]
        if str(f.attrs.get("geometry_type", "grid")) == "particles":
            return _write_particle_xdmf(f, h5_path, times, max_samples)
        fields = _datasets(f["fields"])
        samples = range(min(int(f.attrs["n_samples"]), max_samples))
        series = {f"sample_{s:04d}": [[Attribute(name, path, shape, (s, t)) for name, path, shape in fields]
                                      for t in range(len(times))] for s in samples}
        if str(f.attrs.get("geometry_type", "grid")) != "mesh":
            return write_xdmf(h5_path.with_suffix(".xdmf"), h5_path, spatial, times, series)
        write_xdmf(h5_path.with_name(h5_path.stem + "_grid.xdmf"), h5_path, spatial, times, series)
        xdmf_path = h5_path.with_suffix(".xdmf")
        h5_name = _h5_name(xdmf_path, h5_path)
        collections = []
        for s in samples:
            g = f[f"mesh/{s}"]
            shape_xml = _mesh_shape_xml(h5_name, g.name, g["points"].shape, g["cells"].shape,
                                        str(f["mesh"].attrs["cell_type"]))
            mesh_fields = _datasets(g["fields"])
            frames = [[Attribute(name, path, shape, (t,)) for name, path, shape in mesh_fields]
                      for t in range(len(times))]
            collections.append((f"sample_{s:04d}", shape_xml, g["points"].shape[:1], frames))
    return _write_document(xdmf_path, h5_name, times, collections)


def _write_particle_xdmf(f: h5py.File, h5_path: Path, times: np.ndarray, max_samples: int) -> Path:
    """A particle dataset's sidecar: per sample, a temporal collection of its particles (see the module)."""
    xdmf_path = h5_path.with_suffix(".xdmf")
    h5_name = _h5_name(xdmf_path, h5_path)
    collections = []
    for s in range(min(int(f.attrs["n_samples"]), max_samples)):
        g = f[f"particles/{s}"]
        fields = [a for a in _datasets(g["fields"]) if a[1] != f"{g.name}/fields/t1_fields/position"]
        position_shape = g["fields/t1_fields/position"].shape
        material = Attribute("material_id", f"{g.name}/material_id", g["material_id"].shape, (), "Int",
                             g["material_id"].dtype.itemsize)
        frames = [[Attribute(name, path, shape, (t,)) for name, path, shape in fields] + [material]
                  for t in range(len(times))]
        shapes = [_particle_shape_xml(h5_name, g.name, t, position_shape, len(f["particles/vertices"]))
                  for t in range(len(times))]
        collections.append((f"sample_{s:04d}", shapes, position_shape[1:2], frames))
    return _write_document(xdmf_path, h5_name, times, collections)
