"""Data (layer 1): the dataset registry and loaders (:mod:`.datasets`) and the seeded split and probe roles
(:mod:`.split`)."""

from .datasets import (
    DATASETS,
    DataNotFoundError,
    DataOptions,
    Dataset,
    DatasetSource,
    downsampled_shape,
    load_configured,
    load_dataset,
)
from .split import POOL, ROLES, TEST, VALIDATION, Split, make_split, probe_test_rows, take_probes

__all__ = [
    "DATASETS", "DataNotFoundError", "DataOptions", "Dataset", "DatasetSource", "POOL", "ROLES", "Split", "TEST",
    "VALIDATION", "downsampled_shape", "load_configured", "load_dataset", "make_split", "probe_test_rows",
    "take_probes",
]
