"""raysym: how soft-symmetry inductive biases change what a jet tagger learns, run on Ray.

The layout follows the data, and every import points down it: base modules (physics in
``raysym.kinematics``, ``raysym.lorentz``, ``raysym.features``, ``raysym.smearing``; ``raysym.batch``,
``raysym.metrics``, the result store, the Ray session and fan-out) -> jets (``raysym.data``,
``raysym.generate``) -> models and losses (``raysym.models``, ``raysym.penalties``) -> one training run
(``raysym.training``) and the diagnostics (``raysym.hessian``, ``raysym.analyses``) -> the stages of a
study (``raysym.stages``) -> the study (``raysym.study``) -> ``studies/``. The methods are described in
``docs/methods.md``.
"""

__version__ = "0.1.0"
