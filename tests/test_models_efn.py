"""The Energy Flow Network (raysym/models/efn.py): the sum it computes against a hand-written reference,
permutation and padding invariance, infrared and collinear safety (with the transformer as the control
that fails them), which Lorentz generators it is blind to, exact second and forward-mode derivatives,
bf16 autocast, seeded reproducibility, parameter counts, and a smoke study with every analysis."""

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from raysym.batch import JetBatch
from raysym.errors import ConfigError
from raysym.lorentz import generators
from raysym.models import build_model, count_parameters
from raysym.models.efn import EFNConfig, EnergyFlowNetwork
from raysym.penalties import make_penalty
from raysym.training.config import AutocastNetwork, Bias
from tests.synthetic import jet_momenta

N = 32
#: A small EFN that still has every part (hidden layers in Φ and F), for the float64 tests.
TINY = {"phi_widths": (24, 24), "latent": 16, "f_widths": (24, 24)}


def make_jets(n_jets=6, seed=0, dtype=torch.float64, max_mass=0.14):
    return jet_momenta(n_jets, N, seed, dtype=dtype, max_mass=max_mass, min_real=3, full_first=False)


def seeded(kind="efn", seed=0, **sizes):
    torch.manual_seed(seed)
    return build_model(kind, "small", **sizes).double().eval()


def rel_diff(a, b):
    return ((a - b).abs() / b.abs().clamp_min(1e-12)).max().item()


def reference_latent(model, p4, mask):
    """Σ_i z_i Φ(5Δη_i, 5Δφ_i) jet by jet over the real rows only, from η = asinh(pz/pT), φ = atan2(py, px)
    and the jet's rapidity atanh(pz/E), written here without raysym's feature code."""
    rows = []
    for jet, real in zip(p4, mask):
        parts = jet[real]
        px, py, pz = parts[:, 1:].unbind(-1)
        pt = torch.hypot(px, py)
        total = parts.sum(0)
        deta = torch.asinh(pz / pt) - torch.atanh(total[3] / total[0])
        dphi = torch.remainder(torch.atan2(py, px) - torch.atan2(total[2], total[1]) + math.pi, 2 * math.pi) - math.pi
        z = pt / pt.sum()
        rows.append((z.unsqueeze(-1) * model.phi(5 * torch.stack([deta, dphi], -1))).sum(0))
    return torch.stack(rows)


def test_latent_observables_are_the_energy_weighted_sum_of_phi_over_the_real_constituents():
    model = seeded(**TINY)
    p4, mask = make_jets(seed=1)
    latent = model.latent_observables(p4, mask)
    assert latent.shape == (len(p4), TINY["latent"])
    assert torch.allclose(latent, reference_latent(model, p4, mask), rtol=1e-10, atol=1e-12)
    assert torch.allclose(model(p4, mask), model.head(latent))


def test_output_is_invariant_under_permutations_and_blind_to_padding():
    model = seeded(**TINY)
    p4, mask = make_jets(seed=2)
    ref = model(p4, mask)
    g = torch.Generator().manual_seed(3)
    perm = torch.stack([torch.randperm(N, generator=g) for _ in range(len(p4))])
    shuffled = torch.gather(p4, 1, perm.unsqueeze(-1).expand(-1, -1, 4))
    assert torch.allclose(model(shuffled, torch.gather(mask, 1, perm)), ref, rtol=1e-12, atol=1e-14)
    garbage = torch.randn(p4.shape, generator=g, dtype=p4.dtype) * 1e3
    assert torch.allclose(model(torch.where(mask.unsqueeze(-1), p4, garbage), mask), ref, rtol=1e-12, atol=1e-14)
    wider = torch.cat([p4, torch.zeros(len(p4), 16, 4, dtype=p4.dtype)], 1)
    wider_mask = torch.cat([mask, torch.zeros(len(p4), 16, dtype=torch.bool)], 1)
    assert torch.allclose(model(wider, wider_mask), ref, rtol=1e-12, atol=1e-14)


def first_free_slot(mask):
    """Index of the first padded slot of every jet (the jets have fewer than N real constituents)."""
    assert not mask.all(-1).any()
    return mask.long().argmin(-1)


def with_soft_particle(p4, mask, energy):
    """Every jet with one more real constituent of ``energy`` GeV, at a wide angle (Δφ = 0.3 off the
    jet's first constituent, η = 0); energy 0 is the exactly infrared-safe limit."""
    p4, mask = p4.clone(), mask.clone()
    rows = torch.arange(len(p4))
    slot = first_free_slot(mask)
    phi = torch.atan2(p4[:, 0, 2], p4[:, 0, 1]) + 0.3
    direction = torch.stack([torch.ones_like(phi), torch.cos(phi), torch.sin(phi), torch.zeros_like(phi)], -1)
    p4[rows, slot] = energy * direction  # massless, along (cos φ, sin φ, 0)
    mask[rows, slot] = True
    return p4, mask


