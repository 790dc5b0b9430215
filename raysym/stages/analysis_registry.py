"""The analyses every study runs, registered in this order (:mod:`raysym.stages.analysis_spec`).

Adding an analysis: write its module (a spec and its ``register_analysis`` call) and import it here.
"""

# isort: off
from raysym.stages import analysis_hessian  # noqa: F401
from raysym.stages import analysis_spectrum  # noqa: F401
from raysym.stages import analysis_goldstone  # noqa: F401
from raysym.stages import analysis_smearing  # noqa: F401
from raysym.stages import analysis_symmetry  # noqa: F401
# isort: on
from raysym.stages.analysis_spec import analysis, analysis_key, analysis_keys, check_options, registered  # noqa: F401
