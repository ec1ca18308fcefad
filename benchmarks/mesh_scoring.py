"""Scoring on the mesh: a mesh dataset's surrogates and solver runs judged at each test sample's own mesh vertices,
by the finite-element norm. The harness (`harness.py`) uses it for every mesh dataset; `scoring.py` is its grid
counterpart, with the same `RolloutErrors` and `Scores`.

Why on the mesh. The flow families are solved on per-sample gmsh meshes, refined at the cylinder and the barrier;
the dataset's grid is an interpolation of them that blurs the boundary layer and cuts every obstacle to grid
cells. Scoring there would judge a mesh-native model (MeshGraphNets) off its own points and hide what the grid
costs a grid model. Here every prediction is brought to the vertices of the sample's mesh, where the truth is the
solver's own vertex values, and judged there by one norm.

The norm: the lumped-mass FE L2 norm ||v||² = Σ_i m_i |v_i|², m_i = ∫ φ_i (`MeshGeometry.lumped_mass`), so a
refined region counts by its area, not by its number of vertices (the plain vector norm would weigh the cylinder's
boundary layer, meshed at h/5, 25 times per unit area more than the far field). Relative L2 per field over all its
components, per trajectory over the frames and components together (space-time) and per frame; means over the
trajectories; the headline is the mean over the fields, as on the grid.

What is brought to the vertices, and how:
- a grid model's rollout (0 outside the fluid on the grid): `interpolate.grid_to_points`, bilinear in whole grid
  cells and a moving-least-squares linear fit over the inside nodes where a wall or the obstacle cuts the cell, so
  the zeros inside an obstacle never leak in and linear fields are read exactly up to the wall. What the grid still
  costs is measured on the truth itself: `grid_round_trip`, the stored grid fields read back at the vertices the
  same way, is the error a perfect grid prediction would have (what a grid model trained on the grid aims at);
- a solver run on the sample's own mesh: its vertex values; on a coarsened mesh: P1 interpolation in the coarse
  mesh's own cells (`interpolate.mesh_to_points`);
- a mesh model (MeshGraphNets): its rollout on the sample's graph, nothing to interpolate.

Physics checks, each on the prediction beside the stored truth, with the same formula:
- divergence: ||∇·u_h|| / ||∇u_h||, L2 over the triangles of the P1 interpolant of the vertex velocity (one
  gradient per triangle), RMS over the frames, mean over the trajectories. The solver's P2 velocity read as P1 is
  not exactly solenoidal: the truth's value is this check's floor.
- forces on an obstacle (`cylinder`, `barrier`): F = −∫_S σn ds, σ = −pI + μ∇u (the solver's stress), n out of
  the fluid, from the P1 fields: p linear along each boundary edge, ∇u constant in the edge's triangle. First order,
  against the solver's second-order reaction form (`flow_quantities.BoundaryForces`), which needs the P2 solution the
  dataset does not store; applied identically to truth and prediction, so the comparison is like for like. As
  coefficients c = F / (½ρŪ²D) where the problem defines the scale (`force_scale`), else in N/m.
- the error in a band around the obstacle (the vertices within one obstacle diameter of its surface) beside the
  error over the whole domain: where the grid's blur is worst.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from surrolab.benchmarks.metrics import RELATIVE_EPS, VRMSE_EPS
from surrolab.benchmarks.scoring import RolloutErrors, Scores, field_channels, fields_to_channels
from surrolab.datasets import schema
from surrolab.datasets.interpolate import grid_to_points, mesh_to_points
from surrolab.solvers.trajectory import MeshGeometry, Trajectory

OBSTACLES = ("cylinder", "barrier")  # boundary names of bodies in the flow (`mesh_graph.BOUNDARY_TYPES`)


@dataclass(frozen=True)
class MeshSamples:
    """The test samples on their meshes: `truth[i]` (T, C, N_i) float64 in the channel order of `read_fields`."""

    meshes: list[MeshGeometry]
    truth: list[np.ndarray]

    @property
    def mass(self) -> list[np.ndarray]:
        return [m.lumped_mass() for m in self.meshes]


def read_mesh_samples(f, description, samples) -> MeshSamples:
    return MeshSamples(meshes=[schema.read_mesh(f, int(i)) for i in samples],
                       truth=[schema.read_mesh_fields(f, description, int(i)).astype(np.float64) for i in samples])


# -- errors ---------------------------------------------------------------------------------------------
def relative_errors(pred: list[np.ndarray], truth: list[np.ndarray], mass: list[np.ndarray],
                    fields: dict[str, slice]) -> RolloutErrors:
    """Lumped-mass relative L2 of per-sample frames (T, C, N_i) against the truth (module docstring); a vertex
    with mass 0 does not count (the band restricts the mass)."""
    per_field, curves = {}, []
    for name, channels in fields.items():
        totals, curve = [], []
        for p, t, m in zip(pred, truth, mass):
            error = ((p[:, channels] - t[:, channels]) ** 2).sum(axis=1) @ m  # (T,)
            norm = (t[:, channels] ** 2).sum(axis=1) @ m
            totals.append(np.sqrt(error.sum()) / max(np.sqrt(norm.sum()), RELATIVE_EPS))
            curve.append(np.sqrt(error) / np.maximum(np.sqrt(norm), RELATIVE_EPS))
        per_field[name] = float(np.mean(totals))
        curves.append(np.mean(curve, axis=0))
    curve = np.mean(curves, axis=0)
    return RolloutErrors(total=float(np.mean(list(per_field.values()))), curve=[float(c) for c in curve],
                         per_field=per_field)


def frame_metrics(p: np.ndarray, t: np.ndarray, m: np.ndarray, boundary: np.ndarray) -> dict[str, np.ndarray]:
    """The harness's metrics of one field (T, k, N) per frame, on the mesh: relative L2 (= nRMSE) and RMSE with
    the lumped mass (RMSE the area mean), the maximum over the vertices, The Well's VRMSE (area-weighted
    variance of the truth), and the RMSE over the boundary vertices (`boundary` (N,) bool, a plain mean)."""
    e2, t2 = ((p - t) ** 2).sum(axis=1), (t**2).sum(axis=1)  # (T, N)
    area = m.sum()
    mean = (t * m).sum(axis=-1, keepdims=True) / area  # (T, k, 1)
    variance = (((t - mean) ** 2).sum(axis=1) @ m) / area
    rel = np.sqrt(e2 @ m) / np.maximum(np.sqrt(t2 @ m), RELATIVE_EPS)
    return {"relative_l2": rel, "nrmse": rel, "rmse": np.sqrt(e2 @ m / area), "max_error": np.sqrt(e2.max(axis=1)),
            "vrmse": np.sqrt((e2 @ m / area) / (variance + VRMSE_EPS)),
            "boundary_rmse": np.sqrt(e2[:, boundary].mean(axis=1))}


def boundary_vertices(mesh: MeshGeometry) -> np.ndarray:
    """(N,) bool: the vertices on any named boundary (the domain's edge, obstacles included)."""
    out = np.zeros(mesh.n_points, dtype=bool)
    for facets in mesh.boundaries.values():
        out[np.unique(facets)] = True
    return out


# -- physics checks --------------------------------------------------------------------------------------
def p1_gradients(mesh: MeshGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(area (M,), ∇λ_k (M, 3, 2)): each triangle's area and the gradients of its barycentric coordinates."""
    corners = mesh.points[mesh.cells]
    jacobian = np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]], axis=-1)  # columns
    inverse = np.linalg.inv(jacobian)  # rows: ∇λ_1, ∇λ_2
    grads = np.concatenate([-inverse.sum(axis=1, keepdims=True), inverse], axis=1)
    return 0.5 * np.abs(np.linalg.det(jacobian)), grads


