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
        f'<DataItem Dimensions="{_dims(out_dims)}" NumberType="Float" Precision="4" Format="HDF">'
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


def _write_document(xdmf_path: Path, h5_name: str, times: np.ndarray,
                    collections: list[tuple[str, str, tuple[int, ...], list[list[Attribute]]]]) -> Path:
    """collections: (name, topology and geometry XML, the shape the attributes are shown on, frames)."""
    lines = ['<?xml version="1.0" ?>', '<Xdmf Version="3.0">', "<Domain>"]
    for grid_name, shape_xml, spatial, frames in collections:
        lines.append(f'<Grid Name={quoteattr(grid_name)} GridType="Collection" CollectionType="Temporal">')
        for t, attrs in zip(times, frames):
            lines.append(f'<Grid Name={quoteattr(f"{grid_name}_t{t:.6g}")} GridType="Uniform">'
                         f'<Time Value="{float(t):.9g}"/>{shape_xml}')
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


def _datasets(group: h5py.Group) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, absolute path, shape) of every dataset below `group`."""
    out = []
    group.visititems(lambda name, obj: out.append((name.rsplit("/", 1)[-1], f"{group.name}/{name}", obj.shape))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def write_dataset_xdmf(h5_path: str | os.PathLike, max_samples: int = 8) -> Path:
    """The sidecar of a dataset: `<name>.xdmf` beside `<name>.h5`, one temporal grid per sample.

    A mesh dataset's sidecar shows the samples on their meshes, and its grid companion gets a second
    sidecar, `<name>_grid.xdmf`. Only the first `max_samples` samples are listed, to keep the files
    small; the HDF5 holds them all.
    """
    h5_path = Path(h5_path)
    with h5py.File(h5_path, "r") as f:
        spatial = f["geometry/boundary_mask"].shape
        times = f["time"][()]
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
