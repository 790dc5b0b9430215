"""Named studies: ``quick`` (the laptop default), ``paper`` (Glowacki §3 at full scale), ``seal-top`` (the
SEAL authors' ATLAS top-tagging experiment), a λ scan, the dual-subnet comparison and an ASHA
hyperparameter search; plus the smoke-test shrinking.

Each preset states only where it departs from the section defaults (the paper's recipe in
:class:`~raysym.training.config.TrainConfig`, the generator's in
:class:`~raysym.generate.config.GeneratorConfig`, ...).
"""

from __future__ import annotations

import dataclasses

from raysym.errors import ConfigError
from raysym.generate.config import GeneratorConfig
from raysym.models.transformer import REFERENCE_SETTINGS
from raysym.stages.analysis_settings import AnalysisSettings
from raysym.stages.distillation import DistillationSettings
from raysym.stages.evaluation import EvaluationSettings
from raysym.stages.jets import JetSettings
from raysym.stages.training import SearchSpace, TrainingSettings
from raysym.study.config import SEAL_PAPER, UNCONSTRAINED, StudyConfig
from raysym.training.config import Bias, TrainConfig
from raysym.training.distill import DistillConfig

SCAN_LAMBDAS = (0.01, 0.03, 0.1, 0.3, 1.0)

#: The laptop scale: 3,000 generated jets per class of the four classes the tasks need, in chunks of 500
#: (six per class, so two cores stay busy); the small teacher, 12 epochs, batches of 128.
_LAPTOP_JETS = JetSettings(generator=GeneratorConfig(jets_per_class=3000, classes=("g", "w", "z", "t"),
                                                     chunk_size=500))
_LAPTOP_RECIPE = TrainConfig(model_preset="small", epochs=12, batch_size=128)
#: Every teacher distilled into the small student, one student seed, 10 epochs at learning rate 0.003 (0.001
#: is still far from converged after 10 epochs on these teachers; 0.01 is noisy).
_LAPTOP_DISTILLATION = DistillationSettings(recipe=DistillConfig(model_preset="small", epochs=10, batch_size=128,
                                                                 lr=0.003))


def _laptop(name: str, **fields) -> StudyConfig:
    """A laptop study. Its transformers keep Δη against the jet's rapidity and no dropout, not the reference
    code's choices the paper study takes: measured at 3 seeds, switching moved no quantity resolvably (ROC-AUC,
    λ1, Tr(H), symmetry violation, both biases) while dropout slows the small teacher's SEAL training 1.55×,
    which at a fixed time budget costs seeds, what the verdicts lack most (bench/results/reference_choices.md,
    docs/methods.md §4). ``--jet-axis pseudorapidity --dropout 0.1`` gives the reference's choices."""
    return StudyConfig(name=name, **{"data": _LAPTOP_JETS, "recipe": _LAPTOP_RECIPE,
                                     "distillation": _LAPTOP_DISTILLATION, **fields})


PRESETS: dict[str, StudyConfig] = {
    # CPU default: the paper's two biases on the laptop scale, two seeds.
    "quick": _laptop("quick", seeds=(0, 1)),
    # Glowacki §3 (docs/methods.md §5): paper-size teacher, 100 epochs, three seeds, λ ∈ {0, 0.1}, on GPUs.
    # Pass the hls4ml files with --data; generated jets otherwise (180k per class gives ~200k g-vs-W
    # training jets).
    "paper": StudyConfig(
        name="paper",
        data=JetSettings(generator=GeneratorConfig(jets_per_class=180_000, classes=("g", "w", "z", "t"),
                                                   chunk_size=2000)),
        # Four trials share each GPU, with one CPU each, so a g5.xlarge worker of cluster.yaml (4 CPUs, one
        # 24 GB A10G) runs four at once and the six trials (two biases × three seeds) fit on two workers
        # in one wave, where one trial per GPU needed two waves on four. Why: the teacher (1.25M
        # parameters) at batch 256 launches kernels far too small to fill an A10G, so one trial alone is
        # bound by the one Python thread launching them and leaves the GPU mostly idle; four more CPUs do
        # not help that thread. Each trial keeps its own jets on the GPU (~0.2 GB), four copies fit.
        # Not yet measured on a GPU: bench/gpu_training.py compares 1, 2 and 4 trials per GPU.
        # Precision stays float32; bf16 (--precision bf16) is opt-in until measured there too.
        training=TrainingSettings(cpus_per_trial=1, gpus_per_trial=0.25),
        evaluation=EvaluationSettings(cpus_per_task=2),
        analyses=AnalysisSettings(hessian_jets=4096, hessian_batch_size=1024, lanczos_steps=60, eigen_restarts=2,
                                  trace_probes=100, probes_per_task=10, goldstone_jets=4096, spectrum_probes=2,
                                  cpus_per_task=2),
        # Over the trajectory (--checkpoints every:K) each kept checkpoint costs about what a best model's
        # analyses cost without the spectrum and the Goldstone scan: at most 2 × 60 Lanczos HVPs plus 100
        # trace probes on 4,096 jets (≈ 0.9M jet-HVPs), a smearing sweep, a symmetry scan and an evaluation.
        # Measured on this project's CPU: 7.1 ms per jet-HVP of the paper-size teacher, so ≈ 1.8 CPU-hours
        # per checkpoint. Not measured on a GPU; a projection, at the 10×–30× the training projection assumes
        # (bench/RESULTS.md): 4–11 GPU-minutes per checkpoint, so every:5 (20 checkpoints × 6 trials) adds
        # 7–21 GPU-hours to the analysis stage, fanned out over the cluster's GPUs (docs/methods.md §6.7).
        # The paper's 487,665-parameter student, three student seeds per teacher.
        distillation=DistillationSettings(student_seeds=(0, 1, 2)),
        # The reference code's choices for teacher and student: dropout 0.1 in the encoder, Δη against the
        # jet's pseudorapidity (docs/methods.md §4).
    ).with_transformer_settings(**REFERENCE_SETTINGS),
    # λ scan for SEAL and δSEAL (δSEAL by its exact reverse-mode method, ~10x cheaper than forward mode).
    "lambda-scan": _laptop(
        "lambda-scan",
        biases=(UNCONSTRAINED,) + tuple(Bias("teacher", "seal", lam) for lam in SCAN_LAMBDAS)
        + tuple(Bias("teacher", "dseal", lam, {"method": "grad"}) for lam in SCAN_LAMBDAS),
    ),
    # Architectural against soft biases: dual-subnet (learned symmetry factor) and hard-invariant.
    "dual": _laptop("dual", biases=(UNCONSTRAINED, SEAL_PAPER, Bias("dual"), Bias("invariant")), seeds=(0, 1)),
    # The trajectory on the CPU: the quick study's trials (the same trial ids, so a quick study's folder is
    # reused: its trials run once more to keep their epochs, bitwise the same path) with every 2nd epoch's
    # weights evaluated and analysed — λ1, Tr(H), smearing and symmetry violation along training. No
    # distillation: the point is the path, not the compressed endpoint.
    "trajectory": _laptop("trajectory", seeds=(0, 1), analyse_checkpoints="every:2",
                          distillation=DistillationSettings(enabled=False)),
    # The hyperparameter side: lr × λ for SEAL with ASHA early stopping.
    "asha": _laptop("asha", seeds=(0,), training=TrainingSettings(search=SearchSpace(num_samples=8, grace_period=2))),
}

