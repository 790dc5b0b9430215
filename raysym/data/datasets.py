"""The data sets raysym reads, registered by the modules that declare them (one import each, in the order
``--dataset`` lists them); import this module to have them all."""

# isort: off
from raysym.data import dataset_hls4ml  # noqa: F401
from raysym.data import dataset_toptag  # noqa: F401
from raysym.data import dataset_atlas_top  # noqa: F401
from raysym.data import dataset_jetclass  # noqa: F401
# isort: on
from raysym.data.dataset_spec import dataset, registered_datasets  # noqa: F401
