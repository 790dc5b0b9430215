"""What each preset costs, as ``studies/full.py --help`` tells a user before they start one.

A preset's name says what it studies, not what it costs; a physicist choosing one wants to know whether it
ends over a coffee or over a weekend, here and on the cluster. The numbers are measured, each with where it
was measured (``bench/results/``): the laptop presets whole on this project's 2-core machine, the GPU presets
projected from measured training throughput, since they cannot run on 2 cores in reasonable time. A
projection says so. A test checks that every preset has an entry, so a new preset must say what it costs.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class PresetCost:
    """Wall time of a whole study from an empty folder on 2 CPU cores, and on cluster.yaml's workers."""

    two_cores: str
    cluster: str
    source: str


#: bench/results/preset_costs.md (laptop presets), bench/results/quick_study.md, bench/results/trajectory.md
#: and bench/results/cluster.md (the paper preset's training projection).
PRESET_COSTS: dict[str, PresetCost] = {
    "quick": PresetCost("4.6 min measured", "2.2 min projected", "bench/results/quick_study.md"),
    "trajectory": PresetCost("9.8 min measured", "1.9 min projected", "bench/results/trajectory.md"),
    "dual": PresetCost("11.0 min measured", "2.9 min projected", "bench/results/preset_costs.md"),
    "asha": PresetCost("6.8 min measured", "1.9 min projected", "bench/results/preset_costs.md"),
    "lambda-scan": PresetCost("76 min measured on a busy machine (an upper bound: other work ran beside it)",
                              "about 10 min projected (33 trials over the cluster's 16 CPUs)",
                              "bench/results/preset_costs.md"),
    "paper": PresetCost("about 167 h of training alone, projected (not for 2 cores)",
                        "3.9 h and $6.35 projected at a 10x GPU speed-up (39 h, $64 at none; training only)",
                        "bench/results/cluster.md"),
    "seal-top": PresetCost("not for 2 cores (the paper-size teacher, 9 trials of 100 epochs)",
                           "scales with the ATLAS files given: the paper preset's per-jet cost, 9 trials not 6",
                           "bench/results/cluster.md"),
}


def cost_lines(names, width: int = 100) -> list[str]:
    """Per preset with a known cost: its name, its cost on 2 cores and on the cluster, and where the numbers
    come from, wrapped to ``width`` (the ``--help`` epilog)."""
    lines = []
    for name in sorted(names):
        cost = PRESET_COSTS.get(name)
        if cost is None:
            continue
        for label, text in (("2 cores:", cost.two_cores), ("cluster:", f"{cost.cluster} (cluster.yaml)"),
                            ("from:", cost.source)):
            first = f"  {name if label == '2 cores:' else '':<12} {label:<9}"
            lines += textwrap.wrap(text, width, initial_indent=first, subsequent_indent=" " * len(first))
    return lines
