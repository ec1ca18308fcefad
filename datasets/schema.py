"""The surrolab HDF5 dataset schema: the one place the layout is written, read and checked.

The layout (version 1.2; the short document is `datasets/SCHEMA.md`)::

    /                       attrs: schema_version, complete, problem, geometry_type, n_samples, n_times
    /geometry               attrs: type ("grid"), axis_names
      axes/<axis>           (n_axis,)            node coordinates along each axis
      nodes                 (*spatial, dim)      node coordinates, `ij` order (ParaView reads these)
      boundary_mask         (*spatial,) bool     nodes on the domain boundary
      mask                  (n_samples, *spatial) bool   mesh datasets only: grid nodes inside the mesh
    /time                   (n_times,)           shared by all samples (attrs: units, sample_varying)
    /fields/t{0,1,2}_fields/<name>   (n_samples, n_times, *spatial[, dim[, dim]]) float32
                            attrs: units, description, order, sample_varying, time_varying
                            (particle datasets: a group with these attributes and no grid array)
    /parameters/<name>      (n_samples,)         attrs: units, low, high, allowed_low, allowed_high
    /boundary_conditions/<i>  attrs: boundary, kind, value, fields
    /samples/seed, /samples/wall_time (s), /samples/<diagnostic>   (n_samples,)
    /provenance             attrs: problem_config, generation, packages (JSON), git_revision, seed, hardware
    /splits/<name>          sample indices; attrs: strategy
    /normalization/<field>/{mean,std}   statistics of the training split, per component
    /normalization/parameters/{mean,std}  attrs: names (the parameter of each entry)
    /mesh                   mesh datasets only; attrs: cell_type ("triangle")
      <i>/points            (N_i, dim) float64   vertices of sample i's mesh
      <i>/cells             (M_i, 3) int64       vertex indices of each cell
      <i>/boundaries/<name> (F, dim) int64       vertex indices of the facets of a named boundary
      <i>/fields/t{0,1,2}_fields/<name>   (n_times, N_i[, dim[, dim]]) float32, chunked per time step
    /particles              particle datasets only
      vertices              (max N_i,) int64     0, 1, ...: the XDMF sidecar's Polyvertex connectivity
      <i>                   attrs: materials (JSON list of {"law": ..., parameters}), domain (2, dim)
      <i>/material_id, mass, volume, particle_index   (N_i,) int32, float64, float64, int64
      <i>/fields/t{0,1,2}_fields/<name>   (n_times, N_i[, dim[, dim]]) float32, chunked per time step
    /normalization/position_velocity/{mean,std}, position_acceleration/{mean,std}   particle datasets

`/geometry` is always a regular grid. In grid and mesh datasets `/fields` holds the fields on it, so
every grid reader works on both. In a mesh dataset (geometry_type "mesh") the solver's fields live on a
mesh per sample (the geometry may vary between samples), one group per sample so that a sample reads
without touching the others, and the writer also interpolates them onto the grid
(`datasets/interpolate.py`): zero outside the mesh, where `/geometry/mask` is False. A particle dataset
(geometry_type "particles", an MPM run) has no grid fields: `/geometry` is the solver's background grid
(the box), `/fields/t*_fields/<name>` are groups that only carry each field's attributes, and the
values live per sample in `/particles/<i>` (the particle count N_i may differ between samples). The grid
readers (`read_fields`, `read_mask`) refuse it; `read_particles` and `read_particle_fields` read it.
Version 1.1 added the mesh part and 1.2 the particle part; a 1.0 or 1.1 file still reads.

Fields are grouped by tensor order as in The Well (Ohana et al., 2024, `docs/data_format.md`) so that a
rotation or flip transforms vectors and tensors correctly. Each field is chunked one (sample, time step)
per chunk and gzip-compressed, so one frame reads without touching the others.

A file is complete only when the root attribute `complete` is True; the writer sets it last, on a
temporary name that is renamed into place (`write_dataset`), so an interrupted run never leaves a
file that validates.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np

from surrolab.datasets.interpolate import grid_interpolation
from surrolab.errors import SurrolabError
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, MeshGeometry, ParticleGeometry, mesh_problems

SCHEMA_VERSION = "1.3"
# 1.1 added mesh datasets, 1.2 particle datasets, 1.3 steady input/output pairs (each field's `role`); a file
# without roles (before 1.3) reads as time-dependent, every field a state
READS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
ROLES = ("state", "input", "output")  # a field of a trajectory; an operator's input; its output (steady pairs)
ORDER_GROUPS = ("t0_fields", "t1_fields", "t2_fields")
GEOMETRY_TYPES = ("grid", "mesh", "particles")
POSITION = "position"  # the vector field of a particle dataset that holds the particles' positions
PARTICLE_ARRAYS = ("material_id", "mass", "volume", "particle_index")  # per sample, one value per particle
# statistics of the finite differences of the positions between stored frames (`splits.frame_differences`)
POSITION_DIFFERENCES = {
    "position_velocity": ("/s", "v[k] = (x[k+1] - x[k]) / (t[k+1] - t[k]) between stored frames"),
    "position_acceleration": ("/s^2", "a[k] = 2 (v[k+1] - v[k]) / (t[k+2] - t[k]), v the position_velocity: "
                                      "(x[k+2] - 2 x[k+1] + x[k]) / dt^2 for frames dt apart"),
}
COMPRESSION = dict(compression="gzip", compression_opts=4, shuffle=True)


@dataclass(frozen=True)
class DatasetDescription:
    """Everything a model or the harness needs to know about a dataset, without its arrays.

    `geometry` is the grid every grid or mesh dataset stores its fields on. geometry_type "mesh": the
    solver's fields live on a mesh per sample (`read_mesh`, `read_mesh_fields`) and were interpolated onto
    `geometry`, where `read_mask` says which grid nodes lie inside the mesh. geometry_type "particles": the
    fields live on a particle set per sample (`read_particles`, `read_particle_fields`) and `geometry` is
    only the solver's background grid (the box); there are no grid fields.
    """

    problem: str
    fields: tuple[FieldSpec, ...]
    parameters: tuple[ParameterSpec, ...]
    geometry: GridGeometry
    times: np.ndarray
    boundary_conditions: tuple[BoundaryCondition, ...] = ()
    geometry_type: str = "grid"
    # steady input/output pairs (since 1.3): the fields the operator maps from; the other fields are its outputs.
    # Empty for a trajectory dataset, whose every field is a state stepped in time.
    input_fields: tuple[str, ...] = ()

    @property
    def steady(self) -> bool:
        """A dataset of steady operator pairs (one frame: inputs -> outputs), not of trajectories."""
        return bool(self.input_fields)

    def role(self, name: str) -> str:
        return "state" if not self.steady else "input" if name in self.input_fields else "output"

    @property
    def output_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if self.role(f.name) == "output")

    @property
    def spatial_dim(self) -> int:
        return len(self.geometry.shape)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Fields flattened to channels: scalars as they are, vector components as `name_x`, ..."""
        names = []
        for f in self.fields:
            if f.order == 0:
                names.append(f.name)
            else:
                axes = self.geometry.axis_names
                for idx in np.ndindex(*(self.spatial_dim,) * f.order):
                    names.append(f.name + "_" + "".join(axes[i] for i in idx))
        return tuple(names)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)


