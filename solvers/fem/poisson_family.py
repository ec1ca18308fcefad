"""`poisson`: steady diffusion on plates with holes, the operator-learning pairs of SPON (issue 17).

Each sample solves, on its own domain Ω = (0, 1)² less two disks (centres and radii are parameters),

    −∇·(κ ∇u) = f  in Ω,      u = g  on the plate's sides (`outer`),      κ ∂u/∂n = 0  on the holes' rims,

with f, g and log κ seeded Matérn Gaussian random fields (`random_fields.draw_cosine_field`, length scale ℓ)
and κ = exp(s z), z the unit-variance draw, s the parameter `conductivity_contrast` (κ spans e^{±2s} for
|z| ≤ 2). The operator to learn maps (f, κ, g) to u; a dataset stores the three inputs and the solution as
one steady frame (schema 1.3: fields with role "input" and "output", `datasets/SCHEMA.md`).

The random fields are drawn on the dataset's grid (`grid(config)`, the initial state of the generator's
protocol), and the solver's inputs are their bilinear interpolants evaluated at the DOF coordinates of
V_h = Lagrange P`degree` on the sample's gmsh mesh (`meshes.geometries.plate_with_holes`); the Dirichlet
data are I_h g on the outer DOFs, so u_h = g holds there exactly (the stored boundary values are g's bit for
bit). Discretisation: `poisson.solve_poisson` (Galerkin, MUMPS LU): O(h^{p+1}) in L2 on smooth data,
measured on these meshes in `tests/solvers/fem/test_poisson_family.py`. The dataset stores every field at
the mesh's vertices (for P2, the vertex DOFs), and, interpolated, on the grid.

Sampling ranges keep the holes apart (hole 1 in the left third, hole 2 in the right) and one mesh size from
the sides; the allowed ranges are wider, and `plate_with_holes` refuses holes that touch in one line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import dolfinx_solver  # noqa: F401  (must be imported before dolfinx)
import dolfinx
import numpy as np
from scipy.interpolate import RegularGridInterpolator

from surrolab.errors import SurrolabError, check_positive_int, check_positive_number, check_range
from surrolab.meshes.geometries import plate_with_holes
from surrolab.solvers.fem.flow_family import vertex_dofs
from surrolab.solvers.fem.poisson import solve_poisson
from surrolab.solvers.problem import BoundaryCondition, ParameterSpec, Problem, mesh_size_settings
from surrolab.solvers.random_fields import draw_cosine_field
from surrolab.solvers.trajectory import FieldSpec, GridGeometry, Trajectory

INPUTS = ("source", "conductivity", "boundary_data")  # what the operator maps from
DRAWN = ("source", "log_conductivity", "boundary_data")  # the unit random fields behind them (the initial state)


@dataclass(frozen=True)
class PoissonConfig:
    """`h`: gmsh mesh size (holes' rims at h/2); `degree`: Lagrange degree of V_h (1 or 2); `grid_resolution`:
    cells per side of the grid the random fields are drawn on and the solution is interpolated to;
    `field_modes`, `length_scale`: the Matérn draws (modes k, l ≤ field_modes, ℓ); `source_amplitude`: the
    standard deviation of f, so that the source and the boundary data shape u about equally."""

    h: float = 0.05
    degree: int = 1
    grid_resolution: int = 32
    field_modes: int = 12
    length_scale: float = 0.2
    source_amplitude: float = 20.0

    def __post_init__(self):
        check_range("h", self.h, 1e-3, 0.1)
        if self.degree not in (1, 2):
            raise SurrolabError(f"degree={self.degree!r} is not allowed: choose 1 or 2 (Lagrange P1, P2)")
        check_positive_int("grid_resolution", self.grid_resolution, minimum=2)
        check_positive_int("field_modes", self.field_modes)
        check_positive_number("length_scale", self.length_scale)
        check_positive_number("source_amplitude", self.source_amplitude)

    n_frames: ClassVar[int] = 1  # steady: one frame, at t = 0
    times: ClassVar[np.ndarray] = np.zeros(1)


def _hole(i: int, x: tuple[float, float]) -> tuple[ParameterSpec, ...]:
    return (ParameterSpec(f"hole_{i}_x", "1", low=x[0], high=x[1], default=sum(x) / 2, allowed_low=0.0,
                          allowed_high=1.0, description=f"x of hole {i}'s centre (geometry)"),
            ParameterSpec(f"hole_{i}_y", "1", low=0.25, high=0.75, default=0.5, allowed_low=0.0, allowed_high=1.0,
                          description=f"y of hole {i}'s centre (geometry)"),
            ParameterSpec(f"hole_{i}_radius", "1", low=0.05, high=0.1, default=0.075, allowed_low=1e-3,
                          allowed_high=0.45, description=f"radius of hole {i} (geometry)"))


class PoissonProblem(Problem):
    name = "poisson"
    description = ("Steady -div(kappa grad u) = f on the unit plate with two holes, u = g on the sides, insulated "
                   "holes; random f, kappa, g; Lagrange P1/P2 on a gmsh mesh per sample (SPON's operator pairs)")
    geometry_type = "mesh"
    input_fields: ClassVar[tuple[str, ...]] = INPUTS
    fields = (FieldSpec("source", "1", description="source f (input)"),
              FieldSpec("conductivity", "1", description="conductivity kappa = exp(s z) (input)"),
              FieldSpec("boundary_data", "1", description="Dirichlet data g, used on the sides (input)"),
              FieldSpec("solution", "1", description="u, the solution (output)"))
    parameters = (*_hole(1, (0.2, 0.35)), *_hole(2, (0.65, 0.8)),
                  ParameterSpec("conductivity_contrast", "1", low=0.0, high=1.0, default=0.5, allowed_low=0.0,
                                allowed_high=3.0, description="s in kappa = exp(s z) (physical property)"))
    boundary_conditions = (BoundaryCondition("outer", "dirichlet", fields=("solution",)),
                           BoundaryCondition("holes", "neumann", 0.0, fields=("solution",)))
    Config = PoissonConfig
    presets = {"demo": dict(h=0.08, grid_resolution=16), "large": dict(h=0.02, grid_resolution=64)}
    order_in_space: ClassVar[dict[int, int]] = {1: 2, 2: 3}  # L2 order of P1, P2

    @classmethod
    def resolution_settings(cls, resolution: int) -> dict:
        return mesh_size_settings(resolution)

    def grid(self, config) -> GridGeometry:
        self.check_config(config)
        axis = np.linspace(0.0, 1.0, config.grid_resolution + 1)
        return GridGeometry(axes=(axis, axis))

    def initial_state(self, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The unit random fields behind f, κ and g, on the grid (f is scaled and κ exponentiated in `solve`)."""
        axis = self.grid(config).axes[0]
        return {name: draw_cosine_field(rng, config.field_modes, config.length_scale).evaluate(axis, axis)
                for name in DRAWN}

    def holes(self, params: dict[str, float]) -> tuple[tuple[float, float, float], ...]:
        return tuple((params[f"hole_{i}_x"], params[f"hole_{i}_y"], params[f"hole_{i}_radius"]) for i in (1, 2))

    def solve(self, config, params: dict[str, float], initial_state: dict[str, np.ndarray]) -> Trajectory:
        """This sample's u_h (module docstring): pure and deterministic."""
        self.check_config(config)
        params = self.check_parameters(params)
        shape = self.grid(config).shape
        if sorted(initial_state) != sorted(DRAWN) or any(np.shape(v) != shape for v in initial_state.values()):
            raise SurrolabError(f"initial state has fields {sorted(initial_state)}; problem {self.name!r} needs "
                                f"{sorted(DRAWN)}, each of shape {shape}")
        domain = plate_with_holes(self.holes(params), h=config.h)
        V = dolfinx.fem.functionspace(domain.mesh, ("Lagrange", config.degree))
        at_dofs = np.clip(V.tabulate_dof_coordinates()[:, :2], 0.0, 1.0)  # gmsh may round past a side
        axis = self.grid(config).axes[0]
        drawn = {name: RegularGridInterpolator((axis, axis), values)(at_dofs) for name, values in initial_state.items()}
        inputs = {"source": config.source_amplitude * drawn["source"],
                  "conductivity": np.exp(params["conductivity_contrast"] * drawn["log_conductivity"]),
                  "boundary_data": drawn["boundary_data"]}
        f, kappa = (dolfinx.fem.Function(V) for _ in range(2))
        f.x.array[:], kappa.x.array[:] = inputs["source"], inputs["conductivity"]
        outer = dolfinx.fem.locate_dofs_topological(V, 1, domain.facets("outer"))
        u = solve_poisson(V, f, kappa, outer, inputs["boundary_data"][outer])
        at_vertices = vertex_dofs(V)
        fields = {name: values[at_vertices][None] for name, values in {**inputs, "solution": u}.items()}  # (1, N)
        diagnostics = {"n_dofs": float(V.dofmap.index_map.size_global),
                       "dirichlet_max_error": float(np.max(np.abs(u[outer] - inputs["boundary_data"][outer]))),
                       "min_conductivity": float(inputs["conductivity"].min())}
        return Trajectory(times=config.times, fields=fields, geometry=domain.mesh_geometry(), diagnostics=diagnostics)
