"""2D flow geometries meshed with gmsh, with named boundaries, as dolfinx meshes.

Each builder describes one geometry with gmsh's OpenCASCADE kernel and names its boundaries as physical
groups; `_to_dolfinx` meshes it and returns a `MeshedDomain` whose `boundaries` map each name to its
facet tag. Mesh size is a parameter (`h`, the largest edge length) and each geometry refines where its
flow needs it (around a cylinder, at a step's corner, towards a cavity's lid corners) through gmsh's
distance-threshold size fields.

Every builder takes a `comm` (default `MPI.COMM_SELF`: the whole mesh on this process). With a communicator
of several ranks only its rank 0 describes and meshes the geometry in gmsh, and dolfinx distributes the
cells over the ranks (`dolfinx.io.gmsh.model_to_mesh`, its default graph partitioner).

The geometries are those of the benchmarks we validate against and of CFDBench's four problems
(Luo et al., 2023): the DFG cylinder channel (Schäfer & Turek, 1996), a channel (tube), a channel with a
barrier on its floor (dam), the backward-facing step, and the lid-driven cavity.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import dolfinx.io.gmsh
import gmsh
import numpy as np
from mpi4py import MPI

from surrolab.errors import SurrolabError, check_range
from surrolab.solvers.trajectory import MeshGeometry


@dataclass
class MeshedDomain:
    """A dolfinx mesh with its boundaries: `boundaries[name]` is the tag of those facets in `facet_tags`."""

    mesh: dolfinx.mesh.Mesh
    facet_tags: dolfinx.mesh.MeshTags
    boundaries: dict[str, int]
    bounding_box: tuple[tuple[float, float], tuple[float, float]]  # ((x0, x1), (y0, y1))
    parameters: dict[str, float] = field(default_factory=dict)

    def facets(self, name: str) -> np.ndarray:
        if name not in self.boundaries:
            raise SurrolabError(f"no boundary {name!r}; this domain has {sorted(self.boundaries)}")
        return self.facet_tags.find(self.boundaries[name])

    def mesh_geometry(self) -> MeshGeometry:
        """The mesh as a dataset stores it: vertices, triangles and each named boundary's facets, all in
        the numbering of the mesh's geometry nodes (`mesh.geometry.x`). For a mesh on one process."""
        mesh = self.mesh
        boundaries = {name: dolfinx.mesh.entities_to_geometry(mesh, mesh.topology.dim - 1, self.facets(name))
                      for name in self.boundaries}
        return MeshGeometry(points=mesh.geometry.x[:, : mesh.geometry.dim], cells=mesh.geometry.dofmaps[0],
                            boundaries=boundaries, cell_type=mesh.topology.cell_name())

    def vertex_values(self, u: dolfinx.fem.Function) -> np.ndarray:
        """A Lagrange function's values at the vertices, in the order of `mesh_geometry().points`:
        (N,) for a scalar, (N, dim) for a vector. A P2 function is evaluated at the vertices (its nodal
        values there), which is how the dataset stores it. Collapse a sub-function of a mixed space first."""
        shape = u.function_space.value_shape
        p1 = dolfinx.fem.Function(dolfinx.fem.functionspace(self.mesh, ("Lagrange", 1, shape)))
        p1.interpolate(u)
        dofs = p1.x.array.reshape(-1, int(np.prod(shape, dtype=int)))
        values = np.empty((len(self.mesh.geometry.x), dofs.shape[1]))
        # P1 dofs and geometry nodes both sit at the cell's vertices in the same reference order
        values[self.mesh.geometry.dofmaps[0]] = dofs[p1.function_space.dofmap.list]
        return values.reshape(-1, *shape)


@contextlib.contextmanager
def _gmsh_session() -> Iterator[None]:
    gmsh.initialize(interruptible=False)  # no signal handler: we may not be in the main thread
    gmsh.option.setNumber("General.Terminal", 0)
    try:
        yield
    finally:
        gmsh.finalize()


def _refine_near(curves: list[int], h_min: float, h_max: float, distance: float) -> None:
    """Edges of length h_min on `curves`, growing linearly to h_max at `distance` from them."""
    dist = gmsh.model.mesh.field.add("Distance")
    gmsh.model.mesh.field.setNumbers(dist, "CurvesList", curves)
    gmsh.model.mesh.field.setNumber(dist, "Sampling", 200)
    threshold = gmsh.model.mesh.field.add("Threshold")
    gmsh.model.mesh.field.setNumber(threshold, "InField", dist)
    gmsh.model.mesh.field.setNumber(threshold, "SizeMin", h_min)
    gmsh.model.mesh.field.setNumber(threshold, "SizeMax", h_max)
    gmsh.model.mesh.field.setNumber(threshold, "DistMin", 0.0)
    gmsh.model.mesh.field.setNumber(threshold, "DistMax", distance)
    gmsh.model.mesh.field.setAsBackgroundMesh(threshold)


