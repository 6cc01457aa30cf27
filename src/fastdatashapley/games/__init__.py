"""Games and their estimators: coalitions, designs, utilities, stopping rules, the permutation walk, and one module
per Shapley estimator (layer 2, above ``base`` and ``data``; it knows nothing of the engine that retrains).

A *utility* maps ``masks: bool [k, n]`` to ``float [k]`` or ``[k, *out]`` (:mod:`.utility`). Every estimator
broadcasts over ``*out``, evaluates the utility in calls of at most ``batch_size`` masks, is reproducible under
``seed`` and returns float64 values ``[n, *out]`` that satisfy efficiency (they sum to
``utility(all) - utility(none)``) up to the estimator's own error:

* :func:`exact` (full enumeration), :func:`kernel` and :func:`kernel_from_samples` (KernelSHAP), :func:`loo`;
* :func:`tmc` (+ :func:`tmc_sequential`, the plain reference), with :class:`Truncation` and the stop rules
  :class:`MaxPermutations` and :class:`RelativeChange`, which combine with ``|`` and ``&``;
* :func:`group_testing` (+ :func:`group_testing_lp`), :func:`group_level` (GFDS+), :func:`gfds_group` and
  :func:`gfds` (GFDS), :func:`class_wise` (CS-Shapley);
* :func:`freeshap_values` and :func:`freeshap_values_global` (TMC over kernel ridge regression on an eNTK).
"""

from .estimators.class_wise import class_wise
from .estimators.exact import exact
from .estimators.freeshap import FreeShapSettings, freeshap_values, freeshap_values_global
from .estimators.group_testing import group_testing, group_testing_lp, group_testing_sizes
from .estimators.groups import gfds, gfds_group, group_level
from .estimators.kernel import KernelInfo, kernel, kernel_from_samples
from .estimators.loo import loo
from .estimators.tmc import tmc, tmc_sequential
from .result import ValuationResult
from .stopping import MaxPermutations, RelativeChange, StopRule, Truncation
from .utility import Utility, evaluate

__all__ = [
    "FreeShapSettings", "KernelInfo", "MaxPermutations", "RelativeChange", "StopRule", "Truncation", "Utility",
    "ValuationResult", "class_wise", "evaluate", "exact", "freeshap_values", "freeshap_values_global", "gfds",
    "gfds_group", "group_level", "group_testing", "group_testing_lp", "group_testing_sizes", "kernel",
    "kernel_from_samples", "loo", "tmc", "tmc_sequential",
]
