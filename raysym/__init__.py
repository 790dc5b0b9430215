"""raysym: how soft-symmetry inductive biases change what a jet tagger learns, run on Ray.

The layout follows the data: jets (``raysym.data``, ``raysym.generate``) -> physics
(``raysym.kinematics``, ``raysym.lorentz``, ``raysym.features``, ``raysym.smearing``) -> models and
losses -> training -> Tune stages -> analyses -> result store -> figures.
"""

__version__ = "0.1.0"
