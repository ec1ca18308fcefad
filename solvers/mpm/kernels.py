"""The MLS-MPM transfer kernels (Hu et al., SIGGRAPH 2018), in 2D and 3D, written once.

One time step Δt moves particles p (position x_p, velocity v_p, APIC affine matrix C_p, deformation
gradient F_p, mass m_p, volume V_p) through a background grid of spacing Δx with quadratic B-spline
weights w_ip (support 3 nodes per axis):

    P2G   m_i = Σ_p w_ip m_p
          (m v)_i = Σ_p w_ip [ m_p v_p + (m_p C_p − Δt V_p M⁻¹ τ_p)(x_i − x_p) ],   M⁻¹ = 4/Δx²
    grid  v_i = (m v)_i / m_i + Δt g, then walls and colliders
    G2P   v_p = Σ_i w_ip v_i,   C_p = M⁻¹ Σ_i w_ip v_i (x_i − x_p)ᵀ,   x_p += Δt v_p,
          F_p ← (I + Δt C_p) F_p        (the trial deformation gradient; the material projects it)

τ_p is the Kirchhoff stress of the particle's material (τ = P Fᵀ = J σ), which the step gets from the
material slot (`materials.py`). MLS-MPM with APIC conserves mass exactly and linear and angular momentum
in the transfers (Jiang et al. 2015, §5.3); tests/solvers/mpm check both.

The kernels are made per dimension by `transfer_kernels(dim)` (warp closures: the vector and matrix
types and the stencil depth are captured constants), module-level in spirit as in warp's examples: each
is self-contained and reads only its arguments. The grid is one flat array of n_x·n_y(·n_z) nodes, so
2D and 3D share the indexing `(i·n_y + j)·n_z + k` (n_z = 1 in 2D).

Wall boundary conditions (grid update): nodes within `WALL_CELLS` of a face of the box are walls.
"sticky" sets the velocity to zero there; "slip" removes the velocity component into the wall and keeps
the tangential one (particles may leave the wall). Particles never come closer than one cell to the
box's edge, so every stencil stays inside the grid.
"""

import functools
from types import SimpleNamespace

import warp as wp

WALL_CELLS = 3  # grid nodes this close to a face of the box are wall nodes (3: the B-spline support)
WALL_MODES = {"none": 0, "sticky": 1, "slip": 2}


@functools.cache
def transfer_kernels(dim: int) -> SimpleNamespace:
    """The P2G, grid-update and G2P kernels for `dim` = 2 or 3 (cached: warp compiles each once)."""
    vec = wp.types.vector(dim, wp.float32)
    mat = wp.types.matrix((dim, dim), wp.float32)
    NZ = 3 if dim == 3 else 1  # stencil nodes along z (1 in 2D)

    @wp.func
    def node_index(cell: wp.vec3i, dims: wp.vec3i):
        return (cell[0] * dims[1] + cell[1]) * dims[2] + cell[2]

    @wp.func
    def stencil_base(x: vec, inv_dx: float):
        # the lower-left node of the 3-node stencil: floor(x/Δx − 0.5)
        base = wp.vec3i(0, 0, 0)
        for d in range(dim):
            base[d] = int(wp.floor(x[d] * inv_dx - 0.5))
        return base

    @wp.func
    def bspline_weights(fx: float):
        # quadratic B-spline weights of the three nodes at distances fx, fx − 1, fx − 2 (fx in [0.5, 1.5))
        return wp.vec3(0.5 * (1.5 - fx) * (1.5 - fx), 0.75 - (fx - 1.0) * (fx - 1.0), 0.5 * (fx - 0.5) * (fx - 0.5))

    @wp.func
    def stencil(x: vec, inv_dx: float, base: wp.vec3i, a: int, b: int, c: int):
        # weight w_ip and offset x_i − x_p (in cells) of node base + (a, b, c)
        weight = float(1.0)
        offset = vec()
        node = wp.vec3i(a, b, c)
        for d in range(dim):
            fx = x[d] * inv_dx - float(base[d])
            w = bspline_weights(fx)
            weight = weight * w[node[d]]
            offset[d] = float(node[d]) - fx
        return weight, offset

    @wp.kernel
    def p2g(x: wp.array(dtype=vec), v: wp.array(dtype=vec), C: wp.array(dtype=mat), tau: wp.array(dtype=mat),
            mass: wp.array(dtype=float), volume: wp.array(dtype=float), dt: float, dx: float, dims: wp.vec3i,
            grid_momentum: wp.array(dtype=vec), grid_mass: wp.array(dtype=float)):
        p = wp.tid()
        inv_dx = 1.0 / dx
        base = stencil_base(x[p], inv_dx)
        # m_p C_p − Δt V_p (4/Δx²) τ_p: APIC's affine momentum plus the MLS force (Hu et al. 2018, eq. 16)
        affine = mass[p] * C[p] - (dt * volume[p] * 4.0 * inv_dx * inv_dx) * tau[p]
        for a in range(3):
            for b in range(3):
                for c in range(NZ):
                    weight, offset = stencil(x[p], inv_dx, base, a, b, c)
                    i = node_index(base + wp.vec3i(a, b, c), dims)
                    wp.atomic_add(grid_momentum, i, weight * (mass[p] * v[p] + affine * (offset * dx)))
                    wp.atomic_add(grid_mass, i, weight * mass[p])

    @wp.kernel
    def grid_update(grid_momentum: wp.array(dtype=vec), grid_mass: wp.array(dtype=float), gravity: vec,
                    dt: float, dims: wp.vec3i, wall_mode: int, grid_velocity: wp.array(dtype=vec)):
        i = wp.tid()
        m = grid_mass[i]
        velocity = vec()
        if m > 0.0:
            velocity = grid_momentum[i] / m + dt * gravity
        cell = wp.vec3i(i // (dims[1] * dims[2]), (i // dims[2]) % dims[1], i % dims[2])
        if wall_mode > 0:
            for d in range(dim):
                lower = cell[d] < WALL_CELLS and velocity[d] < 0.0
                upper = cell[d] > dims[d] - 1 - WALL_CELLS and velocity[d] > 0.0
                if wall_mode == 1 and (cell[d] < WALL_CELLS or cell[d] > dims[d] - 1 - WALL_CELLS):
                    velocity = vec()
                elif lower or upper:
                    velocity[d] = 0.0
        grid_velocity[i] = velocity

    @wp.kernel
    def g2p(x: wp.array(dtype=vec), F: wp.array(dtype=mat), grid_velocity: wp.array(dtype=vec), dt: float,
            dx: float, dims: wp.vec3i, x_out: wp.array(dtype=vec), v_out: wp.array(dtype=vec),
            C_out: wp.array(dtype=mat), F_trial: wp.array(dtype=mat)):
        p = wp.tid()
        inv_dx = 1.0 / dx
        base = stencil_base(x[p], inv_dx)
        velocity = vec()
        affine = mat()
        for a in range(3):
            for b in range(3):
                for c in range(NZ):
                    weight, offset = stencil(x[p], inv_dx, base, a, b, c)
                    node_velocity = grid_velocity[node_index(base + wp.vec3i(a, b, c), dims)]
                    velocity += weight * node_velocity
                    affine += (4.0 * inv_dx * weight) * wp.outer(node_velocity, offset)
        v_out[p] = velocity
        C_out[p] = affine
        x_out[p] = x[p] + dt * velocity
        F_trial[p] = (wp.identity(n=dim, dtype=float) + dt * affine) * F[p]

    return SimpleNamespace(vec=vec, mat=mat, p2g=p2g, grid_update=grid_update, g2p=g2p)
