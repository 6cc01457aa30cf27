"""Data (layer 1): the dataset registry and loaders (:mod:`.datasets`; your own files in :mod:`.tables` and
:mod:`.files`), the seeded split and probe roles (:mod:`.split`) and the standardisation of table features by D
(:mod:`.standardise`)."""

from .datasets import (
    DATASETS,
    FILE_KEYS,
    DataNotFoundError,
    DataOptions,
    Dataset,
    DatasetSource,
    downsampled_shape,
    load_configured,
    load_dataset,
)
from .files import load_image_folder, load_npz_dataset
from .split import POOL, ROLES, TEST, VALIDATION, Split, make_split, probe_test_rows, take_probes
from .standardise import standardise_by_train
from .tables import load_table, read_table, table_dataset

__all__ = [
    "DATASETS", "DataNotFoundError", "DataOptions", "Dataset", "DatasetSource", "FILE_KEYS", "POOL", "ROLES", "Split",
    "TEST", "VALIDATION", "downsampled_shape", "load_configured", "load_dataset", "load_image_folder",
    "load_npz_dataset", "load_table", "make_split", "probe_test_rows", "read_table", "standardise_by_train",
    "table_dataset", "take_probes",
]
