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

Cost on the CPU (benchmarks/mpm_speed.py): the weights are a product over axes, w_ip = Π_d w_d(fx_d), and
the offset x_i − x_p along d depends on axis d only, so both transfers work axis by axis. P2G builds the
bracket m_p v_p + A (x_i − x_p) one axis at a time (one vector add per node instead of a matrix-vector
product); G2P sums the 3^d node velocities first along z, then y, then x, carrying, besides Σ w v, the
sums in which w_d is replaced by w_d·(offset along d), which are the columns of Σ w v (x_i − x_p)ᵀ. Same
formulas, fewer operations (3D: P2G 2.7×, G2P 1.5× faster than node by node); results agree to float32
rounding.

Wall boundary conditions (grid update): nodes within `WALL_CELLS` of a face of the box are walls.
"sticky" sets the velocity to zero there; "slip" removes the velocity component into the wall and keeps
the tangential one (particles may leave the wall), less Coulomb friction μ|v_n| if `wall_friction` μ > 0
(Stomakhin et al. 2013, §8: the same rule as the colliders'). Under the CFL bound particles never come
closer than one cell to the box's edge; G2P also clamps positions into [Δx, L − Δx] (as NCLaw's solver
does), so that a run whose law is unstable (a learned law while it trains) cannot write outside the grid:
warp does not check bounds on the CPU, and such a run had corrupted the heap.
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

    @wp.func
    def stencil(x: vec, inv_dx: float, dims: wp.vec3i):
        # The stencil of a particle at x: the flat index of its lower-left node base = floor(x/Δx − 0.5);
        # fx = x/Δx − base (in cells, each component in [0.5, 1.5)); the quadratic B-spline weights w[d, k]
        # of the nodes base_d + k at distances fx_d − k along axis d; and wo[d, k] = w[d, k]·(k − fx_d), the
        # weights times the node's offset x_i − x_p along d (in cells). In 2D the third rows are unused.
        base = wp.vec3i(0, 0, 0)
        fx = vec()
        w = wp.mat33()
        wo = wp.mat33()
        for d in range(dim):
            xd = x[d] * inv_dx
            base[d] = int(wp.floor(xd - 0.5))
            f = xd - float(base[d])
            fx[d] = f
            w[d, 0] = 0.5 * (1.5 - f) * (1.5 - f)
            w[d, 1] = 0.75 - (f - 1.0) * (f - 1.0)
            w[d, 2] = 0.5 * (f - 0.5) * (f - 0.5)
            for k in range(3):
                wo[d, k] = w[d, k] * (float(k) - f)
        return (base[0] * dims[1] + base[1]) * dims[2] + base[2], fx, w, wo

    @wp.func
    def column(m: mat, d: int):
        # column d of m
        out = vec()
        for e in range(dim):
            out[e] = m[e, d]
        return out

    @wp.kernel
    def p2g(x: wp.array(dtype=vec), v: wp.array(dtype=vec), C: wp.array(dtype=mat), tau: wp.array(dtype=mat),
            mass: wp.array(dtype=float), volume: wp.array(dtype=float), dt: float, dx: float, dims: wp.vec3i,
            grid_momentum: wp.array(dtype=vec), grid_mass: wp.array(dtype=float)):
        p = wp.tid()
        inv_dx = 1.0 / dx
        first, fx, w, wo = stencil(x[p], inv_dx, dims)
        m = mass[p]
        # A = (m_p C_p − Δt V_p (4/Δx²) τ_p) Δx: APIC's affine momentum plus the MLS force (Hu et al. 2018,
        # eq. 16), per cell of offset. Node (a, b, c) receives w (m_p v_p + A (node − fx)); the bracket is
        # built up axis by axis: q = m_p v_p − A fx, then + a·A[:, 0], + b·A[:, 1], + c·A[:, 2].
        affine = (m * C[p] - (dt * volume[p] * 4.0 * inv_dx * inv_dx) * tau[p]) * dx
        q = m * v[p] - affine * fx
        for a in range(3):
            qa = q + float(a) * column(affine, 0)
            for b in range(3):
                qab = qa + float(b) * column(affine, 1)
                wab = w[0, a] * w[1, b]
                i = first + (a * dims[1] + b) * dims[2]
                if wp.static(dim == 2):
                    wp.atomic_add(grid_momentum, i, wab * qab)
                    wp.atomic_add(grid_mass, i, wab * m)
                else:
                    for c in range(3):
                        weight = wab * w[2, c]
                        wp.atomic_add(grid_momentum, i + c, weight * (qab + float(c) * column(affine, 2)))
                        wp.atomic_add(grid_mass, i + c, weight * m)

    @wp.kernel
    def grid_update(grid_momentum: wp.array(dtype=vec), grid_mass: wp.array(dtype=float), gravity: vec,
                    dt: float, dims: wp.vec3i, wall_mode: int, wall_friction: float,
                    grid_velocity: wp.array(dtype=vec)):
        i = wp.tid()
        m = grid_mass[i]
        velocity = vec()
        if m > 0.0:  # an empty node keeps v = 0, which every wall rule leaves as it is
            velocity = grid_momentum[i] / m + dt * gravity
            cell = wp.vec3i(i // (dims[1] * dims[2]), (i // dims[2]) % dims[1], i % dims[2])
            if wall_mode > 0:
                for d in range(dim):
                    lower = cell[d] < WALL_CELLS and velocity[d] < 0.0
                    upper = cell[d] > dims[d] - 1 - WALL_CELLS and velocity[d] > 0.0
                    if wall_mode == 1 and (cell[d] < WALL_CELLS or cell[d] > dims[d] - 1 - WALL_CELLS):
                        velocity = vec()
                    elif lower or upper:
                        # slip: the normal velocity into the wall goes; Coulomb friction takes up to μ|v_n| off
                        # the tangential velocity (stopping it, never reversing it)
                        normal_speed = wp.abs(velocity[d])
                        velocity[d] = 0.0
                        tangential_speed = wp.length(velocity)
                        if wall_friction > 0.0 and tangential_speed > 0.0:
                            velocity = velocity * wp.max(0.0, 1.0 - wall_friction * normal_speed / tangential_speed)
        grid_velocity[i] = velocity

    @wp.kernel
    def g2p(x: wp.array(dtype=vec), F: wp.array(dtype=mat), grid_velocity: wp.array(dtype=vec), dt: float,
            dx: float, dims: wp.vec3i, x_out: wp.array(dtype=vec), v_out: wp.array(dtype=vec),
            C_out: wp.array(dtype=mat), F_trial: wp.array(dtype=mat)):
        p = wp.tid()
        inv_dx = 1.0 / dx
        xp = x[p]
        first, fx, w, wo = stencil(xp, inv_dx, dims)
        # v_p = Σ w v_i and column d of Σ w v_i (x_i − x_p)ᵀ: the weight is a product over axes and the offset
        # along d depends on axis d only, so that column is the same sum with w[d, ·] replaced by wo[d, ·].
        # The sums are taken axis by axis (z, then y, then x): s = Σ w v, s_d = the sum with wo along d.
        velocity = vec()
        moment_x, moment_y, moment_z = vec(), vec(), vec()  # the columns of Σ w v_i (x_i − x_p)ᵀ
        for a in range(3):
            s_a, s_ay, s_az = vec(), vec(), vec()
            for b in range(3):
                i = first + (a * dims[1] + b) * dims[2]
                s_ab = grid_velocity[i]
                s_abz = vec()
                if wp.static(dim == 3):
                    s_ab = vec()
                    for c in range(3):
                        node_velocity = grid_velocity[i + c]
                        s_ab += w[2, c] * node_velocity
                        s_abz += wo[2, c] * node_velocity
                s_a += w[1, b] * s_ab
                s_ay += wo[1, b] * s_ab
                s_az += w[1, b] * s_abz
            velocity += w[0, a] * s_a
            moment_x += wo[0, a] * s_a
            moment_y += w[0, a] * s_ay
            moment_z += w[0, a] * s_az
        if wp.static(dim == 3):
            moment = wp.matrix_from_cols(moment_x, moment_y, moment_z)
        else:
            moment = wp.matrix_from_cols(moment_x, moment_y)
        affine = (4.0 * inv_dx) * moment
        v_out[p] = velocity
        C_out[p] = affine
        # dims holds nodes per side, n_grid + 1: L − Δx = (n_grid − 1) Δx. Element-wise vector min/max, not
        # component assignment in a loop, whose adjoint warp gets wrong (the weight gradients of
        # tests/surrogates/test_nclaw.py came out 10⁹ times too large with it). With a NaN the comparison
        # returns the other operand, so a NaN position lands on the wall too.
        upper = float(dims[0] - 2) * dx
        x_out[p] = wp.min(wp.max(xp + dt * velocity, vec(dx)), vec(upper))
        F_trial[p] = (wp.identity(n=dim, dtype=float) + dt * affine) * F[p]

    return SimpleNamespace(vec=vec, mat=mat, p2g=p2g, grid_update=grid_update, g2p=g2p)