def _classify(surface: int, rules: dict[str, Callable[[np.ndarray], bool]]) -> dict[str, list[int]]:
    """Sort the boundary curves of `surface` into named groups by their centre of mass."""
    groups: dict[str, list[int]] = {name: [] for name in rules}
    for _, curve in gmsh.model.getBoundary([(2, surface)], oriented=False):
        centre = np.array(gmsh.model.occ.getCenterOfMass(1, curve))[:2]
        name = next((n for n, rule in rules.items() if rule(centre)), None)
        if name is None:
            raise RuntimeError(f"boundary curve at {centre} matches no rule")  # a bug in a builder
        groups[name].append(curve)
    return groups


Model = tuple[int, dict[str, list[int]], tuple[list[int], float, float] | None]
"""What a builder's gmsh description returns: the fluid surface, its boundary curves by name, and an optional
refinement (curves, h_min, distance) for `_refine_near`."""


def _mesh_model(surface: int, groups: dict[str, list[int]], refine: tuple[list[int], float, float] | None,
                h: float) -> tuple[dict[str, int], tuple]:
    """Name the groups, mesh the gmsh model; -> (boundary name -> tag, ((x0, x1), (y0, y1)))."""
    gmsh.model.addPhysicalGroup(2, [surface], tag=1, name="fluid")
    boundaries = {}
    for tag, (name, curves) in enumerate(groups.items(), start=1):
        if curves:
            gmsh.model.addPhysicalGroup(1, curves, tag=tag, name=name)
            boundaries[name] = tag
    gmsh.option.setNumber("Mesh.CharacteristicLengthMax", h)
    if refine is not None:
        curves, h_min, distance = refine
        _refine_near(curves, h_min, h, distance)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.model.mesh.generate(2)
    xmin, ymin, _, xmax, ymax, _ = gmsh.model.getBoundingBox(2, surface)
    return boundaries, ((xmin, xmax), (ymin, ymax))


def _to_dolfinx(describe: Callable[[], Model], h: float, comm: MPI.Comm, parameters: dict) -> MeshedDomain:
    """Describe (`describe()`, gmsh calls) and mesh the geometry on rank 0 of `comm` only, then let dolfinx
    distribute the mesh over `comm`; every rank gets the boundary names and the bounding box."""
    on_root = comm.Get_rank() == 0
    with _gmsh_session() if on_root else contextlib.nullcontext():
        summary = None
        if on_root:
            try:
                summary = _mesh_model(*describe(), h)
            except BaseException:
                comm.bcast(None, root=0)  # the other ranks stop too, instead of waiting for a mesh
                raise
        summary = comm.bcast(summary, root=0)
        if summary is None:
            raise SurrolabError("meshing failed on rank 0 (its error is reported there)")
        data = dolfinx.io.gmsh.model_to_mesh(gmsh.model if on_root else None, comm, 0, gdim=2)
    boundaries, bounding_box = summary
    return MeshedDomain(mesh=data.mesh, facet_tags=data.facet_tags, boundaries=boundaries,
                        bounding_box=bounding_box, parameters=parameters)


def _near(value: float, tol: float = 1e-9) -> Callable[[float], bool]:
    return lambda x: abs(x - value) < tol


# -- geometries -------------------------------------------------------------------------------------
def cavity(width: float = 1.0, height: float = 1.0, h: float = 0.05, comm: MPI.Comm = MPI.COMM_SELF) -> MeshedDomain:
    """The lid-driven cavity [0, width] x [0, height]; boundaries `lid` (top) and `walls`; refined
    towards the lid's corners, where the velocity is discontinuous."""
    check_range("width", width, 1e-3, 1e3)
    check_range("height", height, 1e-3, 1e3)
    check_range("h", h, 1e-4, 0.5 * min(width, height))

    def describe() -> Model:
        surface = gmsh.model.occ.addRectangle(0, 0, 0, width, height)
        gmsh.model.occ.synchronize()
        groups = _classify(surface, {"lid": lambda c: _near(height)(c[1]), "walls": lambda c: True})
        corners = [gmsh.model.occ.addPoint(0, height, 0), gmsh.model.occ.addPoint(width, height, 0)]
        gmsh.model.occ.synchronize()
        dist = gmsh.model.mesh.field.add("Distance")
        gmsh.model.mesh.field.setNumbers(dist, "PointsList", corners)
        threshold = gmsh.model.mesh.field.add("Threshold")
        for key, value in (("InField", dist), ("SizeMin", h / 3), ("SizeMax", h), ("DistMin", 0.0),
                           ("DistMax", 0.25 * min(width, height))):
            gmsh.model.mesh.field.setNumber(threshold, key, value)
        gmsh.model.mesh.field.setAsBackgroundMesh(threshold)
        return surface, groups, None

    return _to_dolfinx(describe, h, comm, {"width": width, "height": height, "h": h})


