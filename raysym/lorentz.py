"""Lorentz transformations of jets: random boosts, rotations and the six generators (docs/methods.md §3).

These are the group actions behind the symmetry-encouraging losses: SEAL's finite penalty boosts every
jet by a random Λ (docs/methods.md §3.1), δSEAL differentiates along the generators (docs/methods.md §3.2), and the
pseudo-Goldstone scan compares f(x) with f(g·x) (Glowacki eqs. 5–6). All functions are pure torch.
"""

from __future__ import annotations

import math

import torch

#: Upper end of the β² distribution, docs/methods.md §3.1: β² ~ U(0, 0.95), so |β| ≤ 0.975, γ ≤ 4.47.
BETA2_MAX = 0.95


def boost_matrix(beta: torch.Tensor) -> torch.Tensor:
    """Pure boost Λ(β⃗) acting on (E, px, py, pz), (..., 3) → (..., 4, 4).

    Λ00 = γ, Λ0i = Λi0 = −γβi, Λij = δij + (γ−1)βiβj/β² (docs/methods.md §3.1). β⃗ = 0 gives the identity,
    and Λ(−β⃗) = Λ(β⃗)⁻¹.
    """
    b2 = (beta**2).sum(-1, keepdim=True)
    if torch.any(b2 >= 1):
        raise ValueError("boost_matrix: |β| must be < 1")
    gamma = 1.0 / torch.sqrt(1.0 - b2)
    # (γ−1)/β² = γ²/(γ+1) is finite at β = 0.
    coef = gamma**2 / (gamma + 1.0)
    eye3 = torch.eye(3, dtype=beta.dtype, device=beta.device)
    spatial = eye3 + coef.unsqueeze(-1) * beta.unsqueeze(-1) * beta.unsqueeze(-2)
    top = torch.cat([gamma, -gamma * beta], dim=-1)
    bottom = torch.cat([-(gamma * beta).unsqueeze(-1), spatial], dim=-1)
    return torch.cat([top.unsqueeze(-2), bottom], dim=-2)


def random_unit_vectors(n: int, generator: torch.Generator, dtype=torch.float32, device=None) -> torch.Tensor:
    """n directions uniform on the unit sphere (normalised Gaussians)."""
    v = torch.randn(n, 3, generator=generator, dtype=torch.float64, device=generator.device)
    return (v / v.norm(dim=-1, keepdim=True)).to(dtype=dtype, device=device)


def random_boost_velocities(
    n: int, generator: torch.Generator, beta2_max: float = BETA2_MAX, dtype=torch.float32, device=None
) -> torch.Tensor:
    """n boost velocities β⃗: direction uniform on the sphere, β² ~ U(0, beta2_max) (docs/methods.md §3.1)."""
    if not 0.0 <= beta2_max < 1.0:
        raise ValueError(f"beta2_max must be in [0, 1), got {beta2_max}")
    direction = random_unit_vectors(n, generator, torch.float64, generator.device)
    beta2 = torch.rand(n, 1, generator=generator, dtype=torch.float64, device=generator.device) * beta2_max
    return (direction * beta2.sqrt()).to(dtype=dtype, device=device)


def random_boosts(
    n: int, generator: torch.Generator, beta2_max: float = BETA2_MAX, dtype=torch.float32, device=None
) -> torch.Tensor:
    """One random boost matrix per jet, (n, 4, 4); the finite transformations of SEAL (docs/methods.md §3.1).

    Built in float64 and cast, so float32 and float64 callers see the same transformations.
    """
    beta = random_boost_velocities(n, generator, beta2_max, torch.float64)
    return boost_matrix(beta).to(dtype=dtype, device=device)


def rotation_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Spatial rotation by the axis-angle vector ω⃗ (angle |ω⃗|) as a (..., 4, 4) Lorentz matrix.

    Rodrigues' formula R = I + sin θ K + (1 − cos θ) K² on the spatial block; E is untouched.
    """
    theta = axis_angle.norm(dim=-1, keepdim=True).unsqueeze(-1)
    safe_theta = torch.where(theta > 0, theta, torch.ones_like(theta))
    k = axis_angle / safe_theta.squeeze(-1)
    zero = torch.zeros_like(k[..., 0])
    kx, ky, kz = k.unbind(-1)
    cross = torch.stack(
        [torch.stack([zero, -kz, ky], -1), torch.stack([kz, zero, -kx], -1), torch.stack([-ky, kx, zero], -1)],
        dim=-2,
    )
    eye3 = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(cross)
    spatial = eye3 + torch.sin(theta) * cross + (1 - torch.cos(theta)) * cross @ cross
    out = torch.zeros(*axis_angle.shape[:-1], 4, 4, dtype=axis_angle.dtype, device=axis_angle.device)
    out[..., 0, 0] = 1.0
    out[..., 1:, 1:] = spatial
    return out


def random_rotations(n: int, generator: torch.Generator, dtype=torch.float32, device=None) -> torch.Tensor:
    """n rotations with axis uniform on the sphere and angle uniform in [0, π], (n, 4, 4)."""
    axis = random_unit_vectors(n, generator, torch.float64, generator.device)
    angle = torch.rand(n, 1, generator=generator, dtype=torch.float64, device=generator.device) * math.pi
    return rotation_matrix(axis * angle).to(dtype=dtype, device=device)


def apply_lorentz(p4: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Apply one 4×4 matrix per jet to every constituent: p'_i = Λ p_i.

    ``p4`` is (B, N, 4), ``matrices`` (B, 4, 4) or a single (4, 4). Padded (zero) rows stay zero, so the
    mask is unchanged.
    """
    if matrices.dim() == 2:
        return p4 @ matrices.transpose(-1, -2)
    return torch.einsum("bij,bnj->bni", matrices, p4)


def generators(dtype=torch.float64, device=None) -> dict[str, torch.Tensor]:
    """The six Lorentz-algebra generators acting on (E, px, py, pz) (docs/methods.md §3.2).

    Boosts K_i have entries [0, i] = [i, 0] = 1; rotations L_i are antisymmetric with, e.g., Lz[1, 2] = 1,
    Lz[2, 1] = −1. exp(t K_i) is the boost ``boost_matrix(−tanh(t) ê_i)`` and exp(t L_z) the rotation by
    −t about z; such signs only flip t, which the squared Lie derivatives of δSEAL do not see.
    """
    names = ("Kx", "Ky", "Kz", "Lx", "Ly", "Lz")
    out = {name: torch.zeros(4, 4, dtype=dtype, device=device) for name in names}
    for i, name in enumerate(("Kx", "Ky", "Kz"), start=1):
        out[name][0, i] = out[name][i, 0] = 1.0
    for name, (a, b) in zip(("Lx", "Ly", "Lz"), ((2, 3), (3, 1), (1, 2))):
        out[name][a, b] = 1.0
        out[name][b, a] = -1.0
    return out
