"""Named studies: ``quick`` (the laptop default), ``paper`` (Glowacki §3 at full scale), a λ scan,
the dual-subnet comparison and an ASHA hyperparameter search; plus the smoke-test shrinking."""

from __future__ import annotations

import dataclasses

from raysym.errors import ConfigError
from raysym.study.config import AnalysisSettings, Bias, DataSettings, Resources, SearchSpace, StudyConfig

UNCONSTRAINED = Bias("teacher", "none", 0.0)
SEAL_PAPER = Bias("teacher", "seal", 0.1)  # the constrained model of Glowacki §3 (λ = 0.1)
SCAN_LAMBDAS = (0.01, 0.03, 0.1, 0.3, 1.0)

PRESETS: dict[str, StudyConfig] = {
    # CPU default: a few thousand generated jets per class, the small teacher, the paper's two biases.
    "quick": StudyConfig(
        name="quick", data=DataSettings(jets_per_class=3000), model_preset="small",
        biases=(UNCONSTRAINED, SEAL_PAPER), seeds=(0, 1), epochs=12, batch_size=128,
    ),
    # Glowacki §3 / SPEC §5: paper-size teacher, 100 epochs, three seeds, λ ∈ {0, 0.1}, on GPUs. Pass the
    # hls4ml files with --data; generated jets otherwise (180k per class gives ~200k g-vs-W training jets).
    "paper": StudyConfig(
        name="paper", data=DataSettings(jets_per_class=180_000, chunk_size=2000), model_preset="paper",
        biases=(UNCONSTRAINED, SEAL_PAPER), seeds=(0, 1, 2), epochs=100, batch_size=256,
        resources=Resources(cpus_per_trial=4, gpus_per_trial=1.0, cpus_per_task=2),
        analyses=AnalysisSettings(hessian_jets=4096, hessian_batch_size=1024, lanczos_steps=60, eigen_restarts=2,
                                  trace_probes=100, probes_per_task=10, goldstone_jets=4096),
    ),
    # λ scan for SEAL and δSEAL (δSEAL by its exact reverse-mode method, ~10x cheaper than forward mode).
    "lambda-scan": StudyConfig(
        name="lambda-scan", data=DataSettings(jets_per_class=3000), model_preset="small",
        biases=(UNCONSTRAINED,) + tuple(Bias("teacher", "seal", lam) for lam in SCAN_LAMBDAS)
        + tuple(Bias("teacher", "dseal", lam, {"method": "grad"}) for lam in SCAN_LAMBDAS),
        seeds=(0, 1, 2), epochs=12, batch_size=128,
    ),
    # Architectural against soft biases: dual-subnet (learned symmetry factor) and hard-invariant.
    "dual": StudyConfig(
        name="dual", data=DataSettings(jets_per_class=3000), model_preset="small",
        biases=(UNCONSTRAINED, SEAL_PAPER, Bias("dual"), Bias("invariant")), seeds=(0, 1), epochs=12,
        batch_size=128,
    ),
    # The hyperparameter side: lr × λ for SEAL with ASHA early stopping.
    "asha": StudyConfig(
        name="asha", data=DataSettings(jets_per_class=3000), model_preset="small", seeds=(0,),
        epochs=12, batch_size=128, search=SearchSpace(num_samples=8, grace_period=2),
    ),
}

#: Sizes of the smoke test: enough to run every stage of the real path in seconds.
_SMOKE_TEACHER = {"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)}


def preset(name: str) -> StudyConfig:
    """The preset called ``name``; an unknown name is a ``ConfigError`` listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown study preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def smoke(config: StudyConfig) -> StudyConfig:
    """The same study shrunk to seconds: 40 jets per class, tiny models, 2 epochs, one seed."""
    search = config.search and dataclasses.replace(config.search, num_samples=2, grace_period=1)
    return dataclasses.replace(
        config,
        name=f"{config.name}-smoke",
        data=dataclasses.replace(config.data, jets_per_class=40, chunk_size=40),
        model_preset="small",
        model_options={"teacher": _SMOKE_TEACHER, "student": _SMOKE_TEACHER},
        seeds=config.seeds[:1],
        epochs=2,
        batch_size=32,
        resources=Resources(),
        search=search,
        analyses=dataclasses.replace(config.analyses, hessian_jets=48, hessian_batch_size=32, lanczos_steps=4,
                                     eigen_restarts=1, trace_probes=4, probes_per_task=2, goldstone_points=3,
                                     goldstone_jets=32, smearing_sigmas=(0.0, 0.2)),
    )