@dataclass
class Sample:
    """One solved trajectory, ready to be written: its fields, parameters and cost.

    fields: name -> (n_times, *spatial[, dim...]) on the grid, or (n_times, N[, dim...]) at the N points
    of `mesh` in a mesh dataset or at the N particles of `particles` in a particle dataset.
    """

    seed: int
    parameters: dict[str, float]
    fields: dict[str, np.ndarray]
    wall_time: float
    diagnostics: dict[str, float] = field(default_factory=dict)
    mesh: MeshGeometry | None = None
    particles: ParticleGeometry | None = None


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def _field_path(spec: FieldSpec) -> str:
    if spec.order not in (0, 1, 2):
        raise SurrolabError(f"field {spec.name!r} has tensor order {spec.order}; allowed: 0, 1, 2")
    return f"fields/{ORDER_GROUPS[spec.order]}/{spec.name}"


# -- writing ----------------------------------------------------------------------------------------
def write_dataset(
    path: str | os.PathLike,
    description: DatasetDescription,
    samples: list[Sample],
    provenance: dict,
    splits: dict[str, np.ndarray] | None = None,
    normalization: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    interpolations: list | None = None,
) -> Path:
    """Write a complete dataset atomically: to `<path>.tmp`, then renamed to `path`.

    In a mesh dataset (`description.geometry_type == "mesh"`) every sample carries its mesh, and its
    fields are written on the mesh and, interpolated, on `description.geometry`. `interpolations`: the
    samples' `grid_interpolation`s when the caller has built them already (generation does, for the
    normalisation statistics); built here otherwise. In a particle dataset every sample carries its
    `ParticleGeometry` and its fields are written only at its particles (`/particles/<i>`).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    n, nt = len(samples), len(description.times)
    shape = description.geometry.shape
    on_mesh = _check_geometry_type(description, samples)
    on_particles = description.geometry_type == "particles"
    to_grid = interpolations if on_mesh and interpolations is not None else \
        [grid_interpolation(s.mesh, description.geometry.axes) if on_mesh else None for s in samples]
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(schema_version=SCHEMA_VERSION, complete=False, problem=description.problem,
                           geometry_type=description.geometry_type, n_samples=n, n_times=nt, spatial_dim=len(shape),
                           steady=description.steady)
            write_geometry(f, description.geometry)
            if on_mesh:
                f.create_dataset("geometry/mask", data=np.stack([g.mask for g in to_grid]), chunks=(1, *shape),
                                 **COMPRESSION)
                f.create_group("mesh").attrs["cell_type"] = samples[0].mesh.cell_type if samples else "triangle"
                for i, s in enumerate(samples):
                    write_mesh(f.create_group(f"mesh/{i}"), s.mesh)
            if on_particles:
                largest = max((s.particles.n_points for s in samples), default=0)
                f.create_dataset("particles/vertices", data=np.arange(largest, dtype=np.int64), **COMPRESSION)
                for i, s in enumerate(samples):
                    write_particles(f.create_group(f"particles/{i}"), s.particles)
            t = f.create_dataset("time", data=np.asarray(description.times, dtype=np.float64))
            t.attrs.update(units="s", sample_varying=False)
            for spec in description.fields:
                tail = (len(shape),) * spec.order
                attrs = dict(units=spec.units, description=spec.description, order=spec.order,
                             sample_varying=True, time_varying=not description.steady,
                             role=description.role(spec.name))
                if on_particles:  # no grid array: the field's entry in /fields only carries its attributes
                    f.create_group(_field_path(spec)).attrs.update(attrs)
                    for i, s in enumerate(samples):
                        values = _checked_array(s.fields, spec.name, (nt, s.particles.n_points, *tail))
                        f.create_dataset(f"particles/{i}/{_field_path(spec)}", data=values.astype(np.float32),
                                         chunks=(1, *values.shape[1:]), **COMPRESSION)
                    continue
                ds = f.create_dataset(_field_path(spec), shape=(n, nt, *shape, *tail), dtype=np.float32,
                                      chunks=(1, 1, *shape, *tail), **COMPRESSION)
                ds.attrs.update(attrs)
                for i, s in enumerate(samples):
                    if on_mesh:  # on the mesh, and interpolated onto the grid
                        values = _checked_array(s.fields, spec.name, (nt, s.mesh.n_points, *tail))
                        f.create_dataset(f"mesh/{i}/{_field_path(spec)}", data=values.astype(np.float32),
                                         chunks=(1, *values.shape[1:]), **COMPRESSION)
                        ds[i] = to_grid[i](values, node_axis=1)
                    else:
                        ds[i] = _checked_array(s.fields, spec.name, (nt, *shape, *tail))
            for p in description.parameters:
                ds = f.create_dataset(f"parameters/{p.name}", data=[s.parameters[p.name] for s in samples],
                                      dtype=np.float64)
                ds.attrs.update({k: v for k, v in asdict(p).items() if k != "name"})
            for i, bc in enumerate(description.boundary_conditions):
                f.create_group(f"boundary_conditions/{i}").attrs.update(
                    boundary=bc.boundary, kind=bc.kind, value=bc.value, fields=list(bc.fields))
            f.create_dataset("samples/seed", data=np.array([s.seed for s in samples], dtype=np.int64))
            f.create_dataset("samples/wall_time", data=[s.wall_time for s in samples]).attrs["units"] = "s"
            for key in sorted(set().union(*(s.diagnostics for s in samples)) if samples else ()):
                f.create_dataset(f"samples/{key}", data=[float(s.diagnostics.get(key, np.nan)) for s in samples])
            prov = f.require_group("provenance")
            for key, value in provenance.items():
                prov.attrs[key] = value if isinstance(value, (str, int, float)) else _json(value)
            for name, idx in (splits or {}).items():
                f.create_dataset(f"splits/{name}", data=np.asarray(idx, dtype=np.int64))
            for name, (mean, std) in (normalization or {}).items():
                f.create_dataset(f"normalization/{name}/mean", data=mean)
                f.create_dataset(f"normalization/{name}/std", data=std)
            if "parameters" in (normalization or {}):
                # the parameters' statistics are in `description.parameters` order, which is not the order
                # `read_description` gives back (HDF5 lists /parameters alphabetically): name each entry
                f["normalization/parameters"].attrs["names"] = list(description.parameter_names)
            for name, (units, definition) in POSITION_DIFFERENCES.items():
                if on_particles and name in (normalization or {}):
                    position_units = next(s.units for s in description.fields if s.name == POSITION)
                    f[f"normalization/{name}"].attrs.update(units=position_units + units, definition=definition)
            f.attrs["complete"] = True  # last: nothing above failed
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _check_geometry_type(description: DatasetDescription, samples: list[Sample]) -> bool:
    """True for a mesh dataset, after checking that exactly its samples carry a mesh, of one cell type, and
    exactly a particle dataset's samples carry a non-empty particle set of the grid's dimension."""
    kind = description.geometry_type
    if kind not in GEOMETRY_TYPES:
        raise SurrolabError(f"geometry_type {kind!r} is not supported; allowed: {list(GEOMETRY_TYPES)}")
    for i, s in enumerate(samples):
        for label, geometry in (("mesh", s.mesh), ("particles", s.particles)):
            if (geometry is not None) != (kind == label):
                raise SurrolabError(f"sample {i} {'has no' if geometry is None else 'has a'} "
                                    f"{'mesh' if label == 'mesh' else 'particle set'}, "
                                    f"but the dataset's geometry_type is {kind!r}")
    cell_types = {s.mesh.cell_type for s in samples if s.mesh is not None}
    if len(cell_types) > 1:
        raise SurrolabError(f"the samples' meshes mix cell types {sorted(cell_types)}; a dataset has one")
    if kind == "particles":
        vectors = {s.name for s in description.fields if s.order == 1}
        if POSITION not in vectors:
            raise SurrolabError(f"a particle dataset needs the vector field {POSITION!r} (the particles' positions); "
                                f"its fields are {[s.name for s in description.fields]}")
        for i, s in enumerate(samples):
            if s.particles.n_points == 0 or s.particles.dim != description.spatial_dim:
                raise SurrolabError(f"sample {i} has {s.particles.n_points} particles in {s.particles.dim}D; the "
                                    f"dataset needs at least one, in {description.spatial_dim}D like its grid")
            bad = [name for name in ("mass", "volume") if not np.all(getattr(s.particles, name) > 0)]
            if bad or not all(np.all(np.isfinite(c)) for c in s.particles.domain):
                raise SurrolabError(f"sample {i}'s particle set has non-positive or non-finite {bad or 'domain'}")
    return kind == "mesh"


def write_mesh(g: h5py.Group, mesh: MeshGeometry) -> None:
    """One sample's mesh into a group (`/mesh/<i>`); its cell type is recorded once, on `/mesh`."""
    g.create_dataset("points", data=mesh.points, **COMPRESSION)
    g.create_dataset("cells", data=mesh.cells, **COMPRESSION)
    for name, facets in mesh.boundaries.items():
        g.create_dataset(f"boundaries/{name}", data=facets, **COMPRESSION)