def velocity_gradient(frames: np.ndarray, mesh: MeshGeometry, velocity: slice) -> np.ndarray:
    """(T, M, d, d): ∂u_c/∂x_k of the P1 interpolant in each triangle, from frames (T, C, N)."""
    _, grads = p1_gradients(mesh)
    return np.einsum("tcmk,mkd->tmcd", frames[:, velocity][:, :, mesh.cells], grads)


def relative_divergence(frames: np.ndarray, mesh: MeshGeometry, velocity: slice) -> float:
    """||∇·u_h|| / ||∇u_h||, L2 over the triangles, RMS over the frames (module docstring)."""
    area, _ = p1_gradients(mesh)
    grad = velocity_gradient(frames, mesh, velocity)
    div2 = np.einsum("tmcc->tm", grad) ** 2 @ area
    grad2 = (grad**2).sum(axis=(2, 3)) @ area
    return float(np.sqrt(div2.mean()) / max(np.sqrt(grad2.mean()), 1e-30))


@dataclass(frozen=True)
class BoundaryEdges:
    """The edges of one named boundary with the triangle each belongs to, the unit normal out of the fluid
    (into the body) and the length."""

    vertices: np.ndarray  # (F, 2)
    cell: np.ndarray  # (F,)
    normal: np.ndarray  # (F, 2)
    length: np.ndarray  # (F,)