def box(width: float = 1.0, height: float = 1.0, h: float = 0.05, comm: MPI.Comm = MPI.COMM_SELF) -> MeshedDomain:
    """The closed box [0, width] x [0, height] with one boundary, `walls`, and a uniform mesh size h (the
    buoyancy-driven `smoke` flow, whose plumes may rise anywhere)."""
    check_range("width", width, 1e-3, 1e3)
    check_range("height", height, 1e-3, 1e3)
    check_range("h", h, 1e-4, 0.5 * min(width, height))

    def describe() -> Model:
        surface = gmsh.model.occ.addRectangle(0, 0, 0, width, height)
        gmsh.model.occ.synchronize()
        return surface, _classify(surface, {"walls": lambda c: True}), None

    return _to_dolfinx(describe, h, comm, {"width": width, "height": height, "h": h})


def channel(length: float = 2.0, height: float = 0.5, h: float = 0.05, comm: MPI.Comm = MPI.COMM_SELF) -> MeshedDomain:
    """A straight channel (CFDBench's tube): `inlet` (x = 0), `outlet` (x = length), `walls`."""
    check_range("length", length, 1e-3, 1e3)
    check_range("height", height, 1e-3, 1e3)
    check_range("h", h, 1e-4, 0.5 * height)

    def describe() -> Model:
        surface = gmsh.model.occ.addRectangle(0, 0, 0, length, height)
        gmsh.model.occ.synchronize()
        groups = _classify(surface, {"inlet": lambda c: _near(0.0)(c[0]), "outlet": lambda c: _near(length)(c[0]),
                                     "walls": lambda c: True})
        return surface, groups, None

    return _to_dolfinx(describe, h, comm, {"length": length, "height": height, "h": h})


def cylinder_channel(length: float = 2.2, height: float = 0.41, center: tuple[float, float] = (0.2, 0.2),
                     radius: float = 0.05, h: float = 0.04, h_cylinder: float | None = None,
                     comm: MPI.Comm = MPI.COMM_SELF) -> MeshedDomain:
    """Channel with a circular cylinder; the defaults are the DFG benchmark's (Schäfer & Turek, 1996:
    2.2 x 0.41, cylinder of diameter 0.1 centred at (0.2, 0.2)). Boundaries `inlet`, `outlet`, `walls`,
    `cylinder`; refined to `h_cylinder` (default h/5) on the cylinder, growing over a few diameters."""
    cx, cy = center
    check_range("radius", radius, 1e-4, 0.45 * height)
    check_range("center_x", cx, radius * 1.01, length - radius * 1.01)
    check_range("center_y", cy, radius * 1.01, height - radius * 1.01)
    check_range("h", h, 1e-4, 0.5 * height)
    h_cylinder = h / 5 if h_cylinder is None else check_range("h_cylinder", h_cylinder, 1e-5, h)

    def describe() -> Model:
        box = gmsh.model.occ.addRectangle(0, 0, 0, length, height)
        disk = gmsh.model.occ.addDisk(cx, cy, 0, radius, radius)
        (surface_dimtag, *_), _ = gmsh.model.occ.cut([(2, box)], [(2, disk)])
        gmsh.model.occ.synchronize()
        surface = surface_dimtag[1]
        groups = _classify(surface, {
            "inlet": lambda c: _near(0.0)(c[0]), "outlet": lambda c: _near(length)(c[0]),
            "walls": lambda c: _near(0.0)(c[1]) or _near(height)(c[1]), "cylinder": lambda c: True})
        return surface, groups, (groups["cylinder"], h_cylinder, 4 * radius)

    return _to_dolfinx(describe, h, comm, {"length": length, "height": height, "center_x": cx, "center_y": cy,
                                           "radius": radius, "h": h, "h_cylinder": h_cylinder})