#: The paper study's analysis sizes, for the GPU presets.
_GPU_ANALYSES = PRESETS["paper"].analyses

#: The SEAL authors' own experiment (Hebbar et al. 2025, arXiv:2511.01982; their public code's
#: paper/top_tagging/train_transformer_top_multinode_SEAL.py): the ATLAS Top Tagging Open Data (pass the
#: files with --data; they cannot be generated), its per-jet training weights in the loss and the ROC, the
#: 1,255,425-parameter transformer with dropout 0.1 and Δη against the jet's pseudorapidity, Adam at 5e-4
#: without weight decay, 100 epochs keeping the best validation loss, boosts up to β² = 0.95 (raysym's). The
#: code runs 256 jets per GPU on 4 GPUs (1,024 per step): one trial here takes 1,024 per step on its GPU. It
#: states no λ and no seeds: Glowacki's λ = 0.1 for SEAL and δSEAL, three seeds. Every other choice, and
#: where raysym differs (32 constituents not 120, features against the constituents' sum, no gradient
#: clipping, no patience), is listed in docs/methods.md §1.6.
PRESETS["seal-top"] = StudyConfig(
    name="seal-top",
    data=JetSettings(dataset="atlas-top"),
    recipe=TrainConfig(task="top_vs_qcd", lr=5e-4, weight_decay=0.0, epochs=100, batch_size=1024),
    biases=(UNCONSTRAINED, SEAL_PAPER, Bias("teacher", "dseal", 0.1, {"method": "grad"})),
    seeds=(0, 1, 2),
    training=TrainingSettings(cpus_per_trial=1, gpus_per_trial=0.25),
    evaluation=EvaluationSettings(tasks=("top_vs_qcd",), cpus_per_task=2),
    analyses=_GPU_ANALYSES,
    distillation=DistillationSettings(student_seeds=(0, 1, 2)),
).with_transformer_settings(**REFERENCE_SETTINGS)

#: Sizes of the smoke test: enough to run every stage of the real path in seconds.
_SMOKE_TEACHER = {"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)}


def preset(name: str) -> StudyConfig:
    """The preset called ``name``; an unknown name is a ``ConfigError`` listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown study preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def smoke(config: StudyConfig) -> StudyConfig:
    """The same study shrunk to seconds: 40 jets per class, tiny models, 2 epochs, one seed (and one student
    seed), one CPU each. It keeps what makes the study what it is — its biases, its data set, its search —
    and a study of the trajectory (``every:K``) trains 2K epochs, so that two kept epochs make a path."""
    search = config.training.search and dataclasses.replace(config.training.search, num_samples=2, grace_period=1)
    every = config.checkpoints.every
    return config.with_overrides(
        name=f"{config.name}-smoke",
        data={"generator": {"jets_per_class": 40, "chunk_size": 40}},
        recipe={"model_preset": "small", "epochs": 2 * every if every else 2, "batch_size": 32},
        model_options={**config.model_options,  # sizes shrink; other settings (dropout, jet axis) stay
                       "teacher": {**config.model_options.get("teacher", {}), **_SMOKE_TEACHER},
                       "student": {**config.model_options.get("student", {}), **_SMOKE_TEACHER}},
        seeds=config.seeds[:1],
        training=dataclasses.replace(config.training, cpus_per_trial=1.0, gpus_per_trial=0.0, search=search),
        evaluation={"cpus_per_task": 1},
        analyses=dict(hessian_jets=48, hessian_batch_size=32, lanczos_steps=4, eigen_restarts=1, trace_probes=4,
                      probes_per_task=2, goldstone_points=3, goldstone_jets=32, smearing_sigmas=(0.0, 0.2),
                      symmetry_jets=32, symmetry_transforms=2, cpus_per_task=1),
        distillation={"student_seeds": config.distillation.student_seeds[:1],
                      "recipe": {"model_preset": "small", "epochs": 2, "batch_size": 32}},
    )