def boundary_edges(mesh: MeshGeometry, name: str) -> BoundaryEdges:
    edges = np.sort(mesh.boundaries[name], axis=1)
    local = np.concatenate([np.sort(mesh.cells[:, [a, b]], axis=1) for a, b in ((0, 1), (1, 2), (0, 2))])
    owner = np.tile(np.arange(len(mesh.cells)), 3)
    lookup = {tuple(e): c for e, c in zip(local.tolist(), owner.tolist())}
    cell = np.array([lookup[tuple(e)] for e in edges.tolist()])
    a, b = mesh.points[edges[:, 0]], mesh.points[edges[:, 1]]
    tangent = b - a
    length = np.linalg.norm(tangent, axis=1)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1) / length[:, None]
    inward = mesh.points[mesh.cells[cell]].mean(axis=1) - a  # towards the triangle: into the fluid
    normal *= -np.sign(np.sum(normal * inward, axis=1))[:, None]
    return BoundaryEdges(vertices=edges, cell=cell, normal=normal, length=length)


def boundary_forces(frames: np.ndarray, mesh: MeshGeometry, edges: BoundaryEdges, velocity: slice, pressure: int,
                    viscosity: float) -> np.ndarray:
    """(T, 2) F = −∫_S σn ds = ∫_S (p n − μ ∇u n) ds from P1 frames (T, C, N) (module docstring)."""
    grad = velocity_gradient(frames, mesh, velocity)[:, edges.cell]  # (T, F, 2, 2)
    p = frames[:, pressure][:, edges.vertices].mean(axis=-1)  # (T, F): exact for p linear on the edge
    traction = p[..., None] * edges.normal - viscosity * np.einsum("tfcd,fd->tfc", grad, edges.normal)
    return np.einsum("tfc,f->tc", traction, edges.length)


def obstacle_band(mesh: MeshGeometry, name: str) -> np.ndarray:
    """(N,) bool: the vertices within one obstacle diameter (its nodes' largest extent) of its surface."""
    surface = mesh.points[np.unique(mesh.boundaries[name])]
    diameter = float(np.max(np.ptp(surface, axis=0)))
    distance, _ = cKDTree(surface).query(mesh.points)
    return distance <= diameter


def integral_drift(frames: np.ndarray, mass: np.ndarray) -> float:
    """max_t |Q(t) − Q(0)| / max(|Q(0)|, RMS(f(0))·|Ω|), Q = Σ m_i f_i (exact for a P1 field): the grid's
    `metrics.integral_drift` on the mesh. frames (T, N)."""
    q = frames @ mass
    scale = max(abs(q[0]), np.sqrt((frames[0] ** 2) @ mass / mass.sum()) * mass.sum(), RELATIVE_EPS)
    return float(np.max(np.abs(q - q[0])) / scale)