def with_collinear_split(p4, mask, fraction=0.3):
    """Every jet's hardest constituent split into ``fraction`` and 1 − ``fraction`` of its four-momentum."""
    p4, mask = p4.clone(), mask.clone()
    rows = torch.arange(len(p4))
    hardest = torch.where(mask, torch.hypot(p4[..., 1], p4[..., 2]), torch.zeros((), dtype=p4.dtype)).argmax(-1)
    slot = first_free_slot(mask)
    parent = p4[rows, hardest].clone()
    p4[rows, hardest] = fraction * parent
    p4[rows, slot] = (1 - fraction) * parent
    mask[rows, slot] = True
    return p4, mask


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_a_zero_energy_particle_changes_nothing_and_a_soft_one_changes_the_output_in_proportion(dtype, rtol):
    model = seeded(**TINY).to(dtype)
    p4, mask = make_jets(seed=4, dtype=dtype)
    ref = model(p4, mask)
    assert torch.allclose(model(*with_soft_particle(p4, mask, 0.0)), ref, rtol=rtol, atol=0)
    if dtype == torch.float64:  # infrared safety is a limit: the change goes to 0 linearly in the energy
        change = [(model(*with_soft_particle(p4, mask, e)) - ref).abs().max().item() for e in (1e-2, 1e-4)]
        assert 0 < change[1] < 2e-2 * change[0]
        teacher = seeded("teacher")  # the control: a mean over constituents with log pT features is not safe
        assert rel_diff(teacher(*with_soft_particle(p4, mask, 0.0)), teacher(p4, mask)) > 1e-3


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_a_collinear_split_changes_nothing(dtype, rtol):
    model = seeded(**TINY).to(dtype)
    p4, mask = make_jets(seed=5, dtype=dtype)
    split = with_collinear_split(p4, mask)
    assert torch.allclose(model(*split), model(p4, mask), rtol=rtol, atol=rtol * 1e-2)
    if dtype == torch.float64:
        teacher = seeded("teacher")
        assert rel_diff(teacher(*split), teacher(p4, mask)) > 1e-3


def lie_derivatives(model, p4, mask):
    """d/dt of the logits along every Lorentz generator, by forward mode: name → (B,)."""
    out = {}
    for name, generator in generators(dtype=p4.dtype).items():
        _, out[name] = torch.func.jvp(lambda x: model(x, mask), (p4,), (p4 @ generator.T,))
    return out


def test_massless_jets_make_the_efn_blind_to_the_longitudinal_generators_and_no_other():
    """With Δη against the jet's rapidity, rotations about the beam and boosts along it move no
    fraction and no angle of massless constituents; the other four generators change the output."""
    model = seeded(**TINY)
    p4, mask = make_jets(seed=6, max_mass=0.0)
    lie = lie_derivatives(model, p4, mask)
    scale = lie["Kx"].abs().max()
    assert lie["Kz"].abs().max() < 1e-9 * scale and lie["Lz"].abs().max() < 1e-9 * scale
    assert min(lie[name].abs().max() for name in ("Kx", "Ky", "Lx", "Ly")) > 1e-3 * scale
    axis = seeded(jet_axis="pseudorapidity", **TINY)  # against a massive jet's pseudorapidity Kz acts
    assert lie_derivatives(axis, p4, mask)["Kz"].abs().max() > 1e-4 * scale


def test_hessian_vector_products_match_finite_differences_of_the_gradient():
    model = seeded(**TINY)
    p4, mask = make_jets(seed=7)
    labels = (torch.arange(len(p4)) % 2).double()
    params = list(model.parameters())

    def gradient():
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(p4, mask), labels)
        return torch.autograd.grad(loss, params, create_graph=True)

    g = torch.Generator().manual_seed(8)
    vector = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]
    hvp = torch.autograd.grad(sum((a * v).sum() for a, v in zip(gradient(), vector)), params)
    h = 1e-6
    shifted = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.add_(sign * h * v)
        shifted.append([a.detach() for a in gradient()])
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.sub_(sign * h * v)
    for exact, plus, minus in zip(hvp, *shifted):
        assert torch.allclose(exact, (plus - minus) / (2 * h), rtol=1e-4, atol=1e-7)


def test_training_steps_with_both_penalties_are_seeded_reproducibly_on_the_cpu():
    p4, mask = make_jets(seed=9, dtype=torch.float32)
    batch = JetBatch(p4, mask, (torch.arange(len(p4)) % 2).float())

    def one_step():
        torch.manual_seed(3)
        model = build_model("efn", "small", **TINY)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(p4, mask), batch.y)
        for name in ("seal", "dseal"):
            loss = loss + 0.1 * make_penalty(name, seed=4)(model, batch)
        return torch.autograd.grad(loss, list(model.parameters()))

    first, second = one_step(), one_step()
    assert all(torch.isfinite(a).all() and torch.equal(a, b) for a, b in zip(first, second))