def write_particles(g: h5py.Group, particles: ParticleGeometry) -> None:
    """One sample's particle set into a group (`/particles/<i>`): its per-particle arrays, and its materials
    (JSON) and box (`domain`: row 0 the lower corner, row 1 the upper) as attributes."""
    for name in PARTICLE_ARRAYS:
        g.create_dataset(name, data=getattr(particles, name), **COMPRESSION)
    g.attrs["materials"] = _json(list(particles.materials))
    g.attrs["domain"] = np.stack(particles.domain)


def write_geometry(f: h5py.File, geometry: GridGeometry) -> None:
    g = f.create_group("geometry")
    g.attrs.update(type="grid", axis_names=list(geometry.axis_names))
    for name, axis in zip(geometry.axis_names, geometry.axes):
        g.create_dataset(f"axes/{name}", data=np.asarray(axis, dtype=np.float64))
    mesh = np.meshgrid(*geometry.axes, indexing="ij")
    g.create_dataset("nodes", data=np.stack(mesh, axis=-1))
    g.create_dataset("boundary_mask", data=geometry.boundary_mask())


def _checked_array(fields: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in fields:
        raise SurrolabError(f"sample has no field {name!r}; it has {sorted(fields)}")
    arr = np.asarray(fields[name])
    if arr.shape != shape:
        raise SurrolabError(f"field {name!r} has shape {arr.shape}; the dataset expects {shape}")
    if not np.all(np.isfinite(arr)):
        raise SurrolabError(f"field {name!r} has non-finite values: the solver diverged")
    return arr


# -- reading ----------------------------------------------------------------------------------------
def open_dataset(path: str | os.PathLike) -> h5py.File:
    """Open a dataset for reading after validating it; raises SurrolabError naming the problem."""
    problems = validate(path)
    if problems:
        raise SurrolabError(f"{path}: not a valid surrolab dataset: {problems[0]}")
    return h5py.File(path, "r")


def read_description(f: h5py.File) -> DatasetDescription:
    geom = f["geometry"]
    names = tuple(str(a) for a in geom.attrs["axis_names"])
    geometry = GridGeometry(axes=tuple(geom[f"axes/{a}"][()] for a in names), axis_names=names)
    fields, inputs = [], []
    for group in ORDER_GROUPS:
        for name, ds in f.get(f"fields/{group}", {}).items():
            fields.append(FieldSpec(name, str(ds.attrs["units"]), int(ds.attrs["order"]),
                                    str(ds.attrs.get("description", ""))))
            if str(ds.attrs.get("role", "state")) == "input":
                inputs.append(name)
    params = tuple(ParameterSpec(name=name, **{k: _attr(v) for k, v in ds.attrs.items()})
                   for name, ds in f.get("parameters", {}).items())
    bcs = tuple(BoundaryCondition(boundary=str(g.attrs["boundary"]), kind=str(g.attrs["kind"]),
                                  value=float(g.attrs["value"]), fields=tuple(str(x) for x in g.attrs["fields"]))
                for _, g in sorted(f.get("boundary_conditions", {}).items(), key=lambda kv: int(kv[0])))
    return DatasetDescription(problem=str(f.attrs["problem"]), fields=tuple(fields), parameters=params,
                              geometry=geometry, times=f["time"][()], boundary_conditions=bcs,
                              geometry_type=str(f.attrs.get("geometry_type", "grid")), input_fields=tuple(inputs))


def _attr(value):
    return value.item() if isinstance(value, np.generic) else str(value) if isinstance(value, bytes) else value


def _refuse_particles(f: h5py.File, reader: str) -> None:
    kind = str(f.attrs.get("geometry_type", "grid"))
    if kind == "particles":
        raise SurrolabError(f"{reader} reads fields on the grid, but this dataset's geometry_type is {kind!r}: "
                            "its fields live on particles only; read them with read_particles and "
                            "read_particle_fields")


def read_fields(f: h5py.File, description: DatasetDescription, samples) -> np.ndarray:
    """Fields of the given samples as channels: (n_samples, n_times, n_channels, *spatial), float32.
    Grid and mesh datasets; a particle dataset has no grid fields (SurrolabError)."""
    _refuse_particles(f, "read_fields")
    samples = np.asarray(samples, dtype=np.int64)
    nd = description.spatial_dim
    if len(samples) == 0:  # an empty split of a small dataset
        shape = (0, len(description.times), len(description.channel_names), *description.geometry.shape)
        return np.zeros(shape, dtype=np.float32)
    parts = []
    for spec in description.fields:
        arr = f[_field_path(spec)][np.sort(samples)]  # h5py reads increasing indices; reorder as asked
        arr = arr[np.argsort(np.argsort(samples))]
        arr = arr.reshape(*arr.shape[: 2 + nd], -1) if spec.order else arr[..., None]
        parts.append(np.moveaxis(arr, -1, 2))  # components become channels
    return np.concatenate(parts, axis=2).astype(np.float32)


def read_mask(f: h5py.File, samples) -> np.ndarray:
    """(n_samples, *spatial) bool: the grid nodes inside each sample's mesh (all of them in a grid dataset).
    A particle dataset has no grid fields to mask (SurrolabError)."""
    _refuse_particles(f, "read_mask")
    samples = np.asarray(samples, dtype=np.int64)
    if "geometry/mask" not in f:
        return np.ones((len(samples), *f["geometry/boundary_mask"].shape), dtype=bool)
    return f["geometry/mask"][()][samples]


def _mesh_group(f: h5py.File, sample: int) -> h5py.Group:
    if f"mesh/{sample}" not in f:
        raise SurrolabError(f"the dataset has no mesh for sample {sample} (geometry_type "
                            f"{str(f.attrs.get('geometry_type', 'grid'))!r}, {int(f.attrs['n_samples'])} samples)")
    return f[f"mesh/{sample}"]


def read_mesh(f: h5py.File, sample: int) -> MeshGeometry:
    """The mesh of one sample of a mesh dataset."""
    return read_mesh_group(_mesh_group(f, sample), str(f["mesh"].attrs["cell_type"]))


def read_mesh_group(g: h5py.Group, cell_type: str) -> MeshGeometry:
    """The inverse of `write_mesh`."""
    return MeshGeometry(points=g["points"][()], cells=g["cells"][()], cell_type=cell_type,
                        boundaries={name: ds[()] for name, ds in g.get("boundaries", {}).items()})


def read_mesh_fields(f: h5py.File, description: DatasetDescription, sample: int) -> np.ndarray:
    """The fields of one sample on its mesh, as channels: (n_times, n_channels, N), float32.

    The channels are those of `read_fields` (`description.channel_names`), at the mesh's points.
    """
    g = _mesh_group(f, sample)
    parts = []
    for spec in description.fields:
        arr = g[_field_path(spec)][()]  # (T, N[, dim...])
        parts.append(np.moveaxis(arr.reshape(*arr.shape[:2], -1), -1, 1))  # components become channels
    return np.concatenate(parts, axis=1).astype(np.float32)


def _particle_group(f: h5py.File, sample: int) -> h5py.Group:
    if f"particles/{sample}" not in f:
        raise SurrolabError(f"the dataset has no particles for sample {sample} (geometry_type "
                            f"{str(f.attrs.get('geometry_type', 'grid'))!r}, {int(f.attrs['n_samples'])} samples)")
    return f[f"particles/{sample}"]


def read_particles(f: h5py.File, sample: int) -> ParticleGeometry:
    """The particle set of one sample of a particle dataset (its positions are the field "position")."""
    return read_particle_group(_particle_group(f, sample))


def read_particle_group(g: h5py.Group) -> ParticleGeometry:
    """The inverse of `write_particles`."""
    lower, upper = g.attrs["domain"]
    return ParticleGeometry(**{name: g[name][()] for name in PARTICLE_ARRAYS},
                            materials=tuple(json.loads(g.attrs["materials"])), domain=(lower, upper))


def read_particle_fields(f: h5py.File, description: DatasetDescription, sample: int,
                         names=None) -> dict[str, np.ndarray]:
    """The fields of one sample of a particle dataset: name -> (n_times, N[, dim[, dim]]) float32, in the
    order of `description.fields` (or of `names`, to read only those). Not flattened to channels, as the
    grid readers do, because a particle model treats "position" as geometry and the others as features."""
    g = _particle_group(f, sample)
    specs = {spec.name: spec for spec in description.fields}
    unknown = sorted(set(names or ()) - set(specs))
    if unknown:
        raise SurrolabError(f"the dataset has no field(s) {unknown}; it has {list(specs)}")
    return {name: g[_field_path(specs[name])][()] for name in (specs if names is None else names)}


def read_parameters(f: h5py.File, description: DatasetDescription, samples) -> np.ndarray:
    """(n_samples, n_parameters) float64, in the order of `description.parameters`."""
    samples = np.asarray(samples, dtype=np.int64)
    table = np.stack([f[f"parameters/{p.name}"][()] for p in description.parameters], axis=-1)
    return table[samples]


def read_split(f: h5py.File, name: str) -> np.ndarray:
    if f"splits/{name}" not in f:
        raise SurrolabError(f"dataset has no split {name!r}; it has {sorted(f.get('splits', {}))}")
    return f[f"splits/{name}"][()]


# -- checking ---------------------------------------------------------------------------------------
def validate(path: str | os.PathLike) -> list[str]:
    """Every way `path` fails the schema, as one-line messages (empty when valid)."""
    path = Path(path)
    if not path.is_file():
        return [f"no such file {str(path)!r}"]
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        return [f"not a readable HDF5 file ({str(err).split('(')[0].strip()})"]
    with f:
        version = f.attrs.get("schema_version")
        if version is None:
            return ["no schema_version attribute: not a surrolab dataset"]
        if str(version) not in READS_VERSIONS:
            return [f"schema_version {version!r} is not supported; this surrolab reads "
                    + ", ".join(repr(v) for v in READS_VERSIONS)]
        if not f.attrs.get("complete", False):
            return ["the file is incomplete (an interrupted write): generate it again to resume"]
        problems = []
        for key in ("geometry/nodes", "geometry/boundary_mask", "time", "samples/seed", "samples/wall_time",
                    "provenance", "fields", "parameters"):
            if key not in f:
                problems.append(f"missing /{key}")
        if problems:
            return problems
        n, nt = int(f.attrs["n_samples"]), int(f.attrs["n_times"])
        spatial = f["geometry/boundary_mask"].shape
        kind = str(f.attrs.get("geometry_type", "grid"))
        if f["time"].shape != (nt,):
            problems.append(f"/time has shape {f['time'].shape}, expected ({nt},)")
        elif nt > 1 and not np.all(np.diff(f["time"][()]) > 0):
            problems.append("/time is not strictly increasing")
        roles = []
        for group in ORDER_GROUPS:
            order = ORDER_GROUPS.index(group)
            for name, ds in f.get(f"fields/{group}", {}).items():
                expected = (n, nt, *spatial, *(len(spatial),) * order)
                if kind == "particles":  # the field's values live in /particles/<i>, checked there
                    if not isinstance(ds, h5py.Group):
                        problems.append(f"field {name!r}: a particle dataset has no grid fields; /fields/{group}/"
                                        f"{name} must be a group carrying the field's attributes")
                elif not isinstance(ds, h5py.Dataset) or ds.shape != expected:
                    problems.append(f"field {name!r} has shape {getattr(ds, 'shape', 'none (a group)')}, "
                                    f"expected {expected}")
                for attr in ("units", "sample_varying", "time_varying"):
                    if attr not in ds.attrs:
                        problems.append(f"field {name!r} lacks attribute {attr!r}")
                roles.append(str(ds.attrs.get("role", "state")))
                if roles[-1] not in ROLES:
                    problems.append(f"field {name!r} has role {roles[-1]!r}; allowed: {list(ROLES)}")
        steady = bool(f.attrs.get("steady", False))
        if steady and (nt != 1 or "input" not in roles or "output" not in roles or "state" in roles):
            problems.append(f"a steady dataset needs one frame (has {nt}) and fields of role 'input' and 'output' "
                            f"only (has {sorted(set(roles))})")
        elif not steady and set(roles) - {"state"}:
            problems.append(f"fields of role {sorted(set(roles) - {'state'})} in a dataset that is not steady")
        for name, ds in f["parameters"].items():
            if ds.shape != (n,):
                problems.append(f"parameter {name!r} has shape {ds.shape}, expected ({n},)")
        named = f["normalization/parameters"].attrs.get("names") if "normalization/parameters" in f else None
        if named is not None and sorted(map(str, named)) != sorted(f["parameters"]):
            problems.append(f"/normalization/parameters names {list(map(str, named))} are not the parameters "
                            f"{sorted(f['parameters'])}")
        for key in ("seed", "wall_time"):
            if f[f"samples/{key}"].shape != (n,):
                problems.append(f"/samples/{key} has shape {f[f'samples/{key}'].shape}, expected ({n},)")
        for name, ds in f.get("splits", {}).items():
            idx = ds[()]
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                problems.append(f"split {name!r} indexes outside [0, {n})")
        if kind not in GEOMETRY_TYPES:
            problems.append(f"geometry_type {kind!r} is not supported; allowed: {list(GEOMETRY_TYPES)}")
        elif kind == "mesh":
            problems += _mesh_problems(f, n, nt, spatial)
        elif kind == "particles":
            problems += _particle_problems(f, n, nt, len(spatial))
        return problems


def _mesh_problems(f: h5py.File, n: int, nt: int, spatial: tuple[int, ...]) -> list[str]:
    """The checks of the mesh part: one mesh per sample, cells and facets index its points, fields fit it."""
    if "mesh" not in f or "geometry/mask" not in f:
        return ["geometry_type is 'mesh' but /mesh or /geometry/mask is missing"]
    problems = []
    mask = f["geometry/mask"]
    if mask.shape != (n, *spatial) or mask.dtype != bool:
        problems.append(f"/geometry/mask is {mask.dtype} {mask.shape}, expected bool {(n, *spatial)}")
    missing = [i for i in range(n) if str(i) not in f["mesh"]]
    extra = sorted(set(f["mesh"]) - {str(i) for i in range(n)})
    if missing or extra:
        problems.append(f"/mesh must hold one group per sample, 0..{n - 1}: samples {missing[:5]} have none, "
                        f"groups {extra[:5]} are no sample")
    cell_type = str(f["mesh"].attrs.get("cell_type", ""))
    fields = [(f"fields/{group}/{name}", ORDER_GROUPS.index(group))
              for group in ORDER_GROUPS for name in f.get(f"fields/{group}", {})]
    for i in range(n):
        g = f.get(f"mesh/{i}")
        if g is None:
            continue  # reported above
        if "points" not in g or "cells" not in g:
            problems.append(f"/mesh/{i} lacks points or cells")
            continue
        facets = {name: ds[()] for name, ds in g.get("boundaries", {}).items()}
        problems += [f"/mesh/{i}: {p}" for p in mesh_problems(g["points"].shape, g["cells"][()], facets, cell_type)]
        for path, order in fields:
            expected = (nt, g["points"].shape[0], *(len(spatial),) * order)
            if path not in g:
                problems.append(f"/mesh/{i} lacks {path}")
            elif g[path].shape != expected:
                problems.append(f"/mesh/{i}/{path} has shape {g[path].shape}, expected {expected}")
    return problems


def _particle_problems(f: h5py.File, n: int, nt: int, dim: int) -> list[str]:
    """The checks of the particle part: one particle set per sample, its arrays consistent (material ids
    name a material, masses and volumes finite and positive, particle indices distinct), fields fit it.
    Reads every sample's per-particle arrays and attributes, not its fields: small next to the fields."""
    if "particles" not in f:
        return ["geometry_type is 'particles' but /particles is missing"]
    if f.get(f"fields/t1_fields/{POSITION}") is None:
        return [f"a particle dataset needs the vector field {POSITION!r} (/fields/t1_fields/{POSITION})"]
    problems = []
    groups = {key for key, obj in f["particles"].items() if isinstance(obj, h5py.Group)}
    missing = [i for i in range(n) if str(i) not in groups]
    extra = sorted(groups - {str(i) for i in range(n)})
    if missing or extra:
        problems.append(f"/particles must hold one group per sample, 0..{n - 1}: samples {missing[:5]} have none, "
                        f"groups {extra[:5]} are no sample")
    fields = [(f"fields/{group}/{name}", ORDER_GROUPS.index(group))
              for group in ORDER_GROUPS for name in f.get(f"fields/{group}", {})]
    counts = []
    for i in range(n):
        g = f.get(f"particles/{i}")
        if not isinstance(g, h5py.Group):
            continue  # reported above
        where = f"/particles/{i}"
        lacking = [name for name in PARTICLE_ARRAYS if name not in g]
        if lacking:
            problems.append(f"{where} lacks {lacking}")
            continue
        arrays = {name: g[name][()] for name in PARTICLE_ARRAYS}
        count = arrays["material_id"].shape[0] if arrays["material_id"].ndim == 1 else 0
        if count < 1:
            problems.append(f"{where}/material_id has shape {arrays['material_id'].shape}: no particles")
            continue
        wrong = {name: arr.shape for name, arr in arrays.items() if arr.shape != (count,)}
        if wrong:
            problems += [f"{where}/{name} has shape {shape}, expected one value per particle ({count},)"
                         for name, shape in wrong.items()]
            continue
        counts.append(count)
        materials = _materials(g)
        if materials is None:
            problems.append(f"{where} lacks the attribute 'materials', a JSON list of objects with a 'law'")
        ids = arrays["material_id"]
        if not np.issubdtype(ids.dtype, np.integer):
            problems.append(f"{where}/material_id is {ids.dtype}, expected integers")
        elif materials is not None and (ids.min() < 0 or ids.max() >= len(materials)):
            problems.append(f"{where}/material_id lies outside [0, {len(materials)}) (one id per material)")
        for name in ("mass", "volume"):
            if not np.all(np.isfinite(arrays[name]) & (arrays[name] > 0)):
                problems.append(f"{where}/{name} has non-finite or non-positive values")
        index = arrays["particle_index"]
        if not np.issubdtype(index.dtype, np.integer) or index.min() < 0 or len(np.unique(index)) != count:
            problems.append(f"{where}/particle_index must hold distinct non-negative integers")
        domain = np.asarray(g.attrs.get("domain", np.zeros(0)))
        if domain.shape != (2, dim) or not np.all(np.isfinite(domain)) or not np.all(domain[0] < domain[1]):
            problems.append(f"{where} attribute 'domain' is {domain.tolist()}, expected (2, {dim}): "
                            "the box's lower and upper corners, lower < upper")
        for path, order in fields:
            expected = (nt, count, *(dim,) * order)
            if path not in g:
                problems.append(f"{where} lacks {path}")
            elif g[path].shape != expected:
                problems.append(f"{where}/{path} has shape {g[path].shape}, expected {expected}")
    vertices = f["particles"].get("vertices")
    largest = max(counts, default=0)  # of the samples whose arrays are consistent
    if not isinstance(vertices, h5py.Dataset) or vertices.ndim != 1 or len(vertices) < largest \
            or not np.array_equal(vertices[()], np.arange(len(vertices))):
        problems.append(f"/particles/vertices must be 0, 1, ..., at least {largest} entries "
                        "(the XDMF sidecar's Polyvertex connectivity)")
    return problems


def _materials(g: h5py.Group) -> list[dict] | None:
    """The `materials` attribute of a particle group, or None where it is missing or malformed."""
    try:
        materials = json.loads(g.attrs["materials"])
    except (KeyError, TypeError, ValueError):
        return None
    ok = isinstance(materials, list) and all(isinstance(m, dict) and "law" in m for m in materials)
    return materials if ok else None


def channels_to_fields(description: DatasetDescription, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of the channel layout of `read_fields`: (..., C, *spatial) -> field name -> (..., *spatial[, dim..])."""
    nd = description.spatial_dim
    out, start = {}, 0
    for spec in description.fields:
        n = nd ** spec.order
        block = np.take(frames, range(start, start + n), axis=frames.ndim - nd - 1)
        block = np.moveaxis(block, frames.ndim - nd - 1, -1)  # components last
        out[spec.name] = block[..., 0] if spec.order == 0 else block.reshape(*block.shape[:-1], *(nd,) * spec.order)
        start += n
    return out