def step_channel(length: float = 3.0, height: float = 0.5, step_x: float = 0.5, step_width: float = 0.1,
                 step_height: float = 0.2, h: float = 0.04, comm: MPI.Comm = MPI.COMM_SELF) -> MeshedDomain:
    """Channel with a rectangular barrier on its floor (CFDBench's dam); boundaries `inlet`, `outlet`,
    `walls` (floor, ceiling) and `barrier`; refined around the barrier. A barrier that starts at x = 0 and
    runs to the inlet makes the backward-facing step."""
    check_range("height", height, 1e-3, 1e3)
    check_range("step_height", step_height, 1e-4, 0.9 * height)
    check_range("step_x", step_x, 0.0, length)
    check_range("step_width", step_width, 1e-4, length - step_x)
    check_range("h", h, 1e-4, 0.5 * height)

    def describe() -> Model:
        box = gmsh.model.occ.addRectangle(0, 0, 0, length, height)
        block = gmsh.model.occ.addRectangle(step_x, 0, 0, step_width, step_height)
        (surface_dimtag, *_), _ = gmsh.model.occ.cut([(2, box)], [(2, block)])
        gmsh.model.occ.synchronize()
        surface = surface_dimtag[1]
        groups = _classify(surface, {
            "inlet": lambda c: _near(0.0)(c[0]),  # with step_x = 0 only the part above the step is fluid
            "outlet": lambda c: _near(length)(c[0]),
            "walls": lambda c: _near(height)(c[1]) or _near(0.0)(c[1]),  # the floor up- and downstream
            "barrier": lambda c: True})
        return surface, groups, (groups["barrier"], h / 3, 3 * step_height)

    return _to_dolfinx(describe, h, comm, {"length": length, "height": height, "step_x": step_x,
                                           "step_width": step_width, "step_height": step_height, "h": h})


def backward_facing_step(length: float = 3.0, height: float = 0.5, step_height: float = 0.25,
                         inlet_length: float = 0.5, h: float = 0.04, comm: MPI.Comm = MPI.COMM_SELF) -> MeshedDomain:
    """The backward-facing step: an inlet channel of height `height - step_height` and length `inlet_length`
    that opens into the full channel; the step's faces are the boundary `barrier`."""
    return step_channel(length=length, height=height, step_x=0.0, step_width=inlet_length,
                        step_height=step_height, h=h, comm=comm)


def plate_with_holes(holes: tuple[tuple[float, float, float], ...], width: float = 1.0, height: float = 1.0,
                     h: float = 0.05, comm: MPI.Comm = MPI.COMM_SELF) -> MeshedDomain:
    """The plate [0, width] x [0, height] with circular holes (x, y, r) (the `poisson` family's domains);
    boundaries `outer` (the plate's sides) and `holes`; the holes' rims are meshed at h/2."""
    check_range("width", width, 1e-3, 1e3)
    check_range("height", height, 1e-3, 1e3)
    check_range("h", h, 1e-4, 0.5 * min(width, height))
    for i, (x, y, r) in enumerate(holes):
        check_range(f"hole {i} radius", r, 1e-3, 0.5 * min(width, height))
        check_range(f"hole {i} x", x, r + h, width - r - h)
        check_range(f"hole {i} y", y, r + h, height - r - h)
        for j, (x2, y2, r2) in enumerate(holes[:i]):
            if np.hypot(x - x2, y - y2) < r + r2 + h:
                raise SurrolabError(f"holes {j} and {i} are closer than one mesh size h={h}: they must not touch")

    def describe() -> Model:
        plate = gmsh.model.occ.addRectangle(0, 0, 0, width, height)
        surface = plate
        if holes:
            disks = [(2, gmsh.model.occ.addDisk(x, y, 0, r, r)) for x, y, r in holes]
            (surface_dimtag, *_), _ = gmsh.model.occ.cut([(2, plate)], disks)
            surface = surface_dimtag[1]
        gmsh.model.occ.synchronize()
        on_side = lambda c: min(abs(c[0]), abs(c[0] - width), abs(c[1]), abs(c[1] - height)) < 1e-9  # noqa: E731
        groups = _classify(surface, {"outer": on_side, "holes": lambda c: True})
        return surface, groups, (groups["holes"], h / 2, 4 * h) if holes else None

    return _to_dolfinx(describe, h, comm, {"width": width, "height": height, "h": h,
                                           **{f"hole_{i}_{k}": v for i, hole in enumerate(holes)
                                              for k, v in zip("xyr", hole)}})