def test_bf16_autocast_gives_float32_logits_near_float32_and_trains_with_dseal():
    torch.manual_seed(0)
    model = build_model("efn", "small")
    p4, mask = make_jets(seed=10, dtype=torch.float32)
    network = AutocastNetwork(model, "cpu")
    logits = network(p4, mask)
    assert logits.dtype == torch.float32
    assert torch.allclose(logits, model(p4, mask), rtol=5e-2, atol=5e-3)
    batch = JetBatch(p4, mask, (torch.arange(len(p4)) % 2).float())
    penalty = make_penalty("dseal")(network, batch)
    grads = torch.autograd.grad(penalty, list(model.parameters()))
    assert torch.isfinite(penalty) and penalty > 0 and all(torch.isfinite(g).all() for g in grads)


def test_preset_parameter_counts_are_the_documented_ones():
    paper, small = build_model("efn", "paper"), build_model("efn", "small")
    assert count_parameters(paper.phi) == 3 * 320 + 321 * 320 + 321 * 256 == 185_856
    assert count_parameters(paper.head) == 257 * 320 + 2 * 321 * 320 + 321 == 288_001
    assert count_parameters(paper) == 473_857  # 97 % of the Glowacki student's 487,665
    assert count_parameters(small) == 56_529  # the EnergyFlow example's sizes
    assert abs(count_parameters(paper) / count_parameters(build_model("student", "paper")) - 1) < 0.03
    assert isinstance(paper, EnergyFlowNetwork) and paper.config == EFNConfig()


def test_the_package_finds_this_module_with_no_import_line_and_lists_it_after_the_built_in_kinds():
    import raysym.models

    assert "efn" in raysym.models.model_modules()
    assert "raysym.models.efn" not in Path(raysym.models.__file__).read_text()
    # What a fresh process (a Ray worker) gets from importing any one module of the package.
    code = "from raysym.models.registry import model_kinds; print(','.join(model_kinds()))"
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert listed.strip().split(",")[:5] == ["teacher", "student", "invariant", "dual", "efn"]


@pytest.mark.parametrize("sizes, message", [
    ({"latent": 0}, "latent"),
    ({"phi_widths": (16, -1)}, "phi_widths"),
    ({"f_widths": "16"}, "f_widths"),
    ({"jet_axis": "beam"}, "unknown jet axis 'beam'"),
    ({"standardise": "yes"}, "standardise must be true or false"),
])
def test_bad_sizes_are_one_config_error(sizes, message):
    with pytest.raises(ConfigError, match=message):
        build_model("efn", "small", **sizes)


#: The smoke study's EFN: every part present, a few hundred parameters.
SMOKE_EFN = {"phi_widths": (16,), "latent": 8, "f_widths": (16,)}
ANALYSIS_TABLES = ("hessian", "spectrum", "goldstone", "smearing", "symmetry")


def test_a_smoke_study_of_efn_biases_runs_every_analysis_and_stores_their_rows(ray_local, study_jets_dir, tmp_path):
    from raysym.store import ResultStore
    from raysym.study.pipeline import run_study
    from raysym.study.presets import preset, smoke

    base = smoke(preset("quick"))
    config = base.with_overrides(
        name="efn-smoke", data={"path": study_jets_dir},
        biases=tuple(Bias.parse(text) for text in ("efn:seal:0.1", "efn:dseal:0.1")),
        model_options={**base.model_options, "efn": SMOKE_EFN},
        analyses={name: True for name in ANALYSIS_TABLES},
        distillation={"enabled": False})
    start = time.perf_counter()
    outcome = run_study(config, tmp_path, verbose=0, progress=False)
    seconds = time.perf_counter() - start
    assert not outcome.errors and outcome.trained == 2 and outcome.evaluated == 2
    store = ResultStore(outcome.store_path)
    trials = store.load("trials")
    assert sorted(trials["model"]) == ["efn"] * 2
    assert sorted(trials["penalty"]) == ["dseal", "seal"]
    for table in ANALYSIS_TABLES:
        rows = store.load(table)
        assert sorted(set(rows["trial_id"])) == sorted(outcome.trial_ids), table
        assert outcome.analysed[table] == 2, table
    hessian, symmetry = store.load("hessian"), store.load("symmetry")
    assert hessian[["eigenvalue", "trace"]].notna().all().all() and (symmetry["mean"] >= 0).all()
    print(f"EFN smoke study: {seconds:.1f} s")