# -- the scoring space ---------------------------------------------------------------------------------
class MeshScoring:
    """Everything the harness asks of a scoring space, on the test samples' meshes (module docstring).

    Frames are per-sample lists of (T', C, N_i) aligned with the truth's frames `start:`."""

    scored_on = "mesh"

    def __init__(self, description, samples: MeshSamples, inside: np.ndarray, params: np.ndarray,
                 force_scale=None):
        self.description, self.samples, self.inside = description, samples, inside
        self.fields = field_channels(description)
        self.mass = samples.mass
        self.boundary = [boundary_vertices(m) for m in samples.meshes]
        names = list(description.parameter_names)
        self.parameters = [dict(zip(names, map(float, p))) for p in params]
        self.force_scale = force_scale  # params -> ½ρŪ²D, or None (forces in N/m)
        self.obstacle = next((name for name in OBSTACLES if all(name in m.boundaries for m in samples.meshes)), None)
        # per mesh, built once: the obstacle's edges (forces) and the lumped mass restricted to the band round it
        self.edges = [boundary_edges(m, self.obstacle) for m in samples.meshes] if self.obstacle else None
        self.band_mass = ([m * obstacle_band(mesh, self.obstacle) for m, mesh in zip(self.mass, samples.meshes)]
                          if self.obstacle else None)
        self._from_grid = [grid_to_points(description.geometry.axes, mask, m.points)
                           for mask, m in zip(inside, samples.meshes)]

    def truth(self, start: int) -> list[np.ndarray]:
        return [t[start:] for t in self.samples.truth]

    def solver_frames(self, trajectory: Trajectory, i: int) -> np.ndarray:
        frames = fields_to_channels(self.description, trajectory.fields, n_spatial=1)  # (T, C, N)
        mesh, target = trajectory.geometry, self.samples.meshes[i]
        if mesh.points.shape == target.points.shape and np.allclose(mesh.points, target.points):
            return frames
        return mesh_to_points(mesh, target.points)(frames, node_axis=-1)

    def from_grid(self, frames: np.ndarray) -> list[np.ndarray]:
        """(N, T', C, *spatial) on the dataset grid -> per-sample (T', C, N_i) at the vertices."""
        return [to_points(x.reshape(*x.shape[:2], -1), node_axis=-1) for x, to_points in zip(frames, self._from_grid)]

    def errors(self, frames: list[np.ndarray], start: int) -> RolloutErrors:
        return relative_errors(frames, self.truth(start), self.mass, self.fields)

    def grid_round_trip(self, grid_truth: np.ndarray, start: int) -> dict:
        """The stored grid fields read at the vertices as a grid model's are: a perfect grid prediction (its
        errors, and the drag and lift that a perfect grid prediction would give)."""
        frames = self.from_grid(grid_truth[:, start:])
        return {**self._band_report(frames, start, self.errors(frames, start)),
                "forces": self.forces(frames, self.truth(start))}

    def drift(self, frames: list[np.ndarray], name: str) -> float:
        channel = list(self.description.channel_names).index(name)
        return float(np.mean([integral_drift(x[:, channel], m) for x, m in zip(frames, self.mass)]))

    def scores(self, frames: list[np.ndarray], start: int) -> Scores:
        truth = self.truth(start)
        per_field = {}
        for name, channels in self.fields.items():
            values = [frame_metrics(p[:, channels], t[:, channels], m, b)
                      for p, t, m, b in zip(frames, truth, self.mass, self.boundary)]
            per_field[name] = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
        names = next(iter(per_field.values()))
        metrics = {k: float(np.mean([m[k] for m in per_field.values()])) for k in names}
        divergence = None
        if "velocity" in self.fields and self.description.spatial_dim == 2:
            v = self.fields["velocity"]
            meshes = self.samples.meshes
            divergence = {"prediction": float(np.mean([relative_divergence(p, m, v) for p, m in zip(frames, meshes)])),
                          "truth": float(np.mean([relative_divergence(t, m, v) for t, m in zip(truth, meshes)]))}
        errors = self.errors(frames, start)
        return Scores(errors=errors, metrics=metrics, field_metrics=per_field, divergence=divergence,
                      forces=self.forces(frames, truth), band=self._band_report(frames, start, errors))

    def forces(self, frames: list[np.ndarray], truth: list[np.ndarray]) -> dict | None:
        """Drag and lift on the obstacle from the prediction and from the truth: time mean of the drag, half the
        peak-to-peak lift, and the RMS over the frames of each coefficient's error; means over the trajectories."""
        if (self.obstacle is None or "velocity" not in self.fields or "pressure" not in self.fields
                or "viscosity" not in self.parameters[0]):
            return None
        velocity, pressure = self.fields["velocity"], self.fields["pressure"].start
        rows = []
        for p, t, mesh, edges, params in zip(frames, truth, self.samples.meshes, self.edges, self.parameters):
            scale = 1.0 if self.force_scale is None else self.force_scale(params)
            fp, ft = (boundary_forces(x, mesh, edges, velocity, pressure, params["viscosity"]) / scale for x in (p, t))
            rows.append({"drag_truth": ft[:, 0].mean(), "drag_prediction": fp[:, 0].mean(),
                         "lift_amplitude_truth": np.ptp(ft[:, 1]) / 2,
                         "lift_amplitude_prediction": np.ptp(fp[:, 1]) / 2,
                         "drag_rms_error": np.sqrt(np.mean((fp[:, 0] - ft[:, 0]) ** 2)),
                         "lift_rms_error": np.sqrt(np.mean((fp[:, 1] - ft[:, 1]) ** 2))})
        out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        out["boundary"] = self.obstacle
        out["units"] = "N/m" if self.force_scale is None else "coefficient F/(½ρŪ²D)"
        return out

    def _band_report(self, frames: list[np.ndarray], start: int, whole: RolloutErrors) -> dict:
        """`whole`: the frames' errors over the whole domain (`errors`), beside those in the band."""
        out = {"rollout_rel_l2": whole.total, "field_rel_l2": whole.per_field}
        if self.obstacle is not None:
            band = relative_errors(frames, self.truth(start), self.band_mass, self.fields)
            out.update(band_rel_l2=band.total, band_field_rel_l2=band.per_field, band_boundary=self.obstacle)
        return out


__all__ = ["MeshSamples", "MeshScoring", "boundary_edges", "boundary_forces", "frame_metrics", "integral_drift",
           "obstacle_band", "read_mesh_samples", "relative_divergence", "relative_errors"]
